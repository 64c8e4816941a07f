/**
 * `ccproxy statusline`: Claude Code's recorded status line JSON in, one short line out, from the
 * proxy's ledger, within its deadline, and something sensible without a proxy or a ledger.
 */
import assert from "node:assert/strict";
import {
  fetchSessionUsage,
  formatStatus,
  parseStatusInput,
  proxyFromEnv,
  runStatusLine,
  sessionUsage,
  shortCost,
  shortTokens,
} from "../lib/cli/statusline.ts";
import { createFakeUpstream, DIALECTS, serveFake } from "../bench/fake_upstream.ts";
import { createHandler } from "../lib/server/handler.ts";
import { silentLogger } from "../lib/server/log.ts";
import { createUsage } from "../lib/usage/open.ts";
import { testConfig, testdata } from "./helpers.ts";

/** What Claude Code 2.1.332 sent its status line after one turn of 48k input tokens. */
const RECORDED = testdata("claude_code_statusline.json");
const SESSION = "9f394090-21d7-457f-8a9a-d7ce0e18ac82";

const USAGE = {
  session: SESSION,
  totals: {
    requests: 3,
    input_tokens: 90_000,
    cache_read_input_tokens: 6_000,
    cache_creation_input_tokens: 0,
    output_tokens: 1_234,
    cost_usd: 0.2061,
  },
  last: { provider: "openai", backend_model: "gpt-4.1" },
};

function stdin(text: string): ReadableStream<Uint8Array> {
  return ReadableStream.from([new TextEncoder().encode(text)]);
}

/** A stand-in ccproxy answering `/v1/usage` with `answer`, recording what it was asked. */
function usageServer(answer: (url: URL, request: Request) => Response) {
  const asked: Array<{ url: string; headers: Headers }> = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    asked.push({ url: request.url, headers: new Headers(request.headers) });
    return answer(new URL(request.url), request);
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, asked, close: () => server.shutdown() };
}

Deno.test("shortTokens() and shortCost() fit a status bar", () => {
  assert.deepEqual(
    [7, 950, 1_234, 48_000, 128_000, 1_000_000, 1_047_576, 2_500_000].map(shortTokens),
    ["7", "950", "1.2k", "48k", "128k", "1M", "1M", "2.5M"],
  );
  assert.deepEqual([0, 0.0123, 0.21, 12.345, null].map(shortCost), [
    "$0.0000",
    "$0.0123",
    "$0.21",
    "$12.35",
    "$?",
  ]);
});

Deno.test("runStatusLine() prints the session's backend model, window, tokens and cost", async () => {
  const proxy = usageServer(() => Response.json(USAGE));
  try {
    const line = await runStatusLine(stdin(RECORDED), {
      ANTHROPIC_BASE_URL: proxy.url,
      ANTHROPIC_AUTH_TOKEN: "key-a",
      CCPROXY_MODEL_WINDOWS: JSON.stringify({ "gpt-4.1": 1_047_576, "gpt-4.1-mini": 1_047_576 }),
    });
    assert.equal(line, "gpt-4.1 · 48k/1M ctx · 96k in / 1.2k out · $0.21");
    const url = new URL(proxy.asked[0].url);
    assert.equal(url.pathname, "/v1/usage");
    assert.equal(url.searchParams.get("session"), SESSION);
    assert.equal(proxy.asked[0].headers.get("authorization"), "Bearer key-a");
  } finally {
    await proxy.close();
  }
});

Deno.test("formatStatus() uses the backend model's window, not Claude Code's", () => {
  const input = parseStatusInput(RECORDED);
  const usage = sessionUsage({ ...USAGE, last: { provider: "openai", backend_model: "gpt-4o" } })!;
  assert.equal(
    formatStatus(input, { kind: "session", usage }, { windows: { "gpt-4o": 128_000 } }),
    "gpt-4o · 48k/128k ctx · 96k in / 1.2k out · $0.21",
  );
  const unpriced = { ...usage, costUsd: null };
  assert.match(formatStatus(input, { kind: "session", usage: unpriced }), /\$\?$/);
});

Deno.test("runStatusLine() without a proxy says so, with Claude Code's own numbers", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const line = await runStatusLine(stdin(RECORDED), {
    ANTHROPIC_BASE_URL: `http://127.0.0.1:${port}`,
    CLAUDE_CODE_AUTO_COMPACT_WINDOW: "128000",
  });
  assert.equal(line, "ccproxy unreachable · Opus 5.5 · 48k/128k ctx");
});

