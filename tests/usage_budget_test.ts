import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createFakeUpstream, textReply } from "../bench/fake_upstream.ts";
import { createHandler } from "../lib/server/handler.ts";
import { authenticate, parseClientKeys } from "../lib/server/auth.ts";
import { silentLogger } from "../lib/server/log.ts";
import { resets } from "../lib/usage/budgets.ts";
import { Ledger } from "../lib/usage/ledger.ts";
import { noUsage } from "../lib/usage/record.ts";
import { UsageTracker } from "../lib/usage/tracker.ts";
import { claudeSupported, proxyEnv, runClaude } from "./claude_code.ts";
import { testConfig } from "./helpers.ts";
import { tempLedger, usageRecord } from "./usage_fixtures.ts";

Deno.test("parseClientKeys() names keys; a bare key is named by its hash prefix", () => {
  const hash = (key: string) => createHash("sha256").update(key).digest("hex").slice(0, 8);
  assert.deepEqual(parseClientKeys(" alice=key1 , bob=key2,bare-key-0001,pad64=="), [
    { name: "alice", key: "key1" },
    { name: "bob", key: "key2" },
    { name: `key-${hash("bare-key-0001")}`, key: "bare-key-0001" },
    { name: `key-${hash("pad64==")}`, key: "pad64==" },
  ]);
});

Deno.test("authenticate() returns the presented key's name, never the key", () => {
  const keys = parseClientKeys("alice=key-a-0001,bob=key-b-0002");
  assert.equal(authenticate(new Headers({ "x-api-key": "key-b-0002" }), keys), "bob");
  assert.equal(authenticate(new Headers({ authorization: "Bearer key-a-0001" }), keys), "alice");
  assert.equal(authenticate(new Headers(), []), "anonymous");
  assert.throws(
    () => authenticate(new Headers({ "x-api-key": "key-c" }), keys),
    { type: "authentication_error" },
  );
});

Deno.test("resets() is the next UTC midnight and the first of the next UTC month", () => {
  const { day, month } = resets(Date.parse("2026-12-31T23:59:59Z"));
  assert.equal(day.toISOString(), "2027-01-01T00:00:00.000Z");
  assert.equal(month.toISOString(), "2027-01-01T00:00:00.000Z");
});

/** A handler with named keys and budgets on a fresh ledger where alice has spent `spent` USD. */
async function setup(env: Record<string, string>, spent: number) {
  const { ledger } = await tempLedger();
  ledger.record(usageRecord({
    requestId: "req_earlier",
    session: "",
    stream: false,
    latencyMs: 1,
    usage: noUsage(),
    costUsd: spent,
  }));
  await ledger.flush();
  const usage = new UsageTracker({ ledger });
  const upstream = createFakeUpstream(() => textReply(["ok"]));
  const config = testConfig({
    PROXY_API_KEY: "alice=key-alice-01-abcdef,bob=key-bob-0002-abcdef",
    ...env,
  });
  const handler = createHandler(config, { fetch: upstream.fetch, logger: silentLogger, usage });
  return { handler, upstream, usage, ledger };
}

function ask(key: string) {
  return new Request("http://localhost/v1/messages", {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-key": key },
    body: JSON.stringify({
      model: "claude-opus-5-5",
      max_tokens: 20,
      messages: [{ role: "user", content: "hi" }],
    }),
  });
}

Deno.test("a key over its daily budget gets a 402 billing_error naming the budget and its reset", async () => {
  const { handler, upstream, usage, ledger } = await setup({ BUDGET_USD_PER_DAY: "5" }, 5.01);
  try {
    const refused = await handler(ask("key-alice-01-abcdef"));
    assert.equal(refused.status, 402);
    const body = await refused.json();
    assert.equal(body.error.type, "billing_error");
    assert.match(body.error.message, /key alice has spent \$5\.01 of its daily budget of \$5\.00/);
    assert.match(body.error.message, /BUDGET_USD_PER_DAY/);
    assert.ok(body.error.message.includes(resets(Date.now()).day.toISOString()));
    assert.ok(!body.error.message.includes("key-alice-01-abcdef"), "the key itself is never shown");
    assert.equal(upstream.requests.length, 0, "nothing went upstream");
    const allowed = await handler(ask("key-bob-0002-abcdef"));
    assert.equal(allowed.status, 200);
    await allowed.json();
    await usage.settled();
    const records = await ledger.records(0, Date.now() + 1000);
    assert.deepEqual(
      records.map((r) => [r.key, r.status, r.errorType ?? ""]).slice(1),
      [["alice", 402, "billing_error"], ["bob", 200, ""]],
    );
  } finally {
    await ledger.close();
  }
});

