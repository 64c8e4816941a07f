/**
 * Requests Anthropic refuses are refused here too, with its messages, before anything goes
 * upstream; what Claude Code sends (`system`-role messages, every block type of the API) stays
 * accepted ("lenient in").
 */
import assert from "node:assert/strict";
import { createFakeUpstream, textReply } from "../bench/fake_upstream.ts";
import { createLogger } from "../lib/server/log.ts";
import { createHandler } from "../lib/server/handler.ts";
import { testConfig } from "./helpers.ts";

const BODY = {
  model: "claude-opus-5-5",
  max_tokens: 10,
  messages: [{ role: "user", content: "hi" }],
};

function setup() {
  const upstream = createFakeUpstream(() => textReply(["ok"]));
  const handler = createHandler(testConfig(), {
    fetch: upstream.fetch,
    logger: createLogger({ write: () => {} }),
  });
  const send = (path: string, init: RequestInit = {}) =>
    handler(new Request(`http://proxy${path}`, init));
  const post = (body: unknown, path = "/v1/messages") =>
    send(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  return { upstream, send, post };
}

const LONG = "a".repeat(70);

Deno.test("requests Anthropic refuses are a 400 with its message, and nothing goes upstream", async (t) => {
  const cases: Array<[string, unknown, RegExp]> = [
    ["no messages", { ...BODY, messages: [] }, /^messages: at least one message is required$/],
    [
      "an unknown content block type",
      {
        ...BODY,
        messages: [{ role: "user", content: [{ type: "weird", text: "x" }] }],
      },
      /^messages\.0\.content\.0: Input tag 'weird' found using 'type' does not match any of the expected tags: 'text', 'image', /,
    ],
    ["an unknown block type inside a tool result", {
      ...BODY,
      messages: [
        { role: "assistant", content: [{ type: "tool_use", id: "t1", name: "a", input: {} }] },
        {
          role: "user",
          content: [{ type: "tool_result", tool_use_id: "t1", content: [{ type: "weird" }] }],
        },
      ],
    }, /^messages\.1\.content\.0\.content\.0: Input tag 'weird'/],
    ["duplicate tool names", {
      ...BODY,
      tools: [
        { name: `${LONG}0`, input_schema: { type: "object" } },
        { name: `${LONG}0`, input_schema: { type: "object" } },
      ],
    }, /^tools: Tool names must be unique\.$/],
  ];
  for (const [name, body, message] of cases) {
    await t.step(name, async () => {
      const { post, upstream } = setup();
      for (const path of ["/v1/messages", "/v1/messages/count_tokens"]) {
        const response = await post(body, path);
        assert.equal(response.status, 400, path);
        const error = (await response.json()).error;
        assert.equal(error.type, "invalid_request_error");
        assert.match(error.message, message);
      }
      assert.equal(upstream.requests.length, 0);
    });
  }
});

Deno.test("what Claude Code and the API send stays accepted", async (t) => {
  await t.step("a system-role message inside messages (DESIGN decision 4)", async () => {
    const { post } = setup();
    const response = await post({
      ...BODY,
      messages: [...BODY.messages, { role: "system", content: "env" }],
    });
    assert.equal(response.status, 200);
    await response.body?.cancel();
  });
  await t.step("API block types the proxy does not translate (dropped, not refused)", async () => {
    const { post } = setup();
    const response = await post({
      ...BODY,
      messages: [
        { role: "user", content: "hi" },
        {
          role: "assistant",
          content: [
            { type: "redacted_thinking", data: "x" },
            { type: "compaction", content: "summary" },
            { type: "text", text: "ok" },
          ],
        },
        {
          role: "user",
          content: [{ type: "text", text: "go on" }, { type: "container_upload", file_id: "f" }],
        },
      ],
    });
    assert.equal(response.status, 200);
    await response.body?.cancel();
  });
  await t.step("distinct long tool names", async () => {
    const { post } = setup();
    const response = await post({
      ...BODY,
      tools: [
        { name: `${LONG}0`, input_schema: { type: "object" } },
        { name: `${LONG}1`, input_schema: { type: "object" } },
      ],
    });
    assert.equal(response.status, 200);
    await response.body?.cancel();
  });
});

Deno.test("a compressed body is a 415 that says why", async () => {
  const { send, upstream } = setup();
  const response = await send("/v1/messages", {
    method: "POST",
    headers: { "content-type": "application/json", "content-encoding": "gzip" },
    body: new Blob([JSON.stringify(BODY)]).stream().pipeThrough(new CompressionStream("gzip")),
  });
  assert.equal(response.status, 415);
  const error = (await response.json()).error;
  assert.equal(error.type, "invalid_request_error");
  assert.match(error.message, /Content-Encoding "gzip".*uncompressed/);
  assert.equal(upstream.requests.length, 0);
});

Deno.test("GET /v1/models/{id}: any claude-* name /v1/messages serves is a model", async () => {
  const { send } = setup();
  const response = await send("/v1/models/claude-3-5-sonnet-20241022");
  assert.equal(response.status, 200);
  const model = await response.json();
  assert.equal(model.type, "model");
  assert.equal(model.id, "claude-3-5-sonnet-20241022");
  assert.equal(model.target, "openai/gpt-4.1");
  const haiku = await (await send("/v1/models/claude-3-haiku-20240307")).json();
  assert.equal(haiku.target, "openai/gpt-4.1-mini");
  assert.equal((await send("/v1/models/gpt-4.1")).status, 404);
});
