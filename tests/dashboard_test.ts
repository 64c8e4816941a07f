/**
 * The dashboard: its access rules at the handler, its numbers as pure functions, and the page in
 * a real headless Chromium following the live feed.
 */
import assert from "node:assert/strict";
import { createFakeUpstream, textReply } from "../bench/fake_upstream.ts";
import { health, hourly, quantile, totals } from "../lib/dashboard/stats.ts";
import { createHandler } from "../lib/server/handler.ts";
import { silentLogger } from "../lib/server/log.ts";
import type { UsageRecord } from "../lib/usage/record.ts";
import { summarize } from "../lib/usage/summary.ts";
import { UsageTracker } from "../lib/usage/tracker.ts";
import { launchChromium } from "../scripts/chromium.ts";
import { testConfig } from "./helpers.ts";
import { tempLedger, usageRecord } from "./usage_fixtures.ts";

const KEY = "key-alice-000001";

/** A record at 10:30 on the day the stats tests look at. */
function rec(overrides: Partial<UsageRecord>): UsageRecord {
  return usageRecord({ time: Date.parse("2026-11-29T10:30:00Z"), ...overrides });
}

Deno.test("dashboard stats: windows, percentiles, hourly points and provider health", () => {
  const now = Date.parse("2026-11-29T12:00:00Z");
  const records = [
    rec({ time: now - 10 * 86_400_000, latencyMs: 1000 }),
    rec({ latencyMs: 100 }),
    rec({ latencyMs: 300, key: "bob" }),
    rec({ latencyMs: 200, status: 529, errorType: "overloaded_error", provider: "google" }),
  ];
  const t = totals(records, now);
  assert.equal(t.today.model.find((g) => g.group === "openai/gpt-4.1")?.requests, 2);
  assert.equal(t["30d"].model.find((g) => g.group === "openai/gpt-4.1")?.requests, 3);
  assert.deepEqual(t.today.key.map((g) => [g.group, g.requests]), [["alice", 2], ["bob", 1]]);
  assert.equal(quantile([100, 200, 300, 1000], 0.5), 200);
  assert.equal(quantile([100, 200, 300, 1000], 0.95), 1000);
  const points = hourly(records, now);
  assert.equal(points.length, 24);
  assert.deepEqual([points[21].requests, points[21].cost_usd], [3, 0.03]);
  const google = health(records, now + 3_600_000).find((h) => h.provider === "google")!;
  assert.equal(google.requests, 0, "outside the last hour");
  assert.deepEqual(google.last_error, {
    time: "2026-11-29T10:30:00.000Z",
    status: 529,
    type: "overloaded_error",
  });
});

Deno.test("the dashboard is served only on loopback without a key; its feed needs the key", async () => {
  const open = createHandler(testConfig(), { logger: silentLogger });
  const page = await open(new Request("http://127.0.0.1:8082/dashboard"));
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-type")!, /^text\/html/);
  assert.match(page.headers.get("content-security-policy")!, /script-src 'self'/);
  await page.text();
  const chart = await open(new Request("http://localhost/dashboard/uplot.js"));
  assert.match(await chart.text(), /uPlot/);
  const foreign = await open(new Request("http://proxy.example.com/dashboard"));
  assert.equal(foreign.status, 403);
  assert.match((await foreign.json()).error.message, /served only on loopback/);
  const remote = await open(new Request("http://127.0.0.1/dashboard"), {
    remoteAddr: { transport: "tcp", hostname: "10.1.2.3", port: 5000 },
    completed: Promise.resolve(),
  });
  assert.equal(remote.status, 403);
  await remote.body?.cancel();

  const keyed = createHandler(testConfig({ PROXY_API_KEY: `alice=${KEY}` }), {
    logger: silentLogger,
  });
  const asks = await keyed(new Request("http://proxy.example.com/dashboard"));
  assert.equal(asks.status, 200, "the page itself holds no data");
  await asks.body?.cancel();
  const refused = await keyed(new Request("http://proxy.example.com/dashboard/feed"));
  assert.equal(refused.status, 401);
  await refused.body?.cancel();
  const feed = await keyed(
    new Request("http://proxy.example.com/dashboard/feed", { headers: { "x-api-key": KEY } }),
  );
  assert.equal(feed.headers.get("content-type"), "text/event-stream");
  const reader = feed.body!.pipeThrough(new TextDecoderStream()).getReader();
  const first = (await reader.read()).value!;
  assert.match(first, /^event: snapshot\ndata: \{"version":/);
  assert.ok(!first.includes(KEY), "the feed never carries a key");
  await reader.cancel();
});

Deno.test("the feed sends a request's start while it runs and its priced end when it is done", async () => {
  const encoder = new TextEncoder();
  let upstreamBody!: ReadableStreamDefaultController<Uint8Array>;
  // The upstream's first event comes at once: the proxy answers the client only after it.
  const opening = `data: ${chunk0({ role: "assistant", content: "" })}\n\n`;
  const fetchUpstream = () =>
    Promise.resolve(
      new Response(
        new ReadableStream({
          start: (c) => {
            upstreamBody = c;
            c.enqueue(encoder.encode(opening));
          },
        }),
        {
          headers: { "content-type": "text/event-stream" },
        },
      ),
    );
  const usage = new UsageTracker();
  const handler = createHandler(testConfig(), {
    fetch: fetchUpstream,
    logger: silentLogger,
    usage,
  });
  const feed = await handler(new Request("http://127.0.0.1/dashboard/feed"));
  const events = feed.body!.pipeThrough(new TextDecoderStream()).getReader();
  const next = async () => {
    const block = (await events.read()).value!;
    return {
      event: /^event: (.*)$/m.exec(block)![1],
      data: JSON.parse(/^data: (.*)$/m.exec(block)![1]),
    };
  };
  assert.equal((await next()).event, "snapshot");
  const answer = await handler(
    new Request("http://127.0.0.1/v1/messages", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "claude-opus-5-5",
        max_tokens: 20,
        stream: true,
        messages: [{ role: "user", content: "hi" }],
      }),
    }),
  );
  const started = await next();
  assert.equal(started.event, "start");
  assert.deepEqual(
    [started.data.requestId, started.data.model, started.data.target],
    [answer.headers.get("request-id"), "claude-opus-5-5", "openai/gpt-4.1"],
  );
  assert.equal(usage.inFlight.size, 1);
  for (
    const chunk of [
      chunk0({ role: "assistant", content: "hi" }),
      chunk0({}, "stop"),
      JSON.stringify({ choices: [], usage: { prompt_tokens: 1000, completion_tokens: 10 } }),
      "[DONE]",
    ]
  ) upstreamBody.enqueue(encoder.encode(`data: ${chunk}\n\n`));
  upstreamBody.close();
  await answer.text();
  const ended = await next();
  assert.equal(ended.event, "end");
  assert.equal(ended.data.requestId, answer.headers.get("request-id"));
  assert.equal(ended.data.costUsd, (1000 * 2 + 10 * 8) / 1e6);
  assert.equal(usage.inFlight.size, 0);
  await events.cancel();
});

