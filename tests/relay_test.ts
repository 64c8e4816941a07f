/** The relay (one pass per upstream chunk) and the guards around every backend's answer. */
import assert from "node:assert/strict";
import { ANTHROPIC_START, sseResponse } from "../bench/fake_upstream.ts";
import type { StreamEvent } from "../lib/anthropic/schema.ts";
import { secretsOf } from "../lib/config.ts";
import { createLogger } from "../lib/server/log.ts";
import { createHandler } from "../lib/server/handler.ts";
import { chatTranslator } from "../lib/providers/openai_chat.ts";
import { relayStream } from "../lib/upstream/relay.ts";
import { assertValidStream, parseClientSse, testConfig } from "./helpers.ts";

const BODY = {
  model: "claude-opus-5-5",
  max_tokens: 100,
  messages: [{ role: "user", content: "hi" }],
};
const encoder = new TextEncoder();
const OPENAI_KEY = "sk-test-openai-key-0001";
const GEMINI_KEY = "AIzaSyTestGeminiKey0123456789abcdef";
const ANTHROPIC_KEY = "sk-ant-test-anthropic-key-0001";

type FetchFn = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;

function handlerWith(fetchFn: FetchFn, env: Record<string, string> = {}) {
  const config = testConfig({
    GEMINI_API_KEY: GEMINI_KEY,
    ANTHROPIC_API_KEY: ANTHROPIC_KEY,
    ANTHROPIC_UPSTREAM_URL: "http://anthropic.test",
    ...env,
  });
  const lines: string[] = [];
  const handler = createHandler(config, {
    fetch: fetchFn,
    logger: createLogger({ secrets: secretsOf(config), write: (line) => lines.push(line) }),
  });
  const post = (extra: Record<string, unknown> = {}) =>
    handler(
      new Request("http://proxy/v1/messages", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ...BODY, ...extra }),
      }),
    );
  return { post, lines };
}

