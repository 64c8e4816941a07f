/**
 * Requests shaped like Claude Code 2.1.x's (PROTOCOL.md 1.12: three system blocks with a billing
 * line, a system-reminder, a trailing role:"system" message, 12 tools with draft 2020-12 schemas
 * and a deferred placeholder, cache_control markers, a long metadata.user_id), replayed through
 * the handler.
 */
import assert from "node:assert/strict";
import { createFakeUpstream, textReply, toolReply } from "../bench/fake_upstream.ts";
import { createLogger } from "../lib/server/log.ts";
import { createHandler } from "../lib/server/handler.ts";
import { assertValidStream, parseClientSse, testConfig, testdata } from "./helpers.ts";

async function replay(fixture: string) {
  const upstream = createFakeUpstream([
    toolReply([{
      id: "call_1",
      name: "Write",
      args: { file_path: "/tmp/project/notes.txt", content: "hi" },
    }]),
    textReply(["Created notes.txt."]),
  ]);
  const handler = createHandler(testConfig(), {
    fetch: upstream.fetch,
    logger: createLogger({ write: () => {} }),
  });
  const response = await handler(
    new Request("http://proxy/v1/messages?beta=true", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-api-key": "sk-ant-anything",
        "anthropic-version": "2023-06-01",
        "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14",
        "x-claude-code-session-id": "00000000-0000-4000-8000-000000000000",
      },
      body: testdata(fixture),
    }),
  );
  assert.equal(response.status, 200);
  const events = parseClientSse(await response.text());
  assertValidStream(events);
  return { events, sent: upstream.requests[0].body as Record<string, unknown> };
}

Deno.test("Claude Code turn 1: a valid stream and a clean upstream request", async (t) => {
  const { events, sent } = await replay("claude_code_turn1.json");
  const messages = sent.messages as Array<{ role: string; content: unknown }>;
  await t.step("the stream ends in a tool call", () => {
    const delta = events.find((e) => e.type === "message_delta");
    assert.equal(delta?.type === "message_delta" && delta.delta.stop_reason, "tool_use");
  });
  await t.step("system prompt without the billing line, then user, then the system message", () => {
    assert.deepEqual(messages.map((m) => m.role), ["system", "user", "system"]);
    assert.ok(!String(messages[0].content).includes("billing-header"));
    assert.match(String(messages[2].content), /^Environment \(fixture\)/);
  });
  await t.step("tools: the placeholder dropped, no $schema, no Anthropic-only fields", () => {
    const tools = sent.tools as Array<{ function: { name: string } }>;
    assert.equal(tools.length, 11);
    assert.ok(!tools.some((t) => t.function.name === "DeferredToolPlaceholder"));
    const json = JSON.stringify(sent);
    for (
      const word of ["$schema", "cache_control", "defer_loading", "context_management", "device_id"]
    ) {
      assert.ok(!json.includes(word), word);
    }
  });
  await t.step("max_tokens 128000 clamped for gpt-4.1; temperature 1 passed on", () => {
    assert.equal(sent.max_tokens, 32_768);
    assert.equal(sent.temperature, 1);
  });
});

Deno.test("Claude Code turn 2: the tool call and its result arrive paired", async () => {
  const { sent } = await replay("claude_code_turn2.json");
  const messages = sent.messages as Array<Record<string, unknown>>;
  assert.deepEqual(messages.map((m) => m.role), ["system", "user", "system", "assistant", "tool"]);
  assert.deepEqual(messages[3].tool_calls, [{
    id: "toolu_01FixtureWrite00000000001",
    type: "function",
    function: {
      name: "Write",
      arguments: JSON.stringify({ file_path: "/tmp/project/notes.txt", content: "hi" }),
    },
  }]);
  assert.deepEqual(messages[4], {
    role: "tool",
    tool_call_id: "toolu_01FixtureWrite00000000001",
    content: "File created successfully at: /tmp/project/notes.txt",
  });
  assert.ok(!JSON.stringify(sent).includes("cache_control"));
});
