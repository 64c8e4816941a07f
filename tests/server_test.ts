import assert from "node:assert/strict";
import { createFakeUpstream, type Reply, textReply, toolReply } from "../bench/fake_upstream.ts";
import type { StreamEvent } from "../lib/anthropic/schema.ts";
import { secretsOf } from "../lib/config.ts";
import { createLogger } from "../lib/server/log.ts";
import { createHandler, type HandlerOptions } from "../lib/server/handler.ts";
import { assertValidStream, manualScheduler, parseClientSse, testConfig } from "./helpers.ts";

const BODY = {
  model: "claude-opus-5-5",
  max_tokens: 128_000,
  messages: [{ role: "user", content: "hi" }],
};

function setup(
  replies: Reply[] | Parameters<typeof createFakeUpstream>[0],
  options: HandlerOptions = {},
  env = {},
) {
  const upstream = createFakeUpstream(replies);
  const lines: string[] = [];
  const config = testConfig(env);
  const logger = createLogger({
    debug: config.debug,
    secrets: secretsOf(config),
    write: (line) => lines.push(line),
  });
  const handler = createHandler(config, { fetch: upstream.fetch, logger, ...options });
  const post = (body: unknown, path = "/v1/messages", headers: Record<string, string> = {}) =>
    handler(
      new Request(`http://proxy${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: typeof body === "string" ? body : JSON.stringify(body),
      }),
    );
  return { upstream, handler, post, lines };
}

async function errorOf(response: Response) {
  const body = await response.json();
  assert.equal(body.type, "error");
  assert.equal(body.request_id, response.headers.get("request-id"));
  return body.error as { type: string; message: string };
}

Deno.test("handler serves the informational routes", async (t) => {
  const { handler } = setup([]);
  const get = (path: string, method = "GET") =>
    handler(new Request(`http://proxy${path}`, { method }));
  await t.step("GET /health", async () => {
    const response = await get("/health");
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { status: "ok" });
    assert.match(response.headers.get("request-id")!, /^req_/);
  });
  await t.step("HEAD / is 200", async () => {
    const response = await get("/", "HEAD");
    assert.equal(response.status, 200);
    await response.body?.cancel();
  });
  await t.step("GET / shows the mapping and no secret", async () => {
    const response = await get("/");
    const text = await response.text();
    const info = JSON.parse(text);
    assert.equal(info.name, "ccproxy");
    assert.equal(info.preferred_provider, "openai");
    assert.equal(info.routes["claude-haiku-5-5"], "openai/gpt-4.1-mini");
    assert.ok(!text.includes("sk-test-openai-key-0001"));
  });
  await t.step("GET /v1/models in the Anthropic list shape", async () => {
    const response = await get("/v1/models?limit=1000");
    const list = await response.json();
    assert.equal(list.has_more, false);
    assert.equal(list.first_id, list.data[0].id);
    assert.equal(list.last_id, list.data.at(-1).id);
    for (const model of list.data) {
      assert.equal(model.type, "model");
      assert.ok(model.id && model.display_name && model.created_at);
    }
    assert.match(
      list.data.find((m: { id: string }) => m.id === "claude-sonnet-5-5").display_name,
      /gpt-4\.1/,
    );
  });
  await t.step("GET /v1/models/{id}: known 200, unknown 404 not_found_error", async () => {
    assert.equal((await (await get("/v1/models/claude-opus-5-5")).json()).id, "claude-opus-5-5");
    const response = await get("/v1/models/nope");
    assert.equal(response.status, 404);
    assert.equal((await errorOf(response)).type, "not_found_error");
  });
  await t.step("unknown path 404, wrong method 405, both Anthropic-shaped", async () => {
    const missing = await get("/v2/whatever");
    assert.equal(missing.status, 404);
    assert.equal((await errorOf(missing)).type, "not_found_error");
    const wrong = await get("/v1/messages");
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get("allow"), "POST");
    assert.equal((await errorOf(wrong)).type, "invalid_request_error");
  });
});

