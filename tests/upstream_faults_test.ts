/** Upstream faults found from outside (QA round F6, F18, F30, F31, F32): each one pinned. */
import { peekBody } from "../lib/upstream/peek.ts";
import assert from "node:assert/strict";
import { redact } from "../lib/server/redact.ts";
import { createLogger } from "../lib/server/log.ts";
import { createHandler } from "../lib/server/handler.ts";
import type { RequestRecord } from "../lib/server/request_record.ts";
import { MAX_SSE_EVENT_CHARS } from "../lib/upstream/sse_reader.ts";
import { testConfig } from "./helpers.ts";

const BODY = { model: "x", max_tokens: 100, messages: [{ role: "user", content: "hi" }] };

Deno.test("F32: a URL's userinfo and credential-named query values are redacted", () => {
  const line =
    "usage ledger: off: failed to connect to 'https://user:pass@127.0.0.1:18003/databases/x/connect?access_token=abc&alt=sse'";
  const out = redact(line, []);
  assert.ok(!out.includes("user:pass"), out);
  assert.ok(!out.includes("abc"), out);
  assert.ok(out.includes("https://[redacted]@127.0.0.1:18003/databases/x/connect"), out);
  assert.ok(out.includes("alt=sse"), out);
  // A plain URL and text with an @ stay as they are.
  assert.equal(
    redact("see https://example.com/docs and me@example.com", []),
    "see https://example.com/docs and me@example.com",
  );
});

/** A loopback server on port 0; `close()` stops it. */
function serve(handler: (request: Request) => Response | Promise<Response>) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  return { url: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() };
}

Deno.test("F30: an upstream 3xx is not followed: no key reaches the redirect target", async () => {
  const seen: Array<[string, string][]> = [];
  const thief = serve((request) => {
    seen.push([...request.headers]);
    return new Response("stolen", { status: 200 });
  });
  let calls = 0;
  const redirecting = serve((request) => {
    calls++;
    const url = new URL(request.url);
    return new Response(null, {
      status: 307,
      headers: { location: `${thief.url}/stolen${url.pathname}?key=leak-me-123` },
    });
  });
  try {
    const config = testConfig({
      GEMINI_API_KEY: "gem-SECRET-REDIRECT-123",
      GEMINI_BASE_URL: redirecting.url,
      AZURE_OPENAI_API_KEY: "azure-SECRET-REDIRECT-456",
      AZURE_OPENAI_ENDPOINT: redirecting.url,
      OPENAI_BASE_URL: `${redirecting.url}/v1`,
      ANTHROPIC_API_KEY: "sk-ant-SECRET-REDIRECT-789",
      ANTHROPIC_UPSTREAM_URL: redirecting.url,
      MAX_RETRIES: "2",
      USAGE_DB: "off",
    });
    const handler = createHandler(config, { logger: createLogger({ write: () => {} }) });
    const models = ["gemini/gemini-2.5-pro", "azure/dep", "openai/gpt-4.1", "anthropic/claude-x"];
    for (const model of models) {
      const before = calls;
      const response = await handler(
        new Request("http://localhost:8082/v1/messages", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ ...BODY, model }),
        }),
      );
      const body = await response.json();
      assert.equal(response.status, 502, `${model}: ${JSON.stringify(body)}`);
      assert.equal(body.error.type, "api_error");
      assert.match(body.error.message, /307/);
      assert.match(body.error.message, /127\.0\.0\.1:\d+\/stolen/);
      assert.ok(!body.error.message.includes("leak-me-123"), body.error.message);
      assert.equal(calls - before, 1, `${model}: a redirect is not retried`);
    }
    assert.deepEqual(seen, [], "nothing reached the redirect target");
  } finally {
    await redirecting.close();
    await thief.close();
  }
});

/** An upstream `fetch` that answers every call with `sse` (an event stream). */
function sseFetch(sse: string): typeof fetch {
  return () =>
    Promise.resolve(
      new Response(sse, { status: 200, headers: { "content-type": "text/event-stream" } }),
    );
}

