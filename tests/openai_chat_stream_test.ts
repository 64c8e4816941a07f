import assert from "node:assert/strict";
import { accumulate } from "../lib/anthropic/accumulate.ts";
import type { StreamEvent } from "../lib/anthropic/schema.ts";
import { ChatToAnthropicStream, chatUsage } from "../lib/providers/openai_chat.ts";
import {
  assertGolden,
  assertValidStream,
  encodeEvents,
  maskToolIds,
  sseMessages,
  testdata,
} from "./helpers.ts";

function translate(upstream: string, toolNames = new Map<string, string>()) {
  return sseMessages(upstream).pipeThrough(
    new ChatToAnthropicStream({
      id: "msg_test",
      model: "claude-opus-5-5",
      inputTokens: 42,
      toolNames,
      upstreamModel: "gpt-4.1",
      provider: "openai",
      signThinking: () => "ccp1.test-signature",
    }),
  );
}

const GOLDEN = [
  ["text", "text with cached usage"],
  ["parallel_tools", "text then three parallel tool calls, fragments kept byte for byte"],
  ["reasoning", "reasoning_content becomes a signed thinking block"],
  ["truncated", "a stream cut before any finish reason ends with an error event"],
  ["error", "an in-stream error chunk ends with a mapped error event"],
  ["interleaved_tools", "interleaved tool calls are serialised without losing fragments"],
  ["azure_filter_length", "an empty-choices filter chunk and CRLF framing; length → max_tokens"],
  ["content_filter", "content_filter → refusal"],
  ["whole_call_stop", "a whole call in one delta with finish stop → tool_use"],
  ["bad_json", "a chunk that is not JSON ends with an error event"],
];

Deno.test("ChatToAnthropicStream matches the golden transcripts", async (t) => {
  for (const [name, description] of GOLDEN) {
    await t.step(`${name}: ${description}`, async () => {
      const events = await Array.fromAsync(translate(testdata(`chat_${name}.upstream.sse`)));
      assertValidStream(events);
      assertGolden(maskToolIds(await encodeEvents(events)), `chat_${name}.anthropic.sse`);
    });
  }
});

Deno.test("ChatToAnthropicStream keeps tool arguments byte-exact", async () => {
  const events = await Array.fromAsync(translate(testdata("chat_parallel_tools.upstream.sse")));
  const message = await accumulate(ReadableStream.from(events));
  assert.deepEqual(message.content.map((b) => b.type), [
    "text",
    "tool_use",
    "tool_use",
    "tool_use",
  ]);
  const ids = message.content.flatMap((b) => b.type === "tool_use" ? [b.id] : []);
  assert.equal(new Set(ids).size, 3, "each call gets its own id");
  for (const id of ids) assert.match(id, /^toolu_[A-Za-z0-9]{24}$/);
  assert.deepEqual({ ...message.content[1], id: "" }, {
    type: "tool_use",
    id: "",
    name: "Write",
    input: { file_path: "a.txt", content: 'hé "x"\n' },
  });
  assert.deepEqual({ ...message.content[3], id: "" }, {
    type: "tool_use",
    id: "",
    name: "ListAgents",
    input: {},
  });
  assert.equal(message.stop_reason, "tool_use");
  const fragments = events.flatMap((e) =>
    e.type === "content_block_delta" && e.delta.type === "input_json_delta" && e.index === 1
      ? [e.delta.partial_json]
      : []
  );
  assert.deepEqual(fragments, ['{"file_path": "a.txt", ', '"content": "h\\u00e9 \\"x\\"\\n"}']);
});

Deno.test("ChatToAnthropicStream restores aliased tool names", async () => {
  const upstream = testdata("chat_whole_call_stop.upstream.sse");
  const events = await Array.fromAsync(translate(upstream, new Map([["Bash", "mcp__long__Bash"]])));
  const start = events.find((e) => e.type === "content_block_start") as StreamEvent & {
    type: "content_block_start";
  };
  assert.equal(
    start.content_block.type === "tool_use" && start.content_block.name,
    "mcp__long__Bash",
  );
});

Deno.test("chatUsage() reports cached tokens apart and never 0 input", async (t) => {
  await t.step("cached prompt tokens", () => {
    assert.deepEqual(
      chatUsage(
        {
          prompt_tokens: 1200,
          completion_tokens: 7,
          total_tokens: 1207,
          prompt_tokens_details: { cached_tokens: 1000 },
        },
        5,
        0,
      ),
      {
        input_tokens: 200,
        output_tokens: 7,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 1000,
      },
    );
  });
  await t.step("no usage from the upstream: estimates", () => {
    assert.deepEqual(chatUsage(undefined, 42, 40), {
      input_tokens: 42,
      output_tokens: 10,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
    });
  });
});

Deno.test("ChatToAnthropicStream: display omitted keeps the signed thinking block, without text", async () => {
  const events = await Array.fromAsync(
    sseMessages(testdata("chat_reasoning.upstream.sse")).pipeThrough(
      new ChatToAnthropicStream({
        id: "msg_test",
        model: "claude-opus-5-5",
        inputTokens: 42,
        toolNames: new Map(),
        upstreamModel: "deepseek-r1",
        provider: "openai",
        omitThinkingText: true,
        signThinking: () => "ccp1.test-signature",
      }),
    ),
  );
  assertValidStream(events);
  assert.ok(
    !events.some((e) => e.type === "content_block_delta" && e.delta.type === "thinking_delta"),
  );
  const message = await accumulate(ReadableStream.from(events));
  assert.deepEqual(message.content[0], {
    type: "thinking",
    thinking: "",
    signature: "ccp1.test-signature",
  });
});
