/**
 * Logs that say why: each request's one line (or JSON object) is rendered from its record, and
 * carries the API that served it, the upstream's reason for a failure, each try's real status,
 * and the request id on every line that belongs to the request.
 */
import assert from "node:assert/strict";
import { createFakeUpstream, DIALECTS, type Reply, textReply } from "../bench/fake_upstream.ts";
import { secretsOf } from "../lib/config.ts";
import { createLogger } from "../lib/server/log.ts";
import { createHandler, type HandlerOptions } from "../lib/server/handler.ts";
import type { RequestRecord } from "../lib/server/request_record.ts";
import { testConfig } from "./helpers.ts";

const BODY = {
  model: "claude-opus-5-5",
  max_tokens: 1024,
  messages: [{ role: "user", content: "hi" }],
};

const AZURE = {
  PREFERRED_PROVIDER: "azure",
  AZURE_OPENAI_API_KEY: "az-test-key-0001",
  AZURE_OPENAI_ENDPOINT: "https://res.openai.azure.com",
  BIG_MODEL: "my-big-deploy",
};

function setup(
  replies: Reply[] | Parameters<typeof createFakeUpstream>[0],
  env: Record<string, string> = {},
  options: HandlerOptions = {},
) {
  const upstream = createFakeUpstream(replies);
  const lines: string[] = [];
  const records: RequestRecord[] = [];
  const config = testConfig(env);
  const logger = createLogger({
    debug: config.debug,
    secrets: secretsOf(config),
    format: config.logFormat,
    write: (line) => lines.push(line),
  });
  const handler = createHandler(config, {
    fetch: upstream.fetch,
    logger,
    onRecord: (record) => records.push(structuredClone(record)),
    ...options,
  });
  const post = (body: unknown, headers: Record<string, string> = {}) =>
    handler(
      new Request("http://proxy/v1/messages", {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
      }),
    );
  return { upstream, post, lines, records };
}

Deno.test("a wrong Azure deployment: the log line says which API and what Azure answered", async () => {
  const { post, lines, records } = setup(
    [DIALECTS.azure.error(404, "The API deployment for this resource does not exist.")],
    AZURE,
  );
  const response = await post(BODY);
  assert.equal(response.status, 404);
  await response.body?.cancel();
  assert.equal(lines.length, 1);
  assert.match(
    lines[0],
    / POST \/v1\/messages claude-opus-5-5 → azure\/my-big-deploy api=azure-chat sync messages=1 tools=0 404 [\d.]+ms error=not_found_error "azure returned 404: The API deployment for this resource does not exist\."$/,
  );
  assert.deepEqual(records[0].error, {
    type: "not_found_error",
    message: "azure returned 404: The API deployment for this resource does not exist.",
    upstreamStatus: 404,
  });
  assert.equal(records[0].api, "azure-chat");
});

Deno.test("a refused provider key: 403 naming the variable, one loud line for the first", async () => {
  const { post, lines } = setup([
    DIALECTS.openai.error(401, "Incorrect API key provided: sk-wr***ng."),
  ]);
  for (let i = 0; i < 2; i++) {
    const response = await post(i ? { ...BODY, stream: true } : BODY);
    assert.equal(response.status, 403);
    const body = await response.json();
    assert.deepEqual(body.error, {
      type: "permission_error",
      message:
        "openai rejected the proxy's API key (401): Incorrect API key provided: sk-wr***ng.; check OPENAI_API_KEY",
    });
  }
  const loud = lines.filter((l) => l.includes("WARNING"));
  assert.equal(loud.length, 1, lines.join("\n"));
  assert.match(loud[0], /check OPENAI_API_KEY\. Every request to this provider fails until/);
  assert.equal(lines.filter((l) => / 403 [\d.]+ms error=permission_error /.test(l)).length, 2);
});

Deno.test("the client's own wrong PROXY_API_KEY stays a 401", async () => {
  const { post, upstream } = setup([textReply(["x"])], { PROXY_API_KEY: "right-key-0001-abcdef" });
  const response = await post(BODY, { "x-api-key": "wrong" });
  assert.equal(response.status, 401);
  assert.equal((await response.json()).error.type, "authentication_error");
  assert.equal(upstream.requests.length, 0);
});

Deno.test("answers made here are api=local, without an upstream token count", async (t) => {
  const { post, lines, records, upstream } = setup([textReply(["x"])]);
  await t.step("max_tokens: 0", async () => {
    await (await post({ ...BODY, max_tokens: 0 })).text();
    assert.match(lines.at(-1)!, / api=local sync messages=1 tools=0 200 [\d.]+ms/);
    assert.doesNotMatch(lines.at(-1)!, / in=\d+/);
    assert.equal(records.at(-1)!.usage, undefined);
  });
  await t.step("web search without a search backend", async () => {
    // An OpenAI-compatible server on Chat has no hosted web search.
    const chatOnly = setup([textReply(["x"])], { OPENAI_BASE_URL: "http://127.0.0.1:9/v1" });
    const tools = [{ type: "web_search_20250305", name: "web_search", max_uses: 8 }];
    await (await chatOnly.post({ ...BODY, tools, stream: true })).text();
    const line = chatOnly.lines.at(-1)!;
    assert.match(line, / api=local stream messages=1 tools=1 200 [\d.]+ms/);
    assert.match(line, /web-search=unavailable/);
    assert.doesNotMatch(line, / in=\d+/);
    assert.equal(chatOnly.upstream.requests.length, 0);
  });
  assert.equal(upstream.requests.length, 0);
});

