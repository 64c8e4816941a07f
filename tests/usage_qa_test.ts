/**
 * Usage ledger, budgets, `/v1/usage` and dashboard behaviours found by QA (findings F3–F29):
 * each test names its finding and fails without its fix.
 */
import assert from "node:assert/strict";
import { createFakeUpstream, textReply } from "../bench/fake_upstream.ts";
import { DashboardFeed } from "../lib/dashboard/feed.ts";
import { health, totals } from "../lib/dashboard/stats.ts";
import { createHandler } from "../lib/server/handler.ts";
import { silentLogger } from "../lib/server/log.ts";
import { testConfig } from "./helpers.ts";
import { usdTicks } from "../lib/dashboard/ticks.js";
import { Ledger } from "../lib/usage/ledger.ts";
import type { UsageRecord } from "../lib/usage/record.ts";
import { parseQuery, summarize } from "../lib/usage/summary.ts";
import { ProxyError } from "../lib/anthropic/errors.ts";
import { UsageTracker } from "../lib/usage/tracker.ts";
import { tempLedger, usageRecord } from "./usage_fixtures.ts";

Deno.test("F17: records stored one per value (before the upgrade) still show on the dashboard", async () => {
  const { path, ledger } = await tempLedger();
  const old = usageRecord({ time: Date.now() - 60_000, requestId: "req_old" });
  // The earlier format: one record per value, with the same totals sums.
  const kv = await Deno.openKv(path);
  await kv.set(["ccproxy", "r", old.time, old.requestId], old);
  kv.close();
  ledger.record(usageRecord({ requestId: "req_new" }));
  await ledger.flush();
  try {
    const records = await ledger.records(0, Date.now() + 1000);
    assert.deepEqual(records.map((r) => r.requestId), ["req_old", "req_new"]);
    assert.equal(
      (await ledger.records(0, Date.now() + 1000, { reverse: true }))[1].requestId,
      "req_old",
    );
    const usage = new UsageTracker({ ledger });
    const feed = new DashboardFeed({ usage, routes: () => [], version: "test" });
    const snapshot = await feed.snapshot();
    assert.deepEqual(
      (snapshot.recent as UsageRecord[]).map((r) => r.requestId),
      ["req_new", "req_old"],
    );
  } finally {
    await ledger.close();
  }
  // The newest value in the older format is still the summary's `last`.
  const kv2 = await Deno.openKv(path);
  await kv2.set(
    ["ccproxy", "r", Date.now() + 5000, "req_last"],
    usageRecord({ requestId: "req_last" }),
  );
  kv2.close();
  const again = await Ledger.open(path);
  try {
    assert.equal((await again.last())?.requestId, "req_last");
  } finally {
    await again.close();
  }
});

Deno.test("F5: a model name of 3000 characters is recorded (shortened, hashed), not lost", async () => {
  const { ledger } = await tempLedger();
  try {
    const long = "m".repeat(3000);
    ledger.record(usageRecord({ model: `openai/${long}`, backendModel: long }));
    ledger.record(usageRecord({ model: `openai/${long}x`, backendModel: `${long}x` }));
    await ledger.flush();
    assert.deepEqual([ledger.written, ledger.failures], [2, 0]);
    const day = new Date().toISOString().slice(0, 10);
    const summary = await summarize(ledger, { from: day, to: day, groupBy: "model" });
    assert.equal(summary.totals.requests, 2);
    assert.equal(summary.groups.length, 2, "two long names that share a start stay apart");
    assert.ok(summary.groups.every((g) => g.group.length < 220));
  } finally {
    await ledger.close();
  }
});

