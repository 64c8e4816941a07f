/**
 * `deno task screenshot`: the README's picture of the dashboard. Serves ccproxy on loopback with
 * a fake upstream and a throwaway ledger, sends a day's worth of varied requests (models, keys,
 * sessions, a failing provider), opens the dashboard in headless Chromium and saves
 * `docs/dashboard.png`.
 *
 * @module
 */
import { createFakeUpstream, DIALECTS } from "../bench/fake_upstream.ts";
import { loadConfig } from "../lib/config.ts";
import { createHandler } from "../lib/server/handler.ts";
import { silentLogger } from "../lib/server/log.ts";
import { Ledger } from "../lib/usage/ledger.ts";
import { UsageTracker } from "../lib/usage/tracker.ts";
import { launchChromium } from "./chromium.ts";

const OUT = new URL("../docs/dashboard.png", import.meta.url).pathname;

if (import.meta.main) {
  const dir = await Deno.makeTempDir();
  const ledger = await Ledger.open(`${dir}/usage`);
  const usage = new UsageTracker({ ledger });
  let n = 0;
  const upstream = createFakeUpstream((request) => {
    n++;
    const usage = { prompt: 800 + (n * 997) % 9000, completion: 50 + (n * 31) % 900 };
    if (!request.url.includes("generativelanguage")) return DIALECTS.openai.text(["ok"], usage);
    return n % 3 ? DIALECTS.google.text(["ok"], usage) : DIALECTS.google.error(503, "overloaded");
  });
  const config = loadConfig({
    OPENAI_API_KEY: "sk-screenshot",
    GEMINI_API_KEY: "gm-screenshot",
    PROXY_API_KEY: "alice=key-alice-screenshot,bob=key-bob-screenshot",
    MAX_RETRIES: "0",
  });
  const handler = createHandler(config, { fetch: upstream.fetch, logger: silentLogger, usage });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  const base = `http://127.0.0.1:${server.addr.port}`;
  const models = [
    "claude-opus-4-1",
    "claude-haiku-4-5",
    "claude-sonnet-4-5",
    "gemini/gemini-2.5-pro",
  ];
  for (let i = 0; i < 18; i++) {
    const response = await handler(
      new Request(`${base}/v1/messages`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-api-key": i % 3 ? "key-alice-screenshot" : "key-bob-screenshot",
          "x-claude-code-session-id": `session-${(i % 4) + 1}`,
        },
        body: JSON.stringify({
          model: models[i % models.length],
          max_tokens: 100,
          stream: i % 2 === 0,
          messages: [{ role: "user", content: "hi" }],
        }),
      }),
    );
    await response.text();
  }
  await usage.settled();
  const chromium = await launchChromium();
  try {
    const page = await chromium.browser.newPage();
    await page.setViewport({ width: 1280, height: 900, deviceScaleFactor: 1 });
    await page.goto(`${base}/dashboard`);
    await page.waitForSelector("#login:not([hidden])");
    await page.type("#key", "key-alice-screenshot");
    await page.click("#login button");
    await page.waitForSelector("#recent tbody tr[data-request-id]");
    await page.screenshot({ path: OUT, fullPage: true });
    console.error(`screenshot: wrote ${OUT}`);
  } finally {
    await chromium.close();
    await server.shutdown();
    await ledger.close();
  }
}