Deno.test("POST /v1/messages answers non-streaming requests", async (t) => {
  const { post, upstream, lines } = setup([textReply(["Hel", "lo"])]);
  const response = await post(BODY, "/v1/messages?beta=true", { "x-api-key": "anything" });
  const message = await response.json();
  await t.step("the message shape", () => {
    assert.equal(response.status, 200);
    assert.match(message.id, /^msg_[A-Za-z0-9]{24}$/);
    assert.deepEqual({ ...message, id: "" }, {
      id: "",
      type: "message",
      role: "assistant",
      model: "claude-opus-5-5",
      content: [{ type: "text", text: "Hello" }],
      stop_reason: "end_turn",
      stop_sequence: null,
      stop_details: null,
      usage: {
        input_tokens: 12,
        output_tokens: 5,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
      },
    });
  });
  await t.step("the upstream call", () => {
    assert.equal(upstream.requests.length, 1);
    const call = upstream.requests[0];
    assert.equal(call.url, "https://api.openai.com/v1/chat/completions");
    assert.equal(call.headers.get("authorization"), "Bearer sk-test-openai-key-0001");
    assert.equal(call.body.model, "gpt-4.1");
    assert.equal(call.body.max_tokens, 32_768);
    assert.equal(call.body.stream, true);
  });
  await t.step("one log line with route, status and tokens, no key", () => {
    assert.equal(lines.length, 1);
    assert.match(
      lines[0],
      /^\S+ req_\w+ POST \/v1\/messages claude-opus-5-5 → openai\/gpt-4\.1 api=openai-chat sync messages=1 tools=0 200 [\d.]+ms ttft=[\d.]+ms in=12 out=5$/,
    );
  });
});

Deno.test("POST /v1/messages streams named SSE events", async () => {
  const { post } = setup([toolReply([{ id: "call_1", name: "Write", args: { a: 1 } }], "ok")]);
  const response = await post({ ...BODY, stream: true }, "/v1/messages", {
    authorization: "Bearer anything",
    "anthropic-version": "2026-10-21",
  });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "text/event-stream; charset=utf-8");
  assert.match(response.headers.get("request-id")!, /^req_/);
  const events = parseClientSse(await response.text());
  assertValidStream(events);
  assert.deepEqual(events.slice(0, 2).map((e) => e.type), ["message_start", "ping"]);
});

Deno.test("routing follows the model family", async (t) => {
  const cases: Array<[string, Record<string, string>, string]> = [
    ["claude-haiku-5-5", {}, "gpt-4.1-mini"],
    ["claude-3-5-haiku-latest", {}, "gpt-4.1-mini"],
    ["claude-sonnet-5-5", {}, "gpt-4.1"],
    ["claude-sonnet-5-5", { MIDDLE_MODEL: "gpt-4.1-nano" }, "gpt-4.1-nano"],
    ["claude-opus-5-5", { BIG_MODEL: "o3", OPENAI_API_MODE: "chat" }, "o3"],
    ["claude-fable-5", {}, "gpt-4.1"],
    ["claude-mythos-5-1", {}, "gpt-4.1"],
    ["gpt-4o-mini", {}, "gpt-4o-mini"],
    ["openai/gpt-5", { OPENAI_API_MODE: "chat" }, "gpt-5"],
  ];
  for (const [model, env, expected] of cases) {
    await t.step(`${model} → ${expected}`, async () => {
      const { post, upstream } = setup([textReply(["x"])], {}, env);
      const response = await post({ ...BODY, model });
      assert.equal((await response.json()).model, model);
      assert.equal(upstream.requests[0].body.model, expected);
    });
  }
});

Deno.test("bad requests are 400 naming the field, and nothing goes upstream", async (t) => {
  const cases: Array<[string, unknown, RegExp]> = [
    ["malformed JSON", "{nope", /invalid JSON body/],
    ["not an object", "[1]", /must be a JSON object/],
    ["missing model", { max_tokens: 1, messages: [] }, /^model: /],
    ["missing max_tokens", { model: "claude-opus-5-5", messages: BODY.messages }, /^max_tokens: /],
    ["missing messages", { model: "claude-opus-5-5", max_tokens: 1 }, /^messages: /],
    ["negative max_tokens", { ...BODY, max_tokens: -1 }, /^max_tokens: /],
    ["text of the wrong type", {
      ...BODY,
      messages: [{ role: "user", content: [{ type: "text", text: 5 }] }],
    }, /^messages\.0\.content\.0\.text: /],
    [
      "unknown role",
      { ...BODY, messages: [{ role: "robot", content: "x" }] },
      /^messages\.0\.role: /,
    ],
    ["tool_use without an id", {
      ...BODY,
      messages: [{ role: "assistant", content: [{ type: "tool_use", name: "x", input: {} }] }],
    }, /^messages\.0\.content\.0\.id: /],
    ["bad tool_choice", { ...BODY, tool_choice: { type: "sometimes" } }, /^tool_choice/],
  ];
  for (const [name, body, message] of cases) {
    await t.step(name, async () => {
      const { post, upstream } = setup([textReply(["x"])]);
      const response = await post(body);
      assert.equal(response.status, 400);
      const error = await errorOf(response);
      assert.equal(error.type, "invalid_request_error");
      assert.match(error.message, message);
      assert.equal(upstream.requests.length, 0);
    });
  }
});