const chat = (delta: Record<string, unknown>, finish: string | null = null) =>
  `data: ${JSON.stringify({ choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;

function textOf(events: StreamEvent[]): string {
  return events.map((e) =>
    e.type === "content_block_delta" && e.delta.type === "text_delta" ? e.delta.text : ""
  ).join("");
}

Deno.test("relay: a configured key split across two deltas is redacted", async (t) => {
  const half = OPENAI_KEY.length >> 1;
  const upstream = () =>
    Promise.resolve(sseResponse(
      chat({ content: `the key is ${OPENAI_KEY.slice(0, half)}` }),
      chat({ content: `${OPENAI_KEY.slice(half)} and more` }),
      chat({}, "stop"),
      "data: [DONE]\n\n",
    ));
  await t.step("stream", async () => {
    const { post } = handlerWith(upstream);
    const text = await (await post({ stream: true })).text();
    assert.ok(!text.includes(OPENAI_KEY.slice(half)), "no part of the key");
    assert.ok(!text.includes(OPENAI_KEY.slice(0, half)), "no part of the key");
    const events = parseClientSse(text);
    assertValidStream(events);
    assert.equal(textOf(events), "the key is [redacted] and more");
  });
  await t.step("sync", async () => {
    const { post } = handlerWith(upstream);
    const message = await (await post()).json();
    assert.equal(message.content[0].text, "the key is [redacted] and more");
  });
  await t.step("text that only looks like the start of a key is delayed, not lost", async () => {
    const { post } = handlerWith(() =>
      Promise.resolve(sseResponse(
        chat({ content: "say sk-te" }),
        chat({ content: "a, please" }),
        chat({}, "stop"),
        "data: [DONE]\n\n",
      ))
    );
    const events = parseClientSse(await (await post({ stream: true })).text());
    assertValidStream(events);
    assert.equal(textOf(events), "say sk-tea, please");
  });
});

Deno.test("relay: each upstream chunk's events leave together, as soon as they are made", async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const body = ReadableStream.from((async function* () {
    yield encoder.encode(chat({ content: "one" }));
    await gate;
    yield encoder.encode(chat({ content: "two" }, "stop") + "data: [DONE]\n\n");
  })());
  const out = relayStream(
    {
      body,
      provider: "openai",
      translate: (emit) =>
        chatTranslator({
          id: "msg_1",
          model: "m",
          inputTokens: 1,
          toolNames: new Map(),
          upstreamModel: "m",
          provider: "openai",
          signThinking: () => "sig",
        }, emit),
    },
    { idleMs: 60_000, totalMs: 60_000, startedAt: performance.now(), secrets: [] },
  ).pipeThrough(new TextDecoderStream()).getReader();
  const first = (await out.read()).value!;
  assert.match(first, /^event: message_start\n/, "message_start goes out before any read");
  const second = (await out.read()).value!;
  assert.match(second, /"text":"one"/, "the first chunk arrives before the upstream sends more");
  release();
  let rest = "";
  for (let next = await out.read(); !next.done; next = await out.read()) rest += next.value;
  assertValidStream(parseClientSse(first + second + rest));
});

Deno.test("anthropic passthrough goes through the same guard as every backend", async (t) => {
  const env = { PREFERRED_PROVIDER: "anthropic" };
  const start = ANTHROPIC_START;
  const block = 'event: content_block_start\ndata: {"type":"content_block_start","index":0,' +
    '"content_block":{"type":"text","text":""}}\n\nevent: content_block_delta\ndata: ' +
    '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}\n\n';
  await t.step("a truncated stream ends with an error event", async () => {
    const { post } = handlerWith(() => Promise.resolve(sseResponse(start, block)), env);
    const events = parseClientSse(await (await post({ stream: true })).text());
    assertValidStream(events);
    const last = events.at(-1) as StreamEvent & { type: "error" };
    assert.equal(last.type, "error");
    assert.match(last.error.message, /anthropic: upstream stream ended before the message/);
  });
  await t.step("an empty 200 is an error event, not a 0-byte success", async () => {
    const { post } = handlerWith(() => Promise.resolve(sseResponse()), env);
    const response = await post({ stream: true });
    const text = await response.text();
    assert.ok(text.length > 0);
    const events = parseClientSse(text);
    assert.equal(events.at(-1)?.type, "error");
    const sync = await post();
    assert.equal(sync.status, 500);
    assert.equal((await sync.json()).error.type, "api_error");
  });
  await t.step("an HTML 200 is a 502 before the first byte", async () => {
    const { post } = handlerWith(
      () =>
        Promise.resolve(
          new Response("<html>login</html>", { headers: { "content-type": "text/html" } }),
        ),
      env,
    );
    for (const stream of [true, false]) {
      const response = await post({ stream });
      assert.equal(response.status, 502);
      assert.equal((await response.json()).error.type, "api_error");
    }
  });
  await t.step("nothing follows message_stop", async () => {
    const stop = 'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n' +
      'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn",' +
      '"stop_sequence":null},"usage":{"output_tokens":1}}\n\n' +
      'event: message_stop\ndata: {"type":"message_stop"}\n\n';
    const { post } = handlerWith(
      () => Promise.resolve(sseResponse(start, block, stop, block)),
      env,
    );
    const events = parseClientSse(await (await post({ stream: true })).text());
    assertValidStream(events);
  });
  await t.step("in-stream errors keep to Anthropic's types", async () => {
    const error = 'event: error\ndata: {"type":"error","error":{"type":"constructor",' +
      '"message":"odd"}}\n\n';
    const { post } = handlerWith(() => Promise.resolve(sseResponse(start, error)), env);
    const events = parseClientSse(await (await post({ stream: true })).text());
    const last = events.at(-1) as StreamEvent & { type: "error" };
    assert.equal(last.error.type, "api_error");
  });
});

Deno.test("anthropic passthrough errors keep to Anthropic's types and statuses", async (t) => {
  const env = { PREFERRED_PROVIDER: "anthropic" };
  const cases: Array<[string, number, unknown, number, string]> = [
    [
      "unknown type",
      400,
      { error: { type: "constructor", message: "x" } },
      400,
      "invalid_request_error",
    ],
    ["__proto__ type", 500, { error: { type: "__proto__", message: "x" } }, 500, "api_error"],
    ["toString type", 429, { error: { type: "toString", message: "x" } }, 429, "rate_limit_error"],
    ["status 418", 418, { error: { type: "teapot", message: "x" } }, 400, "invalid_request_error"],
    [
      "status 418, known type",
      418,
      { error: { type: "overloaded_error" } },
      529,
      "overloaded_error",
    ],
    ["status 503", 503, "busy", 529, "overloaded_error"],
    [
      "known type",
      404,
      { error: { type: "not_found_error", message: "no" } },
      404,
      "not_found_error",
    ],
  ];
  for (const [name, status, body, expectedStatus, type] of cases) {
    await t.step(name, async () => {
      const { post } = handlerWith(
        () =>
          Promise.resolve(
            new Response(typeof body === "string" ? body : JSON.stringify(body), { status }),
          ),
        env,
      );
      const response = await post();
      assert.equal(response.status, expectedStatus);
      assert.equal((await response.json()).error.type, type);
    });
  }
});

Deno.test("upstream error bodies: redacted, then cut; read only up to a bound", async (t) => {
  for (const [provider, key] of [["google", GEMINI_KEY], ["anthropic", ANTHROPIC_KEY]]) {
    await t.step(`${provider}: a key at character 490 leaves no part of itself`, async () => {
      const text = `${"x".repeat(489)} ${key} ${"y".repeat(600)}`;
      const { post, lines } = handlerWith(
        () => Promise.resolve(new Response(text, { status: 400 })),
        { PREFERRED_PROVIDER: provider },
      );
      const response = await post();
      assert.equal(response.status, 400);
      const message = (await response.json()).error.message as string;
      assert.ok(!message.includes(key.slice(0, 6)), message);
      assert.ok(message.length <= 2_100, `cut: ${message.length}`);
      assert.ok(lines.every((line) => !line.includes(key.slice(0, 6))));
    });
  }
  for (const provider of ["openai", "google", "anthropic"]) {
    await t.step(`${provider}: an endless error body is read up to the bound`, async () => {
      let sent = 0;
      let cancelled = false;
      const endless = new ReadableStream<Uint8Array>({
        pull(controller) {
          sent += 16_384;
          controller.enqueue(encoder.encode("e".repeat(16_384)));
        },
        cancel() {
          cancelled = true;
        },
      });
      const { post } = handlerWith(
        () => Promise.resolve(new Response(endless, { status: 500 })),
        { PREFERRED_PROVIDER: provider },
      );
      const response = await post();
      assert.equal(response.status, 500);
      const message = (await response.json()).error.message as string;
      assert.ok(message.length <= 2_100);
      assert.ok(sent <= 128 * 1024, `read ${sent} bytes`);
      assert.ok(cancelled, "the rest of the body is cancelled");
    });
  }
});

Deno.test("an upstream 200 whose body is a JSON error keeps the error's type", async (t) => {
  const cases: Array<[string, string, unknown, number, string]> = [
    [
      "openai rate limit",
      "openai",
      { error: { message: "Rate limit reached", type: "requests", code: "rate_limit_exceeded" } },
      429,
      "rate_limit_error",
    ],
    [
      "anthropic rate limit",
      "anthropic",
      { type: "error", error: { type: "rate_limit_error", message: "slow down" } },
      429,
      "rate_limit_error",
    ],
    [
      "gemini quota",
      "google",
      [{ error: { code: 429, message: "quota", status: "RESOURCE_EXHAUSTED" } }],
      429,
      "rate_limit_error",
    ],
    [
      "anthropic overloaded",
      "anthropic",
      {
        type: "error",
        error: { type: "overloaded_error", message: "busy" },
      },
      529,
      "overloaded_error",
    ],
    ["JSON that is no error", "openai", { id: "chatcmpl-1", choices: [] }, 502, "api_error"],
  ];
  for (const [name, provider, body, status, type] of cases) {
    await t.step(name, async () => {
      const { post } = handlerWith(
        () =>
          Promise.resolve(
            new Response(JSON.stringify(body), { headers: { "content-type": "application/json" } }),
          ),
        { PREFERRED_PROVIDER: provider },
      );
      for (const stream of [true, false]) {
        const response = await post({ stream });
        assert.equal(response.status, status);
        assert.equal((await response.json()).error.type, type);
      }
    });
  }
});

Deno.test("a non-streaming client that hangs up closes the upstream request at once", async (t) => {
  const chunk = chat({ content: "x" });
  type Body = (sent: () => void, cancelled: () => void) => ReadableStream<Uint8Array>;
  const kinds: Array<[string, Body]> = [
    ["a never-ending upstream", (sent, cancelled) =>
      new ReadableStream({
        async pull(controller) {
          await new Promise((r) => setTimeout(r, 1));
          controller.enqueue(encoder.encode(chunk));
          sent();
        },
        cancel: cancelled,
      })],
    ["an upstream that never answers", () => new ReadableStream()],
    ["a silent upstream", (sent, cancelled) =>
      new ReadableStream({
        start() {
          sent();
        },
        cancel: cancelled,
      })],
  ];
  // A failure detector, not a timing: a request left running would otherwise hang the test.
  const within = <T>(promise: Promise<T>, ms: number, what: string) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    return Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} after ${ms} ms`)), ms);
      }),
    ]).finally(() => clearTimeout(timer));
  };
  for (const [name, body] of kinds) {
    await t.step(name, async () => {
      // Even trials hang up at once (while the proxy is still opening the upstream call), odd
      // ones once the upstream has started answering.
      for (let trial = 0; trial < 12; trial++) {
        let closed!: (at: number) => void;
        const upstreamClosed = new Promise<number>((resolve) => (closed = resolve));
        let started!: () => void;
        const upstreamStarted = new Promise<void>((resolve) => (started = resolve));
        let handled!: () => void;
        const proxyDone = new Promise<void>((resolve) => (handled = resolve));
        const fake = Deno.serve(
          { hostname: "127.0.0.1", port: 0, onListen: () => {} },
          (request) => {
            request.signal.addEventListener("abort", () => closed(performance.now()));
            if (name === "an upstream that never answers") {
              started();
              return new Promise<Response>((resolve) =>
                request.signal.addEventListener("abort", () => resolve(new Response(null)))
              );
            }
            return new Response(body(started, () => closed(performance.now())), {
              headers: { "content-type": "text/event-stream" },
            });
          },
        );
        const handler = createHandler(
          testConfig({ OPENAI_BASE_URL: `http://127.0.0.1:${fake.addr.port}/v1` }),
          { logger: createLogger({ write: () => {} }) },
        );
        const proxy = Deno.serve(
          { hostname: "127.0.0.1", port: 0, onListen: () => {} },
          (request) => handler(request).finally(handled),
        );
        let ok = false;
        try {
          const socket = await Deno.connect({ hostname: "127.0.0.1", port: proxy.addr.port });
          const json = JSON.stringify(BODY);
          await socket.write(encoder.encode(
            `POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n` +
              `content-length: ${json.length}\r\n\r\n${json}`,
          ));
          if (trial % 2) {
            await upstreamStarted;
            // Weakly held state (which a garbage collection may drop) must not be what carries
            // the hang-up to the upstream: make some garbage.
            let junk: unknown[] = [];
            for (let i = 0; i < 200_000; i++) junk.push({ i, s: `x${i}` });
            junk = [];
            void junk;
          }
          let hangUp = performance.now();
          socket.close();
          const reached = await within(
            Promise.race([upstreamStarted.then(() => true), proxyDone.then(() => false)]),
            5_000,
            "neither the upstream nor the proxy heard of it",
          );
          if (!reached) continue; // the proxy gave up before calling the upstream: right too
          // Reached after the hang-up: count from when the upstream call began.
          if (trial % 2 === 0) hangUp = performance.now();
          const at = await within(upstreamClosed, 5_000, `trial ${trial}: upstream still open`);
          // The issue asks for 100 ms; the bound leaves room for a loaded machine (the failure
          // this catches is "never").
          assert.ok(
            at - hangUp < 1_000,
            `trial ${trial}: upstream closed ${Math.round(at - hangUp)} ms after the hang-up`,
          );
          ok = true;
        } finally {
          // A shutdown waits for open requests: after a failure, one may never end.
          const shutdown = Promise.all([proxy.shutdown(), fake.shutdown()]);
          if (ok) await shutdown;
        }
      }
    });
  }
});

Deno.test("an event stream labelled as JSON is still read as one", async () => {
  const { post } = handlerWith(() =>
    Promise.resolve(
      new Response(
        ReadableStream.from([
          encoder.encode(chat({ content: "He" })),
          encoder.encode(chat({ content: "llo" }, "stop") + "data: [DONE]\n\n"),
        ]),
        { headers: { "content-type": "application/json" } },
      ),
    )
  );
  const events = parseClientSse(await (await post({ stream: true })).text());
  assertValidStream(events);
  assert.equal(textOf(events), "Hello");
  const message = await (await post()).json();
  assert.equal(message.content[0].text, "Hello");
});