Deno.test("F21: /v1/usage refuses impossible days and a from after to in every form", () => {
  const now = Date.parse("2026-11-29T15:00:00Z");
  const refused = (query: string) =>
    assert.throws(
      () => parseQuery(new URLSearchParams(query), { now }),
      (e: unknown) => e instanceof ProxyError && e.status === 400,
      query,
    );
  refused("from=2026-02-30");
  refused("from=2026-02-29");
  refused("to=2026-13-01");
  refused("from=2026-04-31T10:00:00Z");
  refused("from=+275760-09-13");
  refused("from=%2B275760-09-13");
  refused("to=-000001-01-01");
  refused("from=2026-11-30&to=2026-11-28");
  refused("from=2026-11-30T00:00:00Z&to=2026-11-29T23:59:59Z");
  assert.equal(
    parseQuery(new URLSearchParams("from=2028-02-29&to=2028-03-01"), { now }).from,
    "2028-02-29",
  );
  assert.equal(
    parseQuery(new URLSearchParams("from=2026-11-01T23:00:00-02:00"), { now }).from,
    "2026-11-02",
  );
});

Deno.test("F3: a client's cancel (499) is counted as cancelled, not as a provider error", async () => {
  const now = Date.now();
  const records = [
    usageRecord({ time: now - 1000 }),
    usageRecord({ time: now - 500, status: 499 }),
    usageRecord({
      time: now - 400,
      status: 529,
      errorType: "overloaded_error",
      provider: "google",
    }),
  ];
  const openai = health(records, now).find((h) => h.provider === "openai")!;
  assert.deepEqual([openai.requests, openai.error_rate, openai.cancelled, openai.last_error], [
    2,
    0,
    1,
    null,
  ]);
  const model = totals(records, now).today.model.find((g) => g.group === "openai/gpt-4.1")!;
  assert.deepEqual([model.error_rate, model.cancelled], [0, 1]);
  const { ledger } = await tempLedger();
  try {
    for (const r of records) ledger.record(r);
    await ledger.flush();
    const day = new Date(now).toISOString().slice(0, 10);
    const summary = await summarize(ledger, { from: day, to: day });
    assert.deepEqual([summary.totals.errors, summary.totals.cancelled], [1, 1]);
  } finally {
    await ledger.close();
  }
});

Deno.test("F4: requests refused before routing are a free 'rejected' group, not '/' and unknown", async () => {
  const usage = new UsageTracker();
  const ended: UsageRecord[] = [];
  usage.listen((e) => e.type === "end" && ended.push(e.record));
  const handler = createHandler(testConfig(), { logger: silentLogger, usage });
  for (const body of ["", "null", JSON.stringify({ model: "", messages: [] })]) {
    const response = await handler(
      new Request("http://127.0.0.1/v1/messages", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      }),
    );
    assert.equal(response.status, 400);
    await response.body?.cancel();
  }
  await usage.settled();
  assert.equal(ended.length, 3);
  assert.deepEqual(ended.map((r) => [r.provider, r.costUsd]), [
    ["rejected", 0],
    ["rejected", 0],
    ["rejected", 0],
  ]);
  const groups = totals(ended, Date.now()).today.model;
  assert.deepEqual(groups.map((g) => [g.group, g.requests, g.unpriced, g.cost_usd]), [
    ["rejected", 3, 0, 0],
  ]);
  assert.deepEqual(health(ended, Date.now()), [], "no provider's health is touched");
});

Deno.test("F29: the chart's USD axis labels keep enough digits to stay distinct", () => {
  assert.deepEqual(usdTicks([0, 0.0002, 0.0004, 0.0006, 0.0008, 0.001]), [
    "$0.0000",
    "$0.0002",
    "$0.0004",
    "$0.0006",
    "$0.0008",
    "$0.0010",
  ]);
  assert.deepEqual(usdTicks([0, 0.5, 1, 1.5]), ["$0.0", "$0.5", "$1.0", "$1.5"]);
  assert.deepEqual(usdTicks([0, 20, 40]), ["$0", "$20", "$40"]);
  assert.deepEqual(usdTicks([0.1, 0.2, 0.30000000000000004]), ["$0.1", "$0.2", "$0.3"]);
  const labels = usdTicks([0, 0.00025, 0.0005, 0.00075, 0.001]);
  assert.equal(new Set(labels).size, labels.length, labels.join(", "));
});