Deno.test("unknown fields and Claude Code extras are accepted", async () => {
  const { post, upstream } = setup([textReply(["x"])]);
  const response = await post({
    ...BODY,
    context_management: { edits: [] },
    output_config: { effort: "medium" },
    diagnostics: {},
    container: null,
    speed: "fast",
    service_tier: "auto",
    inference_geo: "us",
    mcp_servers: [],
    betas: ["x"],
    cache_control: { type: "ephemeral" },
    thinking: { type: "adaptive", display: "omitted" },
    messages: [
      {
        role: "user",
        content: [{
          type: "text",
          text: "hi",
          cache_control: { type: "ephemeral" },
          citations: null,
        }],
        clear_at: "never",
      },
      { role: "system", content: "env", output_config: { effort: "low" } },
    ],
  });
  assert.equal(response.status, 200);
  await response.body?.cancel();
  assert.ok(!JSON.stringify(upstream.requests[0].body).includes("cache_control"));
});

Deno.test("upstream errors keep their status and become Anthropic errors", async (t) => {
  const cases: Array<[string, Reply, number, string, RegExp?, Record<string, string>?]> = [
    [
      "400",
      { status: 400, error: { error: { message: "bad thing", type: "invalid_request_error" } } },
      400,
      "invalid_request_error",
      /bad thing/,
    ],
    [
      "401",
      {
        status: 401,
        error: {
          error: { message: "Incorrect API key provided: sk-abc***xyz", code: "invalid_api_key" },
        },
      },
      403,
      "permission_error",
      /^openai rejected the proxy's API key \(401\): Incorrect API key provided: sk-abc\*\*\*xyz; check OPENAI_API_KEY$/,
    ],
    [
      "403",
      { status: 403, error: { error: { message: "region" } } },
      403,
      "permission_error",
      /^openai rejected the proxy's API key \(403\): region; check OPENAI_API_KEY$/,
    ],
    [
      "404",
      {
        status: 404,
        error: { error: { message: "The model `gpt-9` does not exist", code: "model_not_found" } },
      },
      404,
      "not_found_error",
      /gpt-9/,
    ],
    ["413", { status: 413, error: { error: { message: "too big" } } }, 413, "request_too_large"],
    [
      "429 with retry-after",
      {
        status: 429,
        headers: { "retry-after": "7" },
        error: { error: { message: "slow down", code: "rate_limit_exceeded" } },
      },
      429,
      "rate_limit_error",
      /slow down/,
      { "retry-after": "7" },
    ],
    [
      "429 insufficient_quota → 402",
      {
        status: 429,
        error: {
          error: { message: "quota", type: "insufficient_quota", code: "insufficient_quota" },
        },
      },
      402,
      "billing_error",
    ],
    ["500", { status: 500, error: { error: { message: "boom" } } }, 500, "api_error"],
    ["502", { status: 502, error: "bad gateway" }, 500, "api_error"],
    ["503 → 529", { status: 503, error: { error: { message: "busy" } } }, 529, "overloaded_error"],
    ["504", { status: 504, error: { error: { message: "slow" } } }, 504, "timeout_error"],
    [
      "context overflow",
      {
        status: 400,
        error: {
          error: {
            message:
              "This model's maximum context length is 128000 tokens. However, your messages resulted in 130567 tokens. Please reduce the length of the messages.",
            code: "context_length_exceeded",
          },
        },
      },
      400,
      "invalid_request_error",
      /^prompt is too long: 130567 tokens > 128000 maximum$/,
    ],
    [
      "output cap",
      {
        status: 400,
        error: {
          error: {
            message:
              "max_tokens is too large: 128000. This model supports at most 16384 completion tokens, whereas you provided 128000.",
          },
        },
      },
      400,
      "invalid_request_error",
      /^max_tokens: 128000 > 16384, which is the maximum allowed number of output tokens for claude-opus-5-5$/,
    ],
  ];
  for (const [name, reply, status, type, message, headers] of cases) {
    for (const stream of [false, true]) {
      await t.step(`${name} (${stream ? "stream" : "sync"})`, async () => {
        const { post } = setup([reply]);
        const response = await post({ ...BODY, stream });
        assert.equal(response.status, status);
        assert.equal(response.headers.get("content-type"), "application/json");
        const error = await errorOf(response);
        assert.equal(error.type, type);
        if (message) assert.match(error.message, message);
        for (const [key, value] of Object.entries(headers ?? {})) {
          assert.equal(response.headers.get(key), value);
        }
      });
    }
  }
});

