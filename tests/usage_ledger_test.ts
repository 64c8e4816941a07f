import assert from "node:assert/strict";
import { calcPrice } from "@pydantic/genai-prices";
import {
  createFakeUpstream,
  DIALECTS,
  serveFake,
  textReply,
  usageChunk,
} from "../bench/fake_upstream.ts";
import { createHandler } from "../lib/server/handler.ts";
import { silentLogger } from "../lib/server/log.ts";
import { dayOf, Ledger } from "../lib/usage/ledger.ts";
import { priceNanos } from "../lib/usage/prices.ts";
import { noUsage, type UsageRecord } from "../lib/usage/record.ts";
import { UsageTracker } from "../lib/usage/tracker.ts";
import { startMain, testConfig } from "./helpers.ts";
import { tempLedger, usageRecord } from "./usage_fixtures.ts";

const DAY = 86_400_000;

function record(overrides: Partial<UsageRecord> = {}): UsageRecord {
  return usageRecord({
    time: Date.parse("2026-11-20T10:00:00Z"),
    latencyMs: 120,
    usage: { ...noUsage(), input_tokens: 1000, output_tokens: 100 },
    costUsd: 0.0028,
    ...overrides,
  });
}

Deno.test("priceNanos() prices tokens, cache and searches with the catalog's bundled data", async (t) => {
  const realFetch = globalThis.fetch;
  globalThis.fetch = () => Promise.reject(new Error("the price catalog must not fetch"));
  try {
    await t.step("uncached input, cache reads and writes at their own rates", async () => {
      const usage = {
        input_tokens: 1200,
        output_tokens: 345,
        cache_read_input_tokens: 5000,
        cache_creation_input_tokens: 700,
        web_search_requests: 2,
      };
      const nanos = await priceNanos({ provider: "anthropic", model: "claude-sonnet-4-5", usage });
      const expected = calcPrice(
        {
          input_tokens: 6900,
          output_tokens: 345,
          cache_read_tokens: 5000,
          cache_write_tokens: 700,
          web_searches: 2,
        },
        "claude-sonnet-4-5",
        { providerId: "anthropic" },
      )!.total_price;
      assert.equal(nanos, Math.round(expected * 1e9));
      // $3/M input, $0.30/M cache read, $3.75/M cache write, $15/M output, $10 per 1000 searches.
      assert.equal(nanos, 1200 * 3000 + 5000 * 300 + 700 * 3750 + 345 * 15000 + 2 * 10_000_000);
    });
    await t.step("OpenAI and Gemini models by their catalog provider", async () => {
      const usage = { ...noUsage(), input_tokens: 1_000_000, output_tokens: 1_000_000 };
      assert.equal(await priceNanos({ provider: "openai", model: "gpt-4.1", usage }), 10e9);
      assert.equal(
        await priceNanos({ provider: "google", model: "gemini-2.5-flash", usage }),
        Math.round(
          calcPrice(
            { input_tokens: 1e6, output_tokens: 1e6 },
            "gemini-2.5-flash",
            { providerId: "google" },
          )!.total_price * 1e9,
        ),
      );
    });
    await t.step("an Azure deployment is priced as the model it runs", async () => {
      const usage = { ...noUsage(), input_tokens: 1_000_000 };
      const azureModels = { "team-big": "gpt-4.1-mini" };
      assert.equal(
        await priceNanos({ provider: "azure", model: "team-big", usage, azureModels }),
        0.4e9,
      );
      assert.equal(await priceNanos({ provider: "azure", model: "team-big", usage }), null);
    });
    await t.step("an unknown model costs null, not 0; a local answer costs 0", async () => {
      const usage = { ...noUsage(), input_tokens: 10 };
      assert.equal(await priceNanos({ provider: "openai", model: "my-llama", usage }), null);
      assert.equal(await priceNanos({ provider: "local", model: "", usage }), 0);
    });
  } finally {
    globalThis.fetch = realFetch;
  }
});

