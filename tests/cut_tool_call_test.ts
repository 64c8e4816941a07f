/**
 * A tool call cut off by the output limit is never completed into a different call: closing a
 * cut string (`rm -rf /tmp/build/cache` of `…/cache/old`) makes a valid call that Claude Code
 * runs. The answer ends in an error naming the tool instead, streaming or not.
 */
import assert from "node:assert/strict";
import { ANTHROPIC_START, anthropicEvent, sseResponse } from "../bench/fake_upstream.ts";
import type { StreamEvent } from "../lib/anthropic/schema.ts";
import { secretsOf } from "../lib/config.ts";
import { createLogger } from "../lib/server/log.ts";
import { createHandler } from "../lib/server/handler.ts";
import { assertValidStream, parseClientSse, testConfig } from "./helpers.ts";

const BODY = {
  model: "claude-opus-5-5",
  max_tokens: 100,
  messages: [{ role: "user", content: "clean the cache" }],
  tools: [{
    name: "Bash",
    input_schema: { type: "object", properties: { command: { type: "string" } } },
  }],
};
const CUT = '{"command": "rm -rf /tmp/build/cache';

function post(upstream: () => Response, stream: boolean, env: Record<string, string> = {}) {
  const config = testConfig({
    ANTHROPIC_API_KEY: "sk-ant-test-anthropic-key-0001",
    ANTHROPIC_UPSTREAM_URL: "http://anthropic.test",
    ...env,
  });
  const handler = createHandler(config, {
    fetch: () => Promise.resolve(upstream()),
    logger: createLogger({ secrets: secretsOf(config), write: () => {} }),
  });
  return handler(
    new Request("http://proxy/v1/messages", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...BODY, stream }),
    }),
  );
}

const chat = (delta: Record<string, unknown>, finish: string | null = null) =>
  `data: ${JSON.stringify({ choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;

/** An OpenAI Chat answer: one Bash call whose arguments are `args`, then `finish`. */
function chatCall(args: string, finish: string): Response {
  return sseResponse(
    chat({ role: "assistant", content: null }),
    chat({
      tool_calls: [{ index: 0, id: "call_0", type: "function", function: { name: "Bash" } }],
    }),
    chat({ tool_calls: [{ index: 0, function: { arguments: args } }] }),
    chat({}, finish),
    "data: [DONE]\n\n",
  );
}

const responsesEvent = (event: Record<string, unknown>) =>
  `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;

/** A Responses answer cut by `max_output_tokens` inside a Bash call's arguments. */
function responsesCut(): Response {
  const item = {
    type: "function_call",
    id: "fc_1",
    call_id: "call_1",
    name: "Bash",
    arguments: "",
  };
  return sseResponse(
    responsesEvent({ type: "response.created", response: { id: "r", status: "in_progress" } }),
    responsesEvent({ type: "response.output_item.added", output_index: 0, item }),
    responsesEvent({
      type: "response.function_call_arguments.delta",
      item_id: "fc_1",
      output_index: 0,
      delta: CUT,
    }),
    responsesEvent({
      type: "response.incomplete",
      response: {
        id: "r",
        status: "incomplete",
        incomplete_details: { reason: "max_output_tokens" },
        usage: { input_tokens: 10, output_tokens: 100, total_tokens: 110 },
      },
    }),
  );
}

/** An Anthropic-compatible upstream that stops at max_tokens inside a tool_use block. */
function anthropicCut(): Response {
  return sseResponse(
    ANTHROPIC_START,
    anthropicEvent({
      type: "content_block_start",
      index: 0,
      content_block: { type: "tool_use", id: "toolu_1", name: "Bash", input: {} },
    }),
    anthropicEvent({
      type: "content_block_delta",
      index: 0,
      delta: { type: "input_json_delta", partial_json: CUT },
    }),
    anthropicEvent({ type: "content_block_stop", index: 0 }),
    anthropicEvent({
      type: "message_delta",
      delta: { stop_reason: "max_tokens", stop_sequence: null },
      usage: { output_tokens: 100 },
    }),
    anthropicEvent({ type: "message_stop" }),
  );
}