/** Reads one SSE event block from a feed. */
async function nextEvent(reader: ReadableStreamDefaultReader<string>) {
  const block = (await reader.read()).value!;
  return /^event: (.*)$/m.exec(block)![1];
}

function feedReader(feed: DashboardFeed) {
  return feed.response().body!.pipeThrough(new TextDecoderStream()).getReader();
}

Deno.test("F16: the totals are computed once per tick for every open feed", async () => {
  const usage = new UsageTracker();
  const feed = new DashboardFeed({ usage, routes: () => [], version: "test" });
  const readers = [];
  for (let i = 0; i < 5; i++) {
    const reader = feedReader(feed);
    assert.equal(await nextEvent(reader), "snapshot");
    readers.push(reader);
  }
  let computed = 0;
  const stats = feed.stats.bind(feed);
  feed.stats = (scope) => (computed++, stats(scope));
  const { costUsd: _, ...facts } = usageRecord({ provider: "local", backendModel: "" });
  usage.end(facts);
  for (const reader of readers) {
    assert.equal(await nextEvent(reader), "end");
    assert.equal(await nextEvent(reader), "totals");
  }
  assert.equal(computed, 1, "one computation shared by the five pages");
  for (const reader of readers) await reader.cancel();
  assert.equal(feed.feeds, 0);
});

Deno.test("F16: feeds past the cap get a 429; a feed that never reads is dropped at its bound", async () => {
  const usage = new UsageTracker();
  const feed = new DashboardFeed({
    usage,
    routes: () => [],
    version: "test",
    maxFeeds: 2,
    maxQueuedBytes: 20_000,
  });
  const reading = feedReader(feed);
  const idle = feed.response().body!.getReader();
  assert.throws(() => feed.response(), (e: unknown) => e instanceof ProxyError && e.status === 429);
  assert.equal(await nextEvent(reading), "snapshot");
  assert.ok((await idle.read()).value, "the idle page got its snapshot");
  // The idle page reads nothing more: its queue fills, and it is dropped.
  for (let i = 0; i < 100; i++) {
    const { costUsd: _, ...facts } = usageRecord({
      provider: "local",
      backendModel: "",
      model: "m".repeat(500),
    });
    usage.end(facts);
    let event;
    do event = await nextEvent(reading); while (event === "totals");
    assert.equal(event, "end", "the reading page follows");
  }
  await assert.rejects(idle.read(), /reads too slowly/);
  assert.equal(feed.feeds, 1, "the idle feed no longer counts");
  const again = feedReader(feed);
  assert.equal(await nextEvent(again), "snapshot", "its place is free again");
  await again.cancel();
  await reading.cancel();
});