Deno.test("priceNanos() gives the catalog's price on a model's first request and every later one", async () => {
  const cases: Array<[string, string, string]> = [
    ["openai", "openai", "gpt-4.1"],
    ["openai", "openai", "gpt-4.1-mini"],
    ["openai", "openai", "gpt-5"],
    ["openai", "openai", "o3"],
    ["anthropic", "anthropic", "claude-sonnet-4-5"],
    ["anthropic", "anthropic", "claude-opus-4-1"],
    ["google", "google", "gemini-2.5-flash"],
    ["google", "google", "gemini-2.5-pro"],
  ];
  const usages = [
    { ...noUsage(), input_tokens: 1234, output_tokens: 567 },
    { ...noUsage(), input_tokens: 10, output_tokens: 1, cache_read_input_tokens: 250_000 },
    { ...noUsage(), input_tokens: 300_000, output_tokens: 9000, cache_creation_input_tokens: 4000 },
    { ...noUsage(), input_tokens: 50, output_tokens: 70, web_search_requests: 3 },
  ];
  for (const [provider, providerId, model] of cases) {
    for (const usage of usages) {
      const expected = calcPrice(
        {
          input_tokens: usage.input_tokens + usage.cache_read_input_tokens +
            usage.cache_creation_input_tokens,
          output_tokens: usage.output_tokens,
          cache_read_tokens: usage.cache_read_input_tokens || undefined,
          cache_write_tokens: usage.cache_creation_input_tokens || undefined,
          web_searches: usage.web_search_requests || undefined,
        },
        model,
        { providerId },
      );
      for (const round of ["first", "later"]) {
        const nanos = await priceNanos({ provider, model, usage });
        if (expected === null) assert.equal(nanos, null);
        else {
          assert.ok(
            Math.abs(nanos! - expected.total_price * 1e9) <= 1,
            `${model} ${JSON.stringify(usage)} (${round}): ${nanos} ≠ ${
              expected.total_price * 1e9
            }`,
          );
        }
      }
    }
  }
});

Deno.test("Ledger keeps records and exact per-day × key × model totals", async () => {
  const { ledger } = await tempLedger();
  try {
    const t0 = Date.parse("2026-11-20T10:00:00Z");
    ledger.record(record({ time: t0, costUsd: 0.1 }));
    ledger.record(record({ time: t0 + 1, costUsd: 0.2 }));
    ledger.record(record({ time: t0 + 2, key: "bob", costUsd: null, backendModel: "my-llama" }));
    ledger.record(record({ time: t0 + DAY, status: 429, errorType: "rate_limit_error" }));
    await ledger.flush();
    assert.equal(ledger.written, 4);
    const rows = await ledger.totals("2026-11-20", "2026-11-20");
    const alice = rows.find((r) => r.key === "alice")!;
    assert.equal(alice.counts.requests, 2);
    assert.equal(alice.counts.input_tokens, 2000);
    assert.equal(alice.counts.cost_nanos, 300_000_000, "0.1 + 0.2 is exactly 0.3 here");
    const bob = rows.find((r) => r.key === "bob")!;
    assert.deepEqual([bob.model, bob.counts.unpriced, bob.counts.cost_nanos], ["my-llama", 1, 0]);
    const next = await ledger.totals("2026-11-21", "2026-11-21", "s1");
    assert.deepEqual([next.length, next[0].counts.errors], [1, 1]);
    assert.deepEqual(await ledger.totals("2026-11-20", "2026-11-21", "other"), []);
    const records = await ledger.records(t0, t0 + 2 * DAY, { reverse: true });
    assert.deepEqual(records.map((r) => r.time), [t0 + DAY, t0 + 2, t0 + 1, t0]);
    assert.deepEqual(await ledger.spent("alice", t0), { day: 0.3, month: 0.3 + 0.0028 });
  } finally {
    await ledger.close();
  }
});

Deno.test("Ledger splits a batch of many distinct rows to stay within KV's limits", async () => {
  const { ledger } = await tempLedger();
  try {
    for (let i = 0; i < 300; i++) ledger.record(record({ session: `s${i}`, key: `k${i % 40}` }));
    await ledger.flush();
    assert.deepEqual([ledger.written, ledger.failures], [300, 0]);
    const rows = await ledger.totals("2026-11-20", "2026-11-20");
    assert.equal(rows.length, 300);
    assert.equal(rows.reduce((n, r) => n + r.counts.requests, 0), 300);
  } finally {
    await ledger.close();
  }
});

Deno.test("Ledger.sweep() deletes totals older than the retention", async () => {
  const { ledger } = await tempLedger({ retentionDays: 30 });
  try {
    const now = Date.parse("2026-11-29T12:00:00Z");
    ledger.record(record({ time: now - 40 * DAY }));
    ledger.record(record({ time: now - 2 * DAY }));
    await ledger.flush();
    assert.ok(await ledger.sweep(now) > 0);
    const rows = await ledger.totals(dayOf(now - 60 * DAY), dayOf(now));
    assert.deepEqual(rows.map((r) => r.day), [dayOf(now - 2 * DAY)]);
    assert.equal((await ledger.spent("alice", now - 40 * DAY)).day, 0);
  } finally {
    await ledger.close();
  }
});