Deno.test("an unreachable upstream is a 5xx the SDKs retry", async () => {
  const { post } = setup(() => {
    throw new TypeError("error sending request: Connection refused (os error 111)");
  });
  const response = await post(BODY);
  assert.equal(response.status, 502);
  const error = await errorOf(response);
  assert.equal(error.type, "api_error");
  assert.match(error.message, /unreachable/);
});

Deno.test("a failure after the stream started is an error event, not a torn connection", async () => {
  let pulls = 0;
  const { post } = setup([]);
  const upstream = {
    fetch: () =>
      Promise.resolve(
        new Response(
          new ReadableStream({
            pull(controller) {
              if (pulls++ === 0) {
                controller.enqueue(
                  new TextEncoder().encode(
                    'data: {"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}\n\n',
                  ),
                );
              } else controller.error(new Error("connection reset by peer"));
            },
          }),
          { headers: { "content-type": "text/event-stream" } },
        ),
      ),
  };
  void post;
  const handler = createHandler(testConfig(), {
    fetch: upstream.fetch,
    logger: createLogger({ write: () => {} }),
  });
  const response = await handler(
    new Request("http://proxy/v1/messages", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...BODY, stream: true }),
    }),
  );
  assert.equal(response.status, 200);
  const events = parseClientSse(await response.text());
  assertValidStream(events);
  const last = events.at(-1) as StreamEvent & { type: "error" };
  assert.equal(last.type, "error");
  assert.match(last.error.message, /connection reset/);
});

Deno.test("keep-alive pings fill upstream silence and stop with the stream", async () => {
  const clock = manualScheduler();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const encoder = new TextEncoder();
  const upstream = {
    fetch: () =>
      Promise.resolve(
        new Response(
          ReadableStream.from((async function* () {
            // The first event commits the answer (an error there would still be an HTTP error).
            yield encoder.encode(
              'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n',
            );
            await gate;
            yield encoder.encode(
              'data: {"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n',
            );
          })()),
        ),
      ),
  };
  const handler = createHandler(testConfig(), {
    fetch: upstream.fetch,
    logger: createLogger({ write: () => {} }),
    scheduler: clock.scheduler,
  });
  const response = await handler(
    new Request("http://proxy/v1/messages", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...BODY, stream: true }),
    }),
  );
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("event: ping")) text += (await reader.read()).value;
  clock.tick(); // first tick after message_start: the stream was busy
  clock.tick(); // a silent interval: ping
  clock.tick();
  release();
  for (let next = await reader.read(); !next.done; next = await reader.read()) text += next.value;
  const events = parseClientSse(text);
  assertValidStream(events);
  assert.equal(events.filter((e) => e.type === "ping").length, 3);
  assert.equal(clock.active, 0, "the timer is stopped");
});

Deno.test("a client that disconnects aborts the upstream request", async () => {
  let upstreamSignal: AbortSignal | undefined;
  const upstream = {
    fetch: (input: RequestInfo | URL, init?: RequestInit) => {
      upstreamSignal = init?.signal ?? (input as Request).signal;
      return Promise.resolve(
        new Response(
          new ReadableStream({
            start(controller) {
              controller.enqueue(
                new TextEncoder().encode(
                  'data: {"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}\n\n',
                ),
              );
            },
          }),
        ),
      );
    },
  };
  const handler = createHandler(testConfig(), {
    fetch: upstream.fetch,
    logger: createLogger({ write: () => {} }),
  });
  const client = new AbortController();
  const response = await handler(
    new Request("http://proxy/v1/messages", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...BODY, stream: true }),
      signal: client.signal,
    }),
  );
  const reader = response.body!.getReader();
  await reader.read();
  client.abort();
  await reader.cancel();
  assert.equal(upstreamSignal?.aborted, true);
});