Deno.test("F28: a key outside ADMIN_KEYS sees only its own usage on /v1/usage and the dashboard", async () => {
  const KEYS = {
    alice: "key-alice-0001-abcdef",
    bob: "key-bob-00002-abcdef",
    carol: "key-carol-003-abcdef",
  };
  assert.throws(
    () => testConfig({ PROXY_API_KEY: `alice=${KEYS.alice}`, ADMIN_KEYS: "dave" }),
    /ADMIN_KEYS names dave/,
  );
  const { ledger } = await tempLedger();
  const usage = new UsageTracker({ ledger });
  const upstream = createFakeUpstream(() => textReply(["ok"]));
  const config = testConfig({
    PROXY_API_KEY: Object.entries(KEYS).map(([name, key]) => `${name}=${key}`).join(","),
    ADMIN_KEYS: "carol",
  });
  const handler = createHandler(config, { fetch: upstream.fetch, logger: silentLogger, usage });
  const ask = async (key: string, session: string) => {
    const response = await handler(
      new Request("http://127.0.0.1/v1/messages", {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-api-key": key,
          "x-claude-code-session-id": session,
        },
        body: JSON.stringify({
          model: "claude-opus-5-5",
          max_tokens: 20,
          messages: [{ role: "user", content: "hi" }],
        }),
      }),
    );
    assert.equal(response.status, 200);
    return response.headers.get("request-id")!;
  };
  const feedOf = async (key: string) => {
    const response = await handler(
      new Request("http://127.0.0.1/dashboard/feed", { headers: { "x-api-key": key } }),
    );
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    const block = (await reader.read()).value!;
    return { reader, snapshot: JSON.parse(/^data: (.*)$/m.exec(block)![1]) };
  };
  try {
    await ask(KEYS.alice, "alice-session");
    const bobs = await ask(KEYS.bob, "bob-session");
    await usage.settled();
    const summary = async (key: string, query: string) => {
      const response = await handler(
        new Request(`http://127.0.0.1/v1/usage?${query}`, { headers: { "x-api-key": key } }),
      );
      assert.equal(response.status, 200);
      return await response.json();
    };
    const alices = await summary(KEYS.alice, "group_by=key");
    assert.deepEqual(alices.groups.map((g: { group: string }) => g.group), ["alice"]);
    assert.deepEqual([alices.totals.requests, alices.key, alices.last.request_id !== bobs], [
      1,
      "alice",
      true,
    ]);
    const sessions = await summary(KEYS.alice, "group_by=session");
    assert.deepEqual(sessions.groups.map((g: { group: string }) => g.group), ["alice-session"]);
    assert.equal((await summary(KEYS.alice, "session=bob-session")).totals.requests, 0);
    assert.equal((await summary(KEYS.alice, "session=bob-session")).last, null);
    const carols = await summary(KEYS.carol, "group_by=key");
    assert.deepEqual(carols.groups.map((g: { group: string }) => g.group).sort(), ["alice", "bob"]);
    assert.equal(carols.key, null);

    const alice = await feedOf(KEYS.alice);
    assert.equal(alice.snapshot.scope, "alice");
    assert.deepEqual(alice.snapshot.recent.map((r: UsageRecord) => r.key), ["alice"]);
    assert.deepEqual(
      alice.snapshot.totals.today.session.map((g: { group: string }) => g.group),
      ["alice-session"],
    );
    const carol = await feedOf(KEYS.carol);
    assert.deepEqual(carol.snapshot.recent.map((r: UsageRecord) => r.key).sort(), ["alice", "bob"]);
    // Live: bob's request does not reach alice's page; her own does.
    await ask(KEYS.bob, "bob-session");
    const own = await ask(KEYS.alice, "alice-session");
    let block;
    do {
      block = (await alice.reader.read()).value!;
      assert.ok(!block.includes('"key":"bob"'), "nothing of bob's reaches alice's page");
    } while (!block.startsWith("event: start"));
    assert.ok(block.includes(own), "the first request alice's page sees is her own");
    await alice.reader.cancel();
    await carol.reader.cancel();
    await usage.settled();
  } finally {
    await ledger.close();
  }
});

function askModel(key: string, model: string, maxTokens = 20) {
  return new Request("http://127.0.0.1/v1/messages", {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-key": key },
    body: JSON.stringify({
      model,
      max_tokens: maxTokens,
      messages: [{ role: "user", content: "hi" }],
    }),
  });
}

const ERIN = "key-erin-0001-abcdef";