Deno.test("runStatusLine() says when the proxy keeps no ledger or the session has no turns", async (t) => {
  await t.step("no ledger", async () => {
    const proxy = usageServer(() => new Response("{}", { status: 404 }));
    try {
      const line = await runStatusLine(stdin(RECORDED), { ANTHROPIC_BASE_URL: proxy.url });
      assert.equal(line, "ccproxy · ledger off · Opus 5.5 · 48k/1M ctx");
    } finally {
      await proxy.close();
    }
  });
  await t.step("no turns", async () => {
    const proxy = usageServer(() => Response.json({ totals: { requests: 0 } }));
    try {
      const line = await runStatusLine(stdin("{}"), { ANTHROPIC_BASE_URL: proxy.url });
      assert.equal(line, "ccproxy · no turns yet");
      const fresh = await runStatusLine(stdin(`{"session_id":"s1"}`), {
        ANTHROPIC_BASE_URL: proxy.url,
      });
      assert.equal(fresh, "ccproxy · no turns yet");
    } finally {
      await proxy.close();
    }
  });
  await t.step("not JSON", async () => {
    assert.equal(await runStatusLine(stdin("nonsense"), {}), "ccproxy · no turns yet");
  });
});

Deno.test("fetchSessionUsage() gives up on a slow proxy within its deadline", async () => {
  const stalled = Promise.withResolvers<Response>();
  const proxy = usageServer(() => stalled.promise as unknown as Response);
  try {
    const started = performance.now();
    const answer = await fetchSessionUsage("s1", { url: proxy.url, timeoutMs: 50 });
    assert.equal(answer.kind, "unreachable");
    assert.ok(performance.now() - started < 200, "within the status line's budget");
  } finally {
    stalled.resolve(new Response());
    await proxy.close();
  }
});

Deno.test("proxyFromEnv() reads where ccproxy code put the proxy and its key", () => {
  assert.deepEqual(
    proxyFromEnv({
      ANTHROPIC_BASE_URL: "http://127.0.0.1:9",
      ANTHROPIC_AUTH_TOKEN: "k",
      CLAUDE_CODE_AUTO_COMPACT_WINDOW: "200000",
      CCPROXY_MODEL_WINDOWS: `{"o3":200000}`,
    }),
    { url: "http://127.0.0.1:9", key: "k", window: 200_000, windows: { o3: 200_000 } },
  );
  assert.deepEqual(proxyFromEnv({ PORT: "9000", ANTHROPIC_API_KEY: "x" }), {
    url: "http://127.0.0.1:9000",
    key: "x",
    window: undefined,
    windows: undefined,
  });
});

Deno.test("statusline shows a recorded session's model, tokens and cost from the ledger", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ccproxy-statusline-" });
  const upstream = createFakeUpstream(() =>
    DIALECTS.openai.text(["ok"], { prompt: 48_000, completion: 7 })
  );
  const fake = serveFake(upstream);
  const config = testConfig({ OPENAI_BASE_URL: `${fake.url}/v1`, USAGE_DB: `${dir}/usage` });
  const usage = createUsage(config);
  const handler = createHandler(config, { usage, logger: silentLogger });
  const proxy = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);
  try {
    // The turn Claude Code took before it sent the recorded status line JSON.
    const turn = await fetch(`http://127.0.0.1:${proxy.addr.port}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-claude-code-session-id": SESSION },
      body: JSON.stringify({
        model: "claude-opus-5-5",
        max_tokens: 100,
        messages: [{ role: "user", content: "say hi" }],
      }),
    });
    assert.equal(turn.status, 200);
    await turn.body?.cancel();
    await usage.settled();
    await (await usage.ledger())?.flush();

    const line = await runStatusLine(stdin(RECORDED), {
      ANTHROPIC_BASE_URL: `http://127.0.0.1:${proxy.addr.port}`,
      CCPROXY_MODEL_WINDOWS: JSON.stringify({ "gpt-4.1": 1_047_576 }),
    });
    // gpt-4.1 at $2 / $8 per million: 48,000 in and 7 out cost $0.096056.
    assert.equal(line, "gpt-4.1 · 48k/1M ctx · 48k in / 7 out · $0.0961");
  } finally {
    await proxy.shutdown();
    await usage.close();
    await fake.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("formatStatus() strips control characters from the ledger's model and Claude Code's", () => {
  const input = parseStatusInput(RECORDED);
  const model = "x\n2026-11-29T00:00:00.000Z req_FAKE\u001b[31mRED\u009b\u007f\u2028\r";
  const usage = sessionUsage({ ...USAGE, last: { provider: "openai", backend_model: model } })!;
  const line = formatStatus(input, { kind: "session", usage });
  assert.equal(line.split(" · ")[0], "x2026-11-29T00:00:00.000Z req_FAKE[31mRED");
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(line, /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
  const unreachable = formatStatus({ model: { display_name: "Opus\u001b]0;pwned\u0007" } }, {
    kind: "unreachable",
  });
  assert.equal(unreachable, "ccproxy unreachable · Opus]0;pwned");
});