Deno.test("max_tokens 0 is answered locally without an upstream call", async () => {
  const { post, upstream } = setup([]);
  const message = await (await post({ ...BODY, max_tokens: 0 })).json();
  assert.deepEqual(message.content, []);
  assert.equal(message.stop_reason, "max_tokens");
  assert.ok(message.usage.input_tokens > 0);
  assert.equal(upstream.requests.length, 0);
});

Deno.test("POST /v1/messages/count_tokens counts system, messages and tools", async (t) => {
  const { post } = setup([]);
  const count = async (body: unknown) => {
    const response = await post(body, "/v1/messages/count_tokens?beta=true");
    assert.equal(response.status, 200);
    return (await response.json()).input_tokens as number;
  };
  const base = { model: "claude-opus-5-5", messages: [{ role: "user", content: "hello there" }] };
  const plain = await count(base);
  await t.step("a positive count", () => assert.ok(plain > 0));
  await t.step("system adds tokens", async () => {
    assert.ok(await count({ ...base, system: "You are a careful assistant." }) > plain);
  });
  await t.step("tools add tokens, Anthropic-only tool fields accepted", async () => {
    const withTools = await count({
      ...base,
      tools: [{
        name: "Bash",
        description: "Run a shell command",
        input_schema: { type: "object", properties: { command: { type: "string" } } },
        eager_input_streaming: true,
        strict: true,
        cache_control: { type: "ephemeral" },
      }],
    });
    assert.ok(withTools > plain + 10);
  });
  await t.step("a deferred tool adds tokens only once loaded (it is not sent before)", async () => {
    const deferred = {
      name: "mcp__x__y",
      description: "A deferred tool",
      input_schema: { type: "object", properties: { query: { type: "string" } } },
      defer_loading: true,
    };
    const loading = [{
      role: "system",
      content: [{ type: "tool_addition", tool: { type: "tool_reference", name: "mcp__x__y" } }],
    }];
    assert.equal(await count({ ...base, tools: [deferred] }), plain);
    assert.ok(
      await count({ ...base, messages: [...base.messages, ...loading], tools: [deferred] }) >
        await count({ ...base, messages: [...base.messages, ...loading] }) + 10,
    );
  });
  await t.step("an image counts by its size", async () => {
    // 1x1 PNG → one tile: 85 + 170
    const png =
      "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
    const withImage = await count({
      ...base,
      messages: [{
        role: "user",
        content: [{ type: "text", text: "hello there" }, {
          type: "image",
          source: { type: "base64", media_type: "image/png", data: png },
        }],
      }],
    });
    assert.equal(withImage - plain, 255);
  });
  await t.step("malformed input is a 400", async () => {
    const response = await post({ model: 5 }, "/v1/messages/count_tokens");
    assert.equal(response.status, 400);
    await response.body?.cancel();
  });
});

Deno.test("no configured key appears in responses or logs, even when the upstream echoes it", async () => {
  const key = "sk-test-openai-key-0001";
  const { post, lines } = setup(
    [{ status: 401, error: { error: { message: `Incorrect API key provided: ${key}` } } }],
    {},
    {
      DEBUG: "true",
    },
  );
  const response = await post(BODY);
  const text = await response.text();
  assert.ok(!text.includes(key));
  assert.match(lines.join("\n"), /upstream openai request/, "debug lines were written");
  assert.ok(!lines.join("\n").includes(key));
});

Deno.test("every request gets one log line, failures and plain routes included", async () => {
  const { post, handler, lines } = setup([textReply(["x"]), {
    status: 429,
    error: { error: { message: "slow" } },
  }]);
  await (await post({ ...BODY, stream: true })).text();
  await (await post(BODY)).text();
  await (await post("{bad")).text();
  await (await handler(new Request("http://proxy/health"))).text();
  assert.equal(lines.length, 4, lines.join("\n"));
  assert.match(
    lines[0],
    / POST \/v1\/messages claude-opus-5-5 → openai\/gpt-4\.1 api=openai-chat stream messages=1 tools=0 200 [\d.]+ms ttft=[\d.]+ms in=12 out=5$/,
  );
  assert.match(
    lines[1],
    / sync messages=1 tools=0 429 [\d.]+ms error=rate_limit_error "openai returned 429: slow"$/,
  );
  assert.match(
    lines[2],
    / POST \/v1\/messages 400 [\d.]+ms error=invalid_request_error "invalid JSON body: .+"$/,
  );
  assert.match(lines[3], / GET \/health 200 [\d.]+ms$/);
});

