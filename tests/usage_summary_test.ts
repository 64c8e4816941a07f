import assert from "node:assert/strict";
import { runUsage } from "../lib/cli/usage.ts";
import { sessionUsage } from "../lib/cli/statusline.ts";
import { createHandler } from "../lib/server/handler.ts";
import { silentLogger } from "../lib/server/log.ts";
import { noUsage, type UsageRecord } from "../lib/usage/record.ts";
import { parseQuery, type UsageSummary } from "../lib/usage/summary.ts";
import { UsageTracker } from "../lib/usage/tracker.ts";
import { testConfig } from "./helpers.ts";
import { tempLedger, usageRecord } from "./usage_fixtures.ts";

const DAY = 86_400_000;
const NOW = Date.now();

function rec(overrides: Partial<UsageRecord>): UsageRecord {
  return usageRecord({
    time: NOW,
    usage: { ...noUsage(), input_tokens: 100, output_tokens: 10 },
    costUsd: 0.25,
    ...overrides,
  });
}

/** A ledger holding a small, known history. */
async function history() {
  const { ledger, path } = await tempLedger();
  ledger.record(rec({ time: NOW - 2 * DAY, session: "old", costUsd: 1 }));
  ledger.record(rec({ latencyMs: 300 }));
  ledger.record(rec({ key: "bob", session: "s2", costUsd: 0.5 }));
  ledger.record(rec({
    key: "bob",
    session: "s2",
    provider: "google",
    backendModel: "gemini-2.5-pro",
    status: 529,
    errorType: "overloaded_error",
    costUsd: 0,
  }));
  ledger.record(rec({ session: "s1", backendModel: "my-llama", costUsd: null, time: NOW + 1 }));
  await ledger.flush();
  return { ledger, path };
}

Deno.test("GET /v1/usage sums the ledger per group, per session, over days", async (t) => {
  const { ledger } = await history();
  const usage = new UsageTracker({ ledger });
  // alice is an admin: she reads every key's usage (see tests/usage_qa_test.ts for the others).
  const config = testConfig({ PROXY_API_KEY: "alice=key-alice-01-abcdef", ADMIN_KEYS: "alice" });
  const handler = createHandler(config, {
    logger: silentLogger,
    usage,
  });
  const get = async (query: string, key = "key-alice-01-abcdef") => {
    const response = await handler(
      new Request(`http://localhost/v1/usage${query}`, { headers: { "x-api-key": key } }),
    );
    return { status: response.status, body: await response.json() };
  };
  try {
    await t.step(
      "today by model, most expensive first; unknown prices are counted apart",
      async () => {
        const { status, body } = await get("?group_by=model");
        assert.equal(status, 200);
        const summary = body as UsageSummary;
        assert.equal(summary.totals.requests, 4);
        assert.equal(summary.totals.errors, 1);
        assert.equal(summary.totals.cost_usd, 0.75);
        assert.equal(summary.totals.unpriced_requests, 1);
        assert.deepEqual(
          summary.groups.map((g) => [g.group, g.requests, g.cost_usd]),
          [["openai/gpt-4.1", 2, 0.75], ["google/gemini-2.5-pro", 1, 0], [
            "openai/my-llama",
            1,
            null,
          ]],
        );
        assert.equal(summary.last?.backend_model, "my-llama");
      },
    );
    await t.step("by key, provider and day", async () => {
      const byKey = (await get("?group_by=key")).body as UsageSummary;
      assert.deepEqual(byKey.groups.map((g) => [g.group, g.requests]), [["bob", 2], ["alice", 2]]);
      const byProvider = (await get("?group_by=provider")).body as UsageSummary;
      assert.deepEqual(byProvider.groups.map((g) => g.group), ["openai", "google"]);
      const from = new Date(NOW - 3 * DAY).toISOString().slice(0, 10);
      const byDay = (await get(`?group_by=day&from=${from}`)).body as UsageSummary;
      assert.deepEqual(byDay.groups.map((g) => g.requests), [1, 4]);
      assert.equal(byDay.totals.cost_usd, 1.75);
    });
    await t.step(
      "one session: its totals and its last request (the status line's query)",
      async () => {
        const summary = (await get("?session=s2")).body as UsageSummary;
        assert.equal(summary.session, "s2");
        assert.deepEqual([summary.totals.requests, summary.totals.cost_usd], [2, 0.5]);
        assert.equal(summary.last?.backend_model, "gemini-2.5-pro");
        assert.deepEqual(sessionUsage(summary), {
          model: "gemini-2.5-pro",
          provider: "google",
          requests: 2,
          inputTokens: 200,
          outputTokens: 20,
          costUsd: 0.5,
        });
        const old = (await get("?session=old")).body as UsageSummary;
        assert.equal(old.totals.requests, 1, "a session's default range is the whole retention");
      },
    );
    await t.step("bad parameters are a 400 naming the parameter", async () => {
      const bad = await get("?group_by=color");
      assert.equal(bad.status, 400);
      assert.match(bad.body.error.message, /^group_by: takes one of model, key, session/);
      assert.match((await get("?from=yesterday")).body.error.message, /^from: takes a day/);
    });
    await t.step("protected like the API", async () => {
      assert.equal((await get("", "wrong")).status, 401);
    });
  } finally {
    await ledger.close();
  }
});