Deno.test("a monthly budget applies the same way; under it requests pass", async () => {
  const { handler, ledger } = await setup({ BUDGET_USD_PER_MONTH: "10" }, 9.99);
  try {
    const allowed = await handler(ask("key-alice-01-abcdef"));
    assert.equal(allowed.status, 200);
    await allowed.json();
    ledger.record({ ...(await ledger.records(0, Date.now() + 1))[0], requestId: "r2" });
    await ledger.flush();
    const refused = await handler(ask("key-alice-01-abcdef"));
    assert.equal(refused.status, 402);
    assert.match((await refused.json()).error.message, /monthly budget of \$10\.00/);
  } finally {
    await ledger.close();
  }
});

Deno.test("a budget holds across instances that share one ledger", async () => {
  const dir = await Deno.makeTempDir();
  const [a, b] = [await Ledger.open(`${dir}/usage`), await Ledger.open(`${dir}/usage`)];
  const upstream = createFakeUpstream(() => textReply(["ok"], { prompt: 1000, completion: 100 }));
  const config = testConfig({
    PROXY_API_KEY: "alice=key-alice-01-abcdef",
    BUDGET_USD_PER_DAY: "0.001",
  });
  const instance = (ledger: Ledger) => {
    const usage = new UsageTracker({ ledger });
    const handler = createHandler(config, { fetch: upstream.fetch, logger: silentLogger, usage });
    return { usage, handler };
  };
  const [first, second] = [instance(a), instance(b)];
  try {
    const spent = await first.handler(ask("key-alice-01-abcdef"));
    assert.equal(spent.status, 200);
    await spent.json();
    await first.usage.settled();
    const refused = await second.handler(ask("key-alice-01-abcdef"));
    assert.equal(refused.status, 402, "the other instance sees the spend");
    assert.match((await refused.json()).error.message, /has spent \$0\.0028 of its daily budget/);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test({
  name: "Claude Code shows the budget error at once and does not retry it",
  ignore: !claudeSupported,
  async fn() {
    const { handler, upstream, ledger, usage } = await setup({ BUDGET_USD_PER_DAY: "5" }, 7.5);
    const asked: string[] = [];
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
      asked.push(new URL(request.url).pathname);
      return handler(request);
    });
    try {
      const work = await Deno.makeTempDir();
      await Deno.mkdir(`${work}/home`);
      const { code, stdout } = await runClaude(
        work,
        ["-p", "hello"],
        proxyEnv(`http://127.0.0.1:${server.addr.port}`, "key-alice-01-abcdef"),
      );
      assert.equal(code, 1, stdout);
      assert.match(stdout, /402 budget: key alice has spent \$7\.50 of its daily budget/);
      assert.match(stdout, /resets at \d{4}-\d\d-\d\dT00:00:00\.000Z/);
      assert.equal(asked.filter((p) => p === "/v1/messages").length, 1, "asked once, no retry");
      assert.equal(upstream.requests.length, 0);
      await usage.settled();
      const refused = (await ledger.records(0, Date.now() + 1000)).filter((r) => r.status === 402);
      assert.equal(refused.length, 1);
      assert.equal(refused[0].key, "alice");
      assert.match(refused[0].session, /^[0-9a-f-]{36}$/, "Claude Code's session id is recorded");
    } finally {
      await server.shutdown();
      await ledger.close();
    }
  },
});