/** Anthropic's classic stream: `message_delta.usage` carries `output_tokens` alone. */
const CLASSIC_ANTHROPIC = [
  `event: message_start\ndata: ${
    JSON.stringify({
      type: "message_start",
      message: {
        id: "msg_1",
        type: "message",
        role: "assistant",
        model: "claude-x",
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: {
          input_tokens: 3,
          output_tokens: 0,
          cache_read_input_tokens: 7,
          cache_creation_input_tokens: 2,
        },
      },
    })
  }`,
  `event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
  `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}`,
  `event: content_block_stop\ndata: {"type":"content_block_stop","index":0}`,
  `event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":4}}`,
  `event: message_stop\ndata: {"type":"message_stop"}`,
].map((event) => `${event}\n\n`).join("");

Deno.test("F18: passthrough usage folds message_start's counts with message_delta's", async (t) => {
  for (const stream of [false, true]) {
    await t.step(stream ? "streaming" : "non-streaming", async () => {
      const records: RequestRecord[] = [];
      const lines: string[] = [];
      const config = testConfig({
        PREFERRED_PROVIDER: "anthropic",
        ANTHROPIC_API_KEY: "sk-ant-test-0001",
        USAGE_DB: "off",
      });
      const handler = createHandler(config, {
        fetch: sseFetch(CLASSIC_ANTHROPIC),
        logger: createLogger({ write: (line) => lines.push(line) }),
        onRecord: (record) => records.push(record),
      });
      const response = await handler(
        new Request("http://localhost:8082/v1/messages", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ ...BODY, model: "anthropic/claude-x", stream }),
        }),
      );
      assert.equal(response.status, 200);
      const expected = {
        input_tokens: 3,
        output_tokens: 4,
        cache_read_input_tokens: 7,
        cache_creation_input_tokens: 2,
      };
      if (stream) await response.text();
      else assert.deepEqual((await response.json()).usage, expected);
      assert.equal(records.length, 1);
      assert.deepEqual(records[0].usage, expected);
      assert.ok(!lines.join("\n").includes("in=undefined"), lines.join("\n"));
    });
  }
});

Deno.test("F6: an upstream event that never ends is cut at MAX_SSE_EVENT_CHARS", async (t) => {
  for (const stream of [false, true]) {
    await t.step(stream ? "streaming" : "non-streaming", async () => {
      let sent = 0;
      const piece = new TextEncoder().encode("x".repeat(1024 * 1024));
      // `data: ` and then 60 MiB without a line break, made only as fast as it is read.
      const upstream: typeof fetch = () => {
        let first = true;
        const body = new ReadableStream<Uint8Array>({
          pull(controller) {
            if (sent >= 60 * piece.length) return controller.close();
            const chunk = first ? new TextEncoder().encode('data: {"choices":"') : piece;
            first = false;
            sent += chunk.length;
            controller.enqueue(chunk);
          },
        }, { highWaterMark: 0 });
        return Promise.resolve(
          new Response(body, { headers: { "content-type": "text/event-stream" } }),
        );
      };
      const handler = createHandler(testConfig({ USAGE_DB: "off" }), {
        fetch: upstream,
        logger: createLogger({ write: () => {} }),
      });
      const response = await handler(
        new Request("http://localhost:8082/v1/messages", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ ...BODY, model: "openai/gpt-4.1", stream }),
        }),
      );
      const text = await response.text();
      assert.match(text, /api_error/);
      assert.match(text, new RegExp(`more than ${MAX_SSE_EVENT_CHARS} characters`));
      assert.ok(sent <= MAX_SSE_EVENT_CHARS + 2 * piece.length, `read ${sent} bytes`);
    });
  }
});