Deno.test("F23: with a budget, a model without a price is refused unless MODEL_PRICES prices it", async () => {
  const { ledger } = await tempLedger();
  const upstream = createFakeUpstream(() => textReply(["ok"], { prompt: 1000, completion: 100 }));
  const make = (env: Record<string, string>) => {
    const config = testConfig({ PROXY_API_KEY: `erin=${ERIN}`, ...env });
    const usage = new UsageTracker({ ledger, prices: config.modelPrices });
    return {
      usage,
      handler: createHandler(config, { fetch: upstream.fetch, logger: silentLogger, usage }),
    };
  };
  try {
    const budgeted = make({ BUDGET_USD_PER_DAY: "1" });
    const refused = await budgeted.handler(askModel(ERIN, "openai/qwen3-coder:30b"));
    assert.equal(refused.status, 400);
    assert.match(
      (await refused.json()).error.message,
      /no known price.*MODEL_PRICES=qwen3-coder:30b=/,
    );
    assert.equal(upstream.requests.length, 0, "nothing went upstream");
    const known = await budgeted.handler(askModel(ERIN, "claude-opus-5-5"));
    assert.equal(known.status, 200, "a catalog model passes");
    await known.json();

    const priced = make({ BUDGET_USD_PER_DAY: "1", MODEL_PRICES: "qwen3-coder:30b=1/2" });
    const allowed = await priced.handler(askModel(ERIN, "openai/qwen3-coder:30b"));
    assert.equal(allowed.status, 200);
    await allowed.json();
    await priced.usage.settled();
    const last = await ledger.lastOfKey("erin");
    assert.equal(last?.backendModel, "qwen3-coder:30b");
    assert.equal(last?.costUsd, (1000 * 1 + 100 * 2) / 1e6, "priced with MODEL_PRICES");

    const unbudgeted = make({});
    const free = await unbudgeted.handler(askModel(ERIN, "openai/qwen3-coder:30b"));
    assert.equal(free.status, 200, "without a budget an unknown price is only unknown");
    await free.json();
  } finally {
    await ledger.close();
  }
});

Deno.test("F15: parallel requests hold their largest cost: a burst stops at the budget", async () => {
  const { ledger } = await tempLedger();
  const upstream = createFakeUpstream(() => textReply(["ok"], { prompt: 10, completion: 20 }));
  let open!: () => void;
  const gate = new Promise<void>((resolve) => open = resolve);
  let reached = 0;
  const refused: Response[] = [];
  // Resolves once each of the 60 requests went upstream (where it waits) or was refused.
  let decided!: () => void;
  const allDecided = new Promise<void>((resolve) => decided = resolve);
  const check = () => reached + refused.length === 60 && decided();
  const config = testConfig({ PROXY_API_KEY: `erin=${ERIN}`, BUDGET_USD_PER_DAY: "0.001" });
  const usage = new UsageTracker({ ledger });
  const handler = createHandler(config, {
    fetch: async (input, init) => {
      reached++;
      check();
      await gate;
      return upstream.fetch(input, init);
    },
    logger: silentLogger,
    usage,
  });
  try {
    // gpt-4.1: $2 / $8 per million tokens; max_tokens 20 → each holds under $0.0002.
    const answers = Array.from(
      { length: 60 },
      () =>
        handler(askModel(ERIN, "claude-opus-5-5")).then((response) => {
          if (response.status !== 200) {
            refused.push(response);
            check();
          }
          return response;
        }),
    );
    await allDecided;
    // Without holds all 60 pass (the spend is still 0 when each is checked).
    assert.ok(reached >= 1 && reached <= 8, `${reached} of 60 went upstream`);
    assert.ok(refused.every((r) => r.status === 402));
    assert.match(await refused[0].text(), /in flight may spend/);
    open();
    const statuses = await Promise.all(answers.map(async (a) => {
      const response = await a;
      if (!response.bodyUsed) await response.arrayBuffer();
      return response.status;
    }));
    assert.equal(statuses.filter((s) => s === 200).length, reached);
    await usage.settled();
    const spent = await ledger.spent("erin");
    // Each costs $0.00018: the overshoot is about one request's cost, not 60 × (0.0108).
    assert.ok(spent.day < 0.001 + 0.0003, `spent ${spent.day}`);
    assert.equal(usage.reservedUsd("erin"), 0, "every hold ended with its request");
  } finally {
    await ledger.close();
  }
});