Deno.test("every line of a request carries its id: the DEBUG upstream line, stream failed", async () => {
  const encoder = new TextEncoder();
  const lines: string[] = [];
  const handler = createHandler(testConfig({ DEBUG: "true" }), {
    logger: createLogger({ debug: true, write: (line) => lines.push(line) }),
    fetch: () =>
      Promise.resolve(
        new Response(
          new ReadableStream({
            start(controller) {
              controller.enqueue(encoder.encode(
                'data: {"choices":[{"index":0,"delta":{"content":"part"},"finish_reason":null}]}\n\n',
              ));
              controller.error(new Error("connection reset"));
            },
          }),
          { headers: { "content-type": "text/event-stream" } },
        ),
      ),
  });
  const response = await handler(
    new Request("http://proxy/v1/messages", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...BODY, stream: true }),
    }),
  );
  assert.match(await response.text(), /event: error/);
  const id = response.headers.get("request-id")!;
  const debug = lines.find((l) => l.includes("upstream openai request:"));
  const failed = lines.find((l) => l.includes("stream failed:"));
  assert.match(debug ?? "", new RegExp(`^\\S+ ${id} upstream openai request:`));
  assert.match(failed ?? "", new RegExp(`^\\S+ ${id} stream failed: .*connection reset`));
  assert.match(
    lines.at(-1)!,
    new RegExp(`^\\S+ ${id} .* 200 [\\d.]+ms error=api_error "openai: .*"$`),
  );
});

Deno.test("LOG_FORMAT=json: the same facts as one JSON object per line", async () => {
  const { post, lines } = setup(
    (_, i) => i < 1 ? DIALECTS.openai.error(503, "busy") : textReply(["Hello"]),
    { LOG_FORMAT: "json", DEBUG: "true", MAX_RETRIES: "1" },
    { sleep: () => Promise.resolve() },
  );
  const response = await post(BODY);
  assert.equal(response.status, 200);
  await response.body?.cancel();
  const objects = lines.map((line) => JSON.parse(line));
  const id = response.headers.get("request-id");
  for (const object of objects) assert.equal(object.requestId, id, JSON.stringify(object));
  const debug = objects.find((o) => o.level === "debug");
  assert.match(debug.message, /^upstream openai request: /);
  const record = objects.at(-1);
  assert.equal(record.level, "info");
  assert.equal(record.method, "POST");
  assert.equal(record.path, "/v1/messages");
  assert.equal(record.clientModel, "claude-opus-5-5");
  assert.equal(record.provider, "openai");
  assert.equal(record.backendModel, "gpt-4.1");
  assert.equal(record.api, "openai-chat");
  assert.equal(record.stream, false);
  assert.equal(record.status, 200);
  assert.deepEqual(record.tries, [
    { provider: "openai", model: "gpt-4.1", result: 503 },
    { provider: "openai", model: "gpt-4.1", result: "ok" },
  ]);
  assert.deepEqual(record.usage, {
    input_tokens: 12,
    output_tokens: 5,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
  });
  assert.equal(typeof record.latencyMs, "number");
  assert.equal(typeof record.ttftMs, "number");
});

Deno.test("LOG_FORMAT takes text or json", () => {
  assert.equal(testConfig({}).logFormat, "text");
  assert.equal(testConfig({ LOG_FORMAT: "JSON" }).logFormat, "json");
  assert.throws(() => testConfig({ LOG_FORMAT: "xml" }), /LOG_FORMAT takes text or json/);
});

Deno.test("control characters from clients and upstreams are escaped in the text log (no forged lines, no escape codes)", async (t) => {
  // deno-lint-ignore no-control-regex
  const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
  const forged = "openai/x\n2026-11-29T00:00:00.000Z req_FAKE POST /v1/messages admin login ok" +
    "\u001b[31mRED\u009b2J\u007f\u2028\u2029\r";
  await t.step("a pinned model name", async () => {
    const { post, lines } = setup([textReply(["ok"])]);
    const response = await post({ ...BODY, model: forged });
    await response.body?.cancel();
    assert.ok(lines.length >= 1);
    for (const line of lines) assert.doesNotMatch(line, CONTROL, JSON.stringify(line));
    assert.match(
      lines.at(-1)!,
      /openai\/x\\n2026-11-29T00:00:00\.000Z req_FAKE .*ok\\u001b\[31mRED\\u009b2J\\u007f\\u2028\\u2029\\r/,
    );
  });
  await t.step("an upstream's error message", async () => {
    const { post, lines } = setup([
      DIALECTS.openai.error(400, "bad\u009b31m\u2028x\u001b]0;t\u0007"),
    ]);
    const response = await post(BODY);
    await response.body?.cancel();
    for (const line of lines) assert.doesNotMatch(line, CONTROL, JSON.stringify(line));
    assert.match(lines.at(-1)!, /bad\\u009b31m/);
  });
  await t.step("info lines too", () => {
    const lines: string[] = [];
    createLogger({ write: (l) => lines.push(l) }).forRequest("req_1").info("a\nb\u001b[0m\u0085");
    assert.match(lines[0], / req_1 a\\nb\\u001b\[0m\\u0085$/);
  });
});