Deno.test("a ledger that cannot write logs and counts the failure; the answer still succeeds", async () => {
  const { ledger, path } = await tempLedger();
  const lines: string[] = [];
  // A second handle on the file, closed: every write through it fails.
  const closed = await Deno.openKv(path);
  closed.close();
  const broken = new Ledger(closed, { log: { info: (l) => lines.push(l) } });
  const usage = new UsageTracker({ ledger: broken, log: { info: (l) => lines.push(l) } });
  const upstream = createFakeUpstream([textReply(["hi"])]);
  const handler = createHandler(testConfig(), {
    fetch: upstream.fetch,
    logger: silentLogger,
    usage,
  });
  try {
    const response = await handler(
      new Request("http://localhost/v1/messages", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          model: "claude-opus-5-5",
          max_tokens: 50,
          messages: [{ role: "user", content: "hi" }],
        }),
      }),
    );
    assert.equal(response.status, 200);
    await response.json();
    await usage.settled();
    assert.equal(broken.failures, 1);
    assert.match(lines.join("\n"), /usage ledger: 1 record\(s\) not written/);
  } finally {
    await ledger.close();
  }
});

Deno.test("every /v1/messages and count_tokens request ends as one priced ledger record", async () => {
  const { ledger } = await tempLedger();
  const usage = new UsageTracker({ ledger });
  const upstream = createFakeUpstream([
    { chunks: [...textReply(["Hel", "lo"]).chunks!.slice(0, -1), usageChunk(1200, 34, 200)] },
    textReply(["plain"], { prompt: 12, completion: 5 }),
    { status: 400, error: { error: { message: "bad thing" } } },
  ]);
  const handler = createHandler(testConfig(), {
    fetch: upstream.fetch,
    logger: silentLogger,
    usage,
  });
  const post = async (path: string, body: unknown) => {
    const response = await handler(
      new Request(`http://localhost${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-claude-code-session-id": "sess-42" },
        body: JSON.stringify(body),
      }),
    );
    await response.text();
    return response;
  };
  try {
    const streamed = await post("/v1/messages", {
      model: "claude-opus-5-5",
      max_tokens: 50,
      stream: true,
      messages: [{ role: "user", content: "hi" }],
    });
    await post("/v1/messages", {
      model: "claude-haiku-4-5",
      max_tokens: 50,
      messages: [{ role: "user", content: "hi" }],
    });
    await post("/v1/messages", {
      model: "claude-opus-5-5",
      max_tokens: 50,
      messages: [{ role: "user", content: "hi" }],
    });
    await post("/v1/messages/count_tokens", {
      model: "claude-opus-5-5",
      messages: [{ role: "user", content: "hi" }],
    });
    await post("/v1/messages", { model: "claude-opus-5-5", messages: "not a list" });
    await usage.settled();
    const records = await ledger.records(0, Date.now() + 1000);
    assert.equal(records.length, 5);
    const [stream, sync, failed, count, invalid] = records;
    assert.equal(stream.requestId, streamed.headers.get("request-id"));
    assert.deepEqual(
      [stream.session, stream.key, stream.provider, stream.backendModel, stream.stream],
      ["sess-42", "anonymous", "openai", "gpt-4.1", true],
    );
    // OpenAI's prompt_tokens include the 200 cached: 1000 uncached + 200 read.
    assert.deepEqual(stream.usage, {
      input_tokens: 1000,
      output_tokens: 34,
      cache_read_input_tokens: 200,
      cache_creation_input_tokens: 0,
      web_search_requests: 0,
    });
    assert.equal(stream.costUsd, (1000 * 2000 + 200 * 500 + 34 * 8000) / 1e9);
    assert.ok(stream.ttftMs !== undefined && stream.ttftMs <= stream.latencyMs);
    assert.deepEqual([sync.backendModel, sync.stream, sync.status], ["gpt-4.1-mini", false, 200]);
    assert.equal(sync.costUsd, (12 * 400 + 5 * 1600) / 1e9);
    assert.deepEqual([failed.status, failed.errorType, failed.costUsd], [
      400,
      "invalid_request_error",
      0,
    ]);
    assert.deepEqual([count.endpoint, count.costUsd], ["count_tokens", 0]);
    assert.deepEqual([invalid.status, invalid.model], [400, ""]);
    const [row] = (await ledger.totals(dayOf(Date.now()), dayOf(Date.now()), "sess-42"))
      .filter((r) => r.model === "gpt-4.1");
    assert.equal(row.counts.requests, 3);
    assert.equal(row.counts.errors, 1);
    assert.equal(row.counts.cost_nanos, 1000 * 2000 + 200 * 500 + 34 * 8000);
  } finally {
    await ledger.close();
  }
});

Deno.test("an Azure deployment's requests are priced as the model AZURE_DEPLOYMENT_MODELS names", async () => {
  const { ledger } = await tempLedger();
  const usage = new UsageTracker({ ledger, azureModels: { "team-big": "gpt-4.1-mini" } });
  const upstream = createFakeUpstream([
    DIALECTS.azure.text(["hi"], { prompt: 1000, completion: 100 }),
  ]);
  const config = testConfig({
    PREFERRED_PROVIDER: "azure",
    AZURE_OPENAI_API_KEY: "az-test-key-0001",
    AZURE_OPENAI_ENDPOINT: "https://example-resource.openai.azure.com",
    AZURE_DEPLOYMENT_MODELS: "team-big=gpt-4.1-mini",
    BIG_MODEL: "team-big",
  });
  const handler = createHandler(config, { fetch: upstream.fetch, logger: silentLogger, usage });
  try {
    const response = await handler(
      new Request("http://localhost/v1/messages", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          model: "claude-opus-5-5",
          max_tokens: 50,
          messages: [{ role: "user", content: "hi" }],
        }),
      }),
    );
    assert.equal(response.status, 200);
    await response.json();
    await usage.settled();
    const [record] = await ledger.records(0, Date.now() + 1000);
    assert.deepEqual([record.provider, record.backendModel], ["azure", "team-big"]);
    // gpt-4.1-mini: $0.40/M input, $1.60/M output.
    assert.equal(record.costUsd, (1000 * 400 + 100 * 1600) / 1e9);
    assert.equal(typeof record.route, "string", "the routing rule is recorded");
  } finally {
    await ledger.close();
  }
});

Deno.test("two ccproxy processes on one KV file keep one ledger with exact totals", async () => {
  const dir = await Deno.makeTempDir();
  const db = `${dir}/shared-usage`;
  const fake = serveFake(
    createFakeUpstream(() => textReply(["ok"], { prompt: 100, completion: 7 })),
  );
  const env = {
    OPENAI_API_KEY: "sk-two",
    OPENAI_BASE_URL: `${fake.url}/v1`,
    OPENAI_API_MODE: "chat",
    USAGE_DB: db,
  };
  const [a, b] = await Promise.all([startMain(env), startMain(env)]);
  const perProcess = 40;
  try {
    const send = (url: string, i: number) =>
      fetch(`${url}/v1/messages`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-claude-code-session-id": `s${i % 3}` },
        body: JSON.stringify({
          model: "claude-opus-5-5",
          max_tokens: 10,
          stream: i % 2 === 0,
          messages: [{ role: "user", content: "hi" }],
        }),
      }).then((r) => r.text());
    await Promise.all(
      Array.from({ length: perProcess }, (_, i) => [send(a.url, i), send(b.url, i)]).flat(),
    );
  } finally {
    assert.equal((await a.stop()).success, true);
    assert.equal((await b.stop()).success, true);
    await fake.close();
  }
  const ledger = await Ledger.open(db);
  try {
    const today = dayOf(Date.now());
    const rows = await ledger.totals(dayOf(Date.now() - DAY), today);
    const sum = (c: "requests" | "input_tokens" | "output_tokens" | "cost_nanos") =>
      rows.reduce((n, r) => n + r.counts[c], 0);
    assert.equal(sum("requests"), 2 * perProcess);
    assert.equal(sum("input_tokens"), 2 * perProcess * 100);
    assert.equal(sum("output_tokens"), 2 * perProcess * 7);
    assert.equal(sum("cost_nanos"), 2 * perProcess * (100 * 2000 + 7 * 8000));
    assert.equal(rows.length, 3, "one row per session");
    const records = await ledger.records(0, Date.now() + DAY);
    assert.equal(records.length, 2 * perProcess);
    assert.equal(new Set(records.map((r) => r.requestId)).size, 2 * perProcess);
  } finally {
    await ledger.close();
  }
});