const CHAT_TEXT = [
  `data: {"choices":[{"index":0,"delta":{"role":"assistant","content":"hello"},"finish_reason":null}]}`,
  `data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
  `data: [DONE]`,
].map((line) => `${line}\n\n`).join("");

/** A proxy whose upstream answers call `i` with `replies[i]` (the last one from then on). */
function proxyWith(replies: string[], env: Record<string, string> = {}) {
  let calls = 0;
  const records: RequestRecord[] = [];
  const handler = createHandler(testConfig({ USAGE_DB: "off", MAX_RETRIES: "1", ...env }), {
    fetch: () => sseFetch(replies[Math.min(calls++, replies.length - 1)])("x"),
    logger: createLogger({ write: () => {} }),
    sleep: () => Promise.resolve(),
    onRecord: (record) => records.push(record),
  });
  const post = (stream: boolean) =>
    handler(
      new Request("http://localhost:8082/v1/messages", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ...BODY, model: "openai/gpt-4.1", stream }),
      }),
    );
  return { post, records, calls: () => calls };
}

Deno.test("F31: an error object as the first event is the HTTP error its code stands for", async (t) => {
  const rateLimited =
    `data: {"error":{"message":"Rate limit exceeded upstream","code":429}}\n\ndata: [DONE]\n\n`;
  for (const stream of [false, true]) {
    await t.step(`chat, ${stream ? "streaming" : "non-streaming"}: 429, retried`, async () => {
      const proxy = proxyWith([rateLimited]);
      const response = await proxy.post(stream);
      const body = await response.json();
      assert.equal(response.status, 429, JSON.stringify(body));
      assert.equal(body.error.type, "rate_limit_error");
      assert.match(body.error.message, /Rate limit exceeded upstream/);
      assert.equal(proxy.calls(), 2, "retried once");
      assert.deepEqual(proxy.records[0].tries?.map((a) => a.result), [429, 429]);
    });
    await t.step(`chat, ${stream ? "streaming" : "non-streaming"}: the retry answers`, async () => {
      const proxy = proxyWith([
        `: OPENROUTER PROCESSING\n\ndata: {"error":{"message":"bad gateway","code":502}}\n\n`,
        CHAT_TEXT,
      ]);
      const response = await proxy.post(stream);
      assert.equal(response.status, 200);
      const text = await response.text();
      assert.match(text, /hello/);
      assert.ok(!text.includes("bad gateway"), text);
    });
  }
  for (
    const [name, first, status, type] of [
      [
        "response.failed right after response.created",
        `{"type":"response.failed","response":{"id":"r1","status":"failed","error":{"code":"server_error","message":"The model failed"}}}`,
        500,
        "api_error",
      ],
      [
        "a first error event",
        `{"type":"error","code":"rate_limit_exceeded","message":"Rate limit reached for gpt-x"}`,
        429,
        "rate_limit_error",
      ],
    ] as const
  ) {
    await t.step(`responses: ${name}, streaming`, async () => {
      const proxy = proxyWith([
        `data: {"type":"response.created","response":{"id":"r1"}}\n\ndata: ${first}\n\n`,
      ], { OPENAI_API_MODE: "responses" });
      const response = await proxy.post(true);
      const body = await response.json();
      assert.equal(response.status, status, JSON.stringify(body));
      assert.equal(body.error.type, type);
      assert.equal(proxy.calls(), 2, "retried once");
    });
  }
});

Deno.test("F31: an error object mid-answer with code 429/502/503/529 is overloaded_error", async () => {
  const proxy = proxyWith([
    `data: {"choices":[{"index":0,"delta":{"role":"assistant","content":"partial"},"finish_reason":null}]}\n\n` +
    `data: {"error":{"message":"Provider returned error: overloaded","code":502}}\n\n`,
  ]);
  const response = await proxy.post(true);
  assert.equal(response.status, 200);
  const text = await response.text();
  assert.match(text, /partial/);
  assert.match(text, /event: error\ndata: .*"type":"overloaded_error"/);
  assert.equal(proxy.calls(), 1);
});

Deno.test("peekBody(): an upstream slow to send its first event is taken as answered, and nothing it sends later is lost", async () => {
  let push!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      push = controller;
    },
  });
  // Without patience the peek would wait for the first event up to the idle limit (a minute
  // here), holding the status line and the client's pings for a reasoning model's whole think.
  const replay = await peekBody(
    body,
    { first: () => "answered", idleMs: 60_000, patienceMs: 5 },
    "openai",
  );
  const reader = replay.getReader();
  push.enqueue(new TextEncoder().encode('data: {"a":1}\n\n'));
  const first = await reader.read();
  assert.equal(new TextDecoder().decode(first.value), 'data: {"a":1}\n\n');
  push.enqueue(new TextEncoder().encode("data: [DONE]\n\n"));
  push.close();
  assert.equal(new TextDecoder().decode((await reader.read()).value), "data: [DONE]\n\n");
  assert.equal((await reader.read()).done, true);
});