Deno.test("blocks inside a tool result are checked like any content", async () => {
  const { post, upstream } = setup([textReply(["x"])]);
  const response = await post({
    ...BODY,
    messages: [
      { role: "user", content: "go" },
      { role: "assistant", content: [{ type: "tool_use", id: "t1", name: "Read", input: {} }] },
      {
        role: "user",
        content: [{
          type: "tool_result",
          tool_use_id: "t1",
          content: [{ type: "text", text: ["not", "a", "string"] }],
        }],
      },
    ],
  });
  assert.equal(response.status, 400);
  assert.match((await errorOf(response)).message, /^messages\.2\.content\.0\.content\.0\.text: /);
  assert.equal(upstream.requests.length, 0);
});

Deno.test("JSON nested absurdly deep is a 400, not a crash", async () => {
  const { post } = setup([textReply(["x"])]);
  const deep = "[".repeat(50_000) + "]".repeat(50_000);
  const response = await post(
    `{"model":"claude-opus-5-5","max_tokens":1,"messages":[],"x":${deep}}`,
  );
  assert.equal(response.status, 400);
  assert.match((await errorOf(response)).message, /nested deeper than 200 levels/);
});

Deno.test("JSON nesting is counted outside strings only, escaped quotes included", async (t) => {
  const { post } = setup([textReply(["x"])]);
  const deep = "[".repeat(201) + "]".repeat(201);
  const cases: Array<[string, string, number]> = [
    ["brackets inside a string", JSON.stringify({ x: deep }), 200],
    ["after a string ending in an escaped quote", `{"x":"a\\\"${deep}","y":${deep}}`, 400],
    ["after a string ending in an escaped backslash", `{"x":"a\\\\","y":${deep}}`, 400],
    ["inside a string holding escaped quotes", `{"x":"\\"${deep}\\""}`, 200],
  ];
  for (const [name, extra, status] of cases) {
    await t.step(name, async () => {
      const body = `{"model":"claude-opus-5-5","max_tokens":1,"messages":[{"role":"user",` +
        `"content":"hi"}],"metadata":${extra}}`;
      const response = await post(body);
      assert.equal(response.status, status, await response.clone().text());
      await response.body?.cancel();
    });
  }
});

Deno.test("a search request no configured backend can run is answered here, saying why", async (t) => {
  const webSearch = { type: "web_search_20250305", name: "web_search", max_uses: 8 };
  // An OpenAI-compatible server on Chat has no hosted web search.
  const chatOnly = { OPENAI_BASE_URL: "http://127.0.0.1:9/v1" };
  await t.step("no upstream call; a plain end_turn saying search is unavailable", async () => {
    const { post, upstream, lines } = setup([textReply(["invented results"])], {}, chatOnly);
    const message = await (await post({ ...BODY, tools: [webSearch] })).json();
    assert.equal(message.stop_reason, "end_turn");
    assert.match(message.content[0].text, /^Web search is not available/);
    assert.equal(upstream.requests.length, 0);
    assert.match(
      lines.join("\n"),
      /web-search=unavailable \(OPENAI_BASE_URL is not api\.openai\.com/,
    );
  });
  await t.step("streaming too", async () => {
    const { post } = setup([], {}, chatOnly);
    const events = parseClientSse(
      await (await post({ ...BODY, stream: true, tools: [webSearch] })).text(),
    );
    assertValidStream(events);
  });
  await t.step(
    "mixed with client tools, the request goes upstream without the server tool",
    async () => {
      const { post, upstream, lines } = setup([textReply(["ok"])], {}, chatOnly);
      await (await post({
        ...BODY,
        tools: [webSearch, { name: "Read", input_schema: { type: "object" } }],
      })).text();
      assert.deepEqual(
        (upstream.requests[0].body.tools as Array<{ function: { name: string } }>).map((t) =>
          t.function.name
        ),
        ["Read"],
      );
      assert.match(lines.join("\n"), /web-search=dropped/);
    },
  );
  await t.step("a server tool other than web search is answered here as before", async () => {
    const { post, upstream } = setup([textReply(["x"])]);
    const fetchTool = { type: "web_fetch_20250910", name: "web_fetch" };
    const message = await (await post({ ...BODY, tools: [fetchTool] })).json();
    assert.match(message.content[0].text, /^Web search is not available/);
    assert.equal(upstream.requests.length, 0);
  });
});