function chunk0(delta: Record<string, unknown>, finish: string | null = null): string {
  return JSON.stringify({ choices: [{ index: 0, delta, finish_reason: finish }] });
}

Deno.test({
  name: "the dashboard in headless Chromium: live requests with their cost, totals as the ledger",
  // puppeteer keeps its own sockets and timers between steps.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { ledger } = await tempLedger();
    ledger.record(rec({ time: Date.now() - 60_000, costUsd: 0.5 }));
    await ledger.flush();
    const usage = new UsageTracker({ ledger });
    const upstream = createFakeUpstream(() => textReply(["hi"], { prompt: 1200, completion: 300 }));
    const handler = createHandler(testConfig({ PROXY_API_KEY: `alice=${KEY}` }), {
      fetch: upstream.fetch,
      logger: silentLogger,
      usage,
    });
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
    const base = `http://127.0.0.1:${server.addr.port}`;
    const chromium = await launchChromium();
    const problems: string[] = [];
    try {
      const page = await chromium.browser.newPage();
      page.on("console", (m) => {
        if (m.type() === "error") problems.push(m.text());
      });
      page.on("pageerror", (e) => problems.push(String(e)));
      await page.goto(`${base}/dashboard`);
      await page.waitForSelector("#login:not([hidden])");
      await page.type("#key", KEY);
      await page.click("#login button");
      await page.waitForSelector("#status.live");
      await page.waitForSelector("#recent tbody tr[data-request-id]");

      const response = await fetch(`${base}/v1/messages`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": KEY },
        body: JSON.stringify({
          model: "claude-opus-5-5",
          max_tokens: 20,
          messages: [{ role: "user", content: "hi" }],
        }),
      });
      await response.json();
      const id = response.headers.get("request-id")!;
      const started = performance.now();
      const row = await page.waitForSelector(`#recent tr[data-request-id="${id}"]`, {
        timeout: 1000,
      });
      const appearedMs = performance.now() - started;
      const cost = await row!.$eval("td.cost", (td) => td.textContent);
      // gpt-4.1: $2/M input, $8/M output.
      assert.equal(cost, `$${((1200 * 2 + 300 * 8) / 1e6).toFixed(4)}`);
      assert.ok(appearedMs < 1000, `appeared after ${appearedMs} ms`);

      await usage.settled();
      const today = new Date().toISOString().slice(0, 10);
      const ledgerTotals = (await summarize(ledger, { from: today, to: today })).totals;
      const expected = [String(ledgerTotals.requests), `$${ledgerTotals.cost_usd!.toFixed(4)}`];
      await page.waitForFunction(
        `document.querySelector("#totals-sum td:nth-child(2)")?.textContent === "${expected[0]}"`,
        { timeout: 5000 },
      );
      const shown = await page.$eval("#totals-sum", (tr) => {
        const cells = [...tr.querySelectorAll("td")].map((td) => td.textContent);
        return [cells[1], cells[4]];
      });
      assert.deepEqual(shown, expected);
      assert.equal(ledgerTotals.requests, 2);
      const html = await page.content();
      assert.ok(!html.includes(KEY), "the page never shows a key");
      assert.deepEqual(problems, []);
    } finally {
      await chromium.close();
      await server.shutdown();
      await ledger.close();
    }
  },
});