Deno.test("GET /v1/usage is a 404 when the ledger is off", async () => {
  const handler = createHandler(testConfig(), { logger: silentLogger });
  const response = await handler(new Request("http://localhost/v1/usage"));
  assert.equal(response.status, 404);
  assert.match((await response.json()).error.message, /ledger is off/);
});

Deno.test("parseQuery() defaults to today; with a session, to the retention", () => {
  const now = Date.parse("2026-11-29T15:00:00Z");
  assert.deepEqual(parseQuery(new URLSearchParams(), { now }), {
    from: "2026-11-29",
    to: "2026-11-29",
    groupBy: undefined,
    session: undefined,
  });
  assert.equal(
    parseQuery(new URLSearchParams("session=x"), { now, retentionDays: 30 }).from,
    "2026-10-31",
  );
  assert.equal(
    parseQuery(new URLSearchParams("from=2026-11-01T23:00:00-02:00"), { now }).from,
    "2026-11-02",
  );
});

Deno.test("ccproxy usage prints the totals as a table, or the same JSON as the API", async () => {
  const { ledger, path } = await history();
  await ledger.close();
  const out: string[] = [];
  assert.equal(await runUsage(["--group-by", "key"], { USAGE_DB: path }, (t) => out.push(t)), 0);
  const lines = out[0].split("\n");
  assert.match(lines[0], /^usage \d{4}-\d\d-\d\d to \d{4}-\d\d-\d\d$/);
  assert.match(lines[1], /^key\s+requests\s+errors\s+input\s+output\s+cache read\s+cache write/);
  assert.match(lines[2], /^bob\s+2\s+1\s+200\s+20\s+0\s+0\s+0\.5000\s+\d+$/);
  assert.match(lines[3], /^alice\s+2\s+0\s+200\s+20\s+0\s+0\s+0\.2500 \(\+1 unknown\)/);
  assert.match(lines[4], /^total\s+4\s+1\s+400\s+40/);
  out.length = 0;
  assert.equal(
    await runUsage(["--json", "--session", "s2"], { USAGE_DB: path }, (t) => out.push(t)),
    0,
  );
  assert.equal(JSON.parse(out[0]).totals.requests, 2);
  assert.equal(await runUsage(["--group-by", "color"], { USAGE_DB: path }, () => {}), 2);
  assert.equal(await runUsage([], { USAGE_DB: "off" }, () => {}), 1);
});

Deno.test("main.ts usage runs the command", async () => {
  const { ledger, path } = await history();
  await ledger.close();
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-env", "--allow-read", "--allow-write", "main.ts", "usage", "--json"],
    cwd: new URL("../", import.meta.url).pathname,
    env: { NO_COLOR: "1", USAGE_DB: path },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(result.code, 0, new TextDecoder().decode(result.stderr));
  assert.equal(JSON.parse(new TextDecoder().decode(result.stdout)).totals.requests, 4);
});