/** The concatenated `input_json_delta` fragments of a stream. */
function argsOf(events: StreamEvent[]): string {
  return events.map((e) =>
    e.type === "content_block_delta" && e.delta.type === "input_json_delta"
      ? e.delta.partial_json
      : ""
  ).join("");
}

const LIMIT =
  /^openai: the output limit cut the call to tool "Bash" before its arguments were complete \(raise max_tokens\)$/;

Deno.test("a tool call cut by the output limit is an error naming the tool, never a shorter call", async (t) => {
  await t.step("Chat, streaming: the fragments stay as sent, then an error", async () => {
    const response = await post(() => chatCall(CUT, "length"), true);
    const events = parseClientSse(await response.text());
    assertValidStream(events);
    assert.equal(argsOf(events), CUT, "nothing appended to the cut arguments");
    const last = events.at(-1) as StreamEvent & { type: "error" };
    assert.equal(last.type, "error");
    assert.match(last.error.message, LIMIT);
    assert.ok(!events.some((e) => e.type === "message_stop"));
  });
  await t.step("Chat, not streaming: an error, no tool_use", async () => {
    const response = await post(() => chatCall(CUT, "length"), false);
    assert.ok(response.status >= 500);
    const body = await response.json();
    assert.equal(body.type, "error");
    assert.match(body.error.message, LIMIT);
  });
  await t.step("a cut right after the tool's name: no arguments are no call either", async () => {
    const response = await post(() => chatCall("", "length"), false);
    assert.match((await response.json()).error.message, LIMIT);
  });
  await t.step("Responses API cut by max_output_tokens (both modes)", async () => {
    const env = { OPENAI_API_MODE: "responses" };
    const events = parseClientSse(await (await post(responsesCut, true, env)).text());
    assertValidStream(events);
    assert.equal(argsOf(events), CUT);
    assert.match((events.at(-1) as StreamEvent & { type: "error" }).error.message, LIMIT);
    const body = await (await post(responsesCut, false, env)).json();
    assert.match(body.error.message, LIMIT);
  });
  await t.step("Anthropic passthrough, not streaming: the cut input is not completed", async () => {
    const env = { PREFERRED_PROVIDER: "anthropic" };
    const response = await post(anthropicCut, false, env);
    const body = await response.json();
    assert.equal(body.type, "error");
    assert.match(body.error.message, /output limit cut the call to tool "Bash"/);
  });
  await t.step("complete arguments missing only whitespace are fine", async () => {
    const response = await post(() => chatCall('{"command": "ls"}  ', "length"), false);
    assert.equal(response.status, 200);
    const message = await response.json();
    assert.deepEqual(message.content[0].input, { command: "ls" });
    assert.equal(message.stop_reason, "max_tokens");
  });
  await t.step("a call that stops short without the limit is an error too", async () => {
    const response = await post(() => chatCall(CUT, "tool_calls"), true);
    const events = parseClientSse(await response.text());
    assertValidStream(events);
    assert.equal(argsOf(events), CUT);
    assert.match(
      (events.at(-1) as StreamEvent & { type: "error" }).error.message,
      /^openai: the call to tool "Bash" ended before its arguments were complete JSON$/,
    );
  });
  await t.step(
    "a stream cut inside the arguments: the error names the tool (both modes)",
    async () => {
      const cut = () =>
        sseResponse(
          chat({ role: "assistant", content: null }),
          chat({
            tool_calls: [{ index: 0, id: "call_0", type: "function", function: { name: "Bash" } }],
          }),
          chat({ tool_calls: [{ index: 0, function: { arguments: CUT } }] }),
        );
      const message =
        /^openai: upstream stream ended without a finish reason \(the call to tool "Bash" was cut before its arguments were complete\)$/;
      const events = parseClientSse(await (await post(cut, true)).text());
      assertValidStream(events);
      assert.equal(argsOf(events), CUT);
      assert.match((events.at(-1) as StreamEvent & { type: "error" }).error.message, message);
      assert.match((await (await post(cut, false)).json()).error.message, message);
    },
  );
  await t.step("a tool without parameters may send no arguments at all", async () => {
    const response = await post(() => chatCall("", "tool_calls"), false);
    assert.equal(response.status, 200);
    assert.deepEqual((await response.json()).content[0].input, {});
  });
});
