import assert from "node:assert/strict";
import { type MessagesRequest, MessagesRequestSchema } from "../lib/anthropic/schema.ts";
import {
  envelopeKind,
  rejectedReasoning,
  ResponsesToAnthropicStream,
  toResponsesRequest,
} from "../lib/providers/openai_responses.ts";
import { Signer } from "../lib/upstream/signature.ts";
import {
  assertGolden,
  assertValidStream,
  encodeEvents,
  maskToolIds,
  sseMessages,
  testdata,
} from "./helpers.ts";
import { loadCatalog } from "../lib/routing/catalog.ts";

// The translators and routing look models up in the catalog, which loads on demand.
await loadCatalog();

const signer = new Signer("test-secret");

function request(extra: Record<string, unknown>): MessagesRequest {
  return MessagesRequestSchema.parse({
    model: "claude-opus-5-5",
    max_tokens: 128_000,
    messages: [{ role: "user", content: "hi" }],
    ...extra,
  });
}

function translate(
  extra: Record<string, unknown>,
  model = "o3",
  options: Record<string, unknown> = {},
) {
  return toResponsesRequest(request(extra), model, { signer, provider: "openai", ...options });
}

const PNG = "iVBORw0KGgo=";

Deno.test("toResponsesRequest() maps the request", async (t) => {
  await t.step("instructions, stateless storage, clamped max_output_tokens", () => {
    const { body } = translate({
      system: [{ type: "text", text: "be terse" }, { type: "text", text: "be kind" }],
    });
    assert.equal(body.instructions, "be terse\n\nbe kind");
    assert.equal(body.store, false);
    assert.equal(body.stream, true);
    assert.equal(body.max_output_tokens, 100_000);
    assert.deepEqual(body.input, [{
      type: "message",
      role: "user",
      content: [{ type: "input_text", text: "hi" }],
    }]);
  });
  await t.step("reasoning effort, summary and encrypted content when thinking is on", () => {
    const { body, thinking } = translate({ thinking: { type: "enabled", budget_tokens: 2048 } });
    assert.deepEqual(body.reasoning, { effort: "low", summary: "auto" });
    assert.deepEqual(body.include, ["reasoning.encrypted_content"]);
    assert.equal(thinking, true);
  });
  await t.step("adaptive with effort high; display omitted drops the summary only", () => {
    const { body, omitThinkingText } = translate({
      thinking: { type: "adaptive", display: "omitted" },
      output_config: { effort: "high" },
    }, "gpt-5");
    assert.deepEqual(body.reasoning, { effort: "high" });
    assert.deepEqual(body.include, ["reasoning.encrypted_content"]);
    assert.equal(omitThinkingText, true);
  });
  await t.step("no thinking asked: no summary, no encrypted content", () => {
    const { body, thinking } = translate({});
    assert.equal(body.reasoning, undefined);
    assert.equal(body.include, undefined);
    assert.equal(thinking, false);
  });
  await t.step("a non-reasoning model gets sampling parameters and no reasoning", () => {
    const { body } = translate({
      temperature: 0.5,
      thinking: { type: "enabled", budget_tokens: 2048 },
    }, "gpt-4.1");
    assert.equal(body.temperature, 0.5);
    assert.equal(body.reasoning, undefined);
    assert.equal(body.max_output_tokens, 32_768);
  });
  await t.step("flat function tools with strict:false; tool_choice; parallel_tool_calls", () => {
    const { body } = translate({
      tools: [{
        name: "Read",
        description: "read",
        input_schema: { $schema: "x", type: "object", properties: { p: { type: "string" } } },
      }],
      tool_choice: { type: "tool", name: "Read", disable_parallel_tool_use: true },
    });
    assert.deepEqual(body.tools, [{
      type: "function",
      name: "Read",
      description: "read",
      parameters: { type: "object", properties: { p: { type: "string" } } },
      strict: false,
    }]);
    assert.deepEqual(body.tool_choice, { type: "function", name: "Read" });
    assert.equal(body.parallel_tool_calls, false);
    assert.equal(
      translate({
        tools: body.tools && [{ name: "A", input_schema: { type: "object" } }],
        tool_choice: { type: "any" },
      }).body.tool_choice,
      "required",
    );
  });
  await t.step("images and PDFs; images inside tool results stay in the function output", () => {
    const { body } = translate({
      messages: [
        {
          role: "user",
          content: [
            { type: "image", source: { type: "base64", media_type: "image/png", data: PNG } },
            {
              type: "document",
              source: { type: "base64", media_type: "application/pdf", data: "JVBERi0=" },
            },
          ],
        },
        {
          role: "assistant",
          content: [{ type: "tool_use", id: "call_1", name: "Shot", input: {} }],
        },
        {
          role: "user",
          content: [{
            type: "tool_result",
            tool_use_id: "call_1",
            is_error: true,
            content: [{ type: "text", text: "partial" }, {
              type: "image",
              source: { type: "base64", media_type: "image/png", data: PNG },
            }],
          }],
        },
      ],
    });
    assert.deepEqual(body.input, [
      {
        type: "message",
        role: "user",
        content: [
          { type: "input_image", detail: "auto", image_url: `data:image/png;base64,${PNG}` },
          {
            type: "input_file",
            filename: "document.pdf",
            file_data: "data:application/pdf;base64,JVBERi0=",
          },
        ],
      },
      { type: "function_call", call_id: "call_1", name: "Shot", arguments: "{}" },
      {
        type: "function_call_output",
        call_id: "call_1",
        output: [
          { type: "input_text", text: "Error: partial" },
          { type: "input_image", detail: "auto", image_url: `data:image/png;base64,${PNG}` },
        ],
      },
    ]);
  });
  await t.step("prompt_cache_key: a hash of the Claude Code session, never the raw id", () => {
    const session = "3f1c2a9e-0000-4000-8000-000000000000";
    const { body } = translate({}, "o3", { sessionKey: session });
    assert.match(body.prompt_cache_key!, /^ccproxy-[A-Za-z0-9_-]{32}$/);
    assert.ok(body.prompt_cache_key!.length <= 64);
    assert.ok(!body.prompt_cache_key!.includes(session));
    const userId = JSON.stringify({ device_id: "d".repeat(64), session_id: session });
    const fromMetadata = translate({ metadata: { user_id: userId } }).body;
    assert.ok(!JSON.stringify(fromMetadata).includes(userId.slice(2, 20)));
  });
  await t.step("json_schema output → text.format", () => {
    const schema = { type: "object", properties: {} };
    assert.deepEqual(translate({ output_format: { type: "json_schema", schema } }).body.text, {
      format: { type: "json_schema", name: "output", schema, strict: false },
    });
  });
});

function envelope(id: string, enc: string, model = "o3", provider = "openai") {
  return signer.sign({ p: envelopeKind(provider), m: model, d: { id, enc } });
}

function historyWith(signature: string) {
  return {
    thinking: { type: "enabled", budget_tokens: 4096 },
    messages: [
      { role: "user", content: "read a" },
      {
        role: "assistant",
        content: [
          { type: "thinking", thinking: "I should read a.", signature },
          { type: "tool_use", id: "call_1", name: "Read", input: { path: "a" } },
        ],
      },
      { role: "user", content: [{ type: "tool_result", tool_use_id: "call_1", content: "A" }] },
    ],
  };
}

Deno.test("reasoning replay: only this provider's and model's own, untampered reasoning", async (t) => {
  await t.step("own envelope → a reasoning item right before its call", () => {
    const { body } = translate(historyWith(envelope("rs_1", "gAAAAB-encrypted+/=")));
    assert.deepEqual((body.input as unknown[]).slice(1, 3), [
      {
        type: "reasoning",
        id: "rs_1",
        summary: [{ type: "summary_text", text: "I should read a." }],
        encrypted_content: "gAAAAB-encrypted+/=",
      },
      { type: "function_call", call_id: "call_1", name: "Read", arguments: '{"path":"a"}' },
    ]);
  });
  const dropped: Array<[string, string]> = [
    [
      "a tampered signature",
      envelope("rs_1", "gAAAAB").replace(/.$/, (c) => (c === "A" ? "B" : "A")),
    ],
    ["another model's reasoning", envelope("rs_1", "gAAAAB", "gpt-5")],
    ["another provider's reasoning", envelope("rs_1", "gAAAAB", "o3", "azure")],
    ["a Chat reasoning_content signature", signer.sign({ p: "openai_chat", m: "o3" })],
    ["Anthropic's own signature", "EqQBCkgIARABGAIiQL7vQm9zZXJ2ZWQgYnkgQW50aHJvcGlj"],
    [
      "a signature from another secret",
      new Signer("other").sign({ p: "openai_responses", m: "o3", d: { id: "rs_1", enc: "x" } }),
    ],
  ];
  for (const [name, signature] of dropped) {
    await t.step(`${name} is dropped`, () => {
      const { body, dropped } = translate(historyWith(signature));
      assert.ok(!JSON.stringify(body.input).includes('"reasoning"'), name);
      assert.ok(dropped.some((d) => d.startsWith("thinking")));
    });
  }
  await t.step("withoutReasoning leaves even own items out", () => {
    const { body } = translate(historyWith(envelope("rs_1", "gAAAAB")), "o3", {
      withoutReasoning: true,
    });
    assert.ok(!JSON.stringify(body.input).includes('"reasoning"'));
  });
  await t.step("rejectedReasoning() recognises the upstream's complaint", () => {
    assert.ok(
      rejectedReasoning(
        "Item with id 'rs_68ab' not found. Items are not persisted when `store` is set to false.",
      ),
    );
    assert.ok(!rejectedReasoning("Invalid value for 'temperature'"));
  });
});

function translateStream(name: string, thinking = true, omitThinkingText = false) {
  return sseMessages(testdata(`responses_${name}.upstream.sse`)).pipeThrough(
    new ResponsesToAnthropicStream({
      id: "msg_test",
      model: "claude-opus-5-5",
      inputTokens: 42,
      toolNames: new Map(),
      thinking,
      omitThinkingText,
      upstreamModel: "o3",
      provider: "openai",
      signer,
      signThinking: () => "ccp1.unused",
    }),
  );
}

const GOLDEN = [
  ["reasoning_text", "reasoning summary (two parts) → thinking with a signed envelope; then text"],
  ["reasoning_calls", "reasoning then two function calls with streamed arguments"],
  ["incomplete", "response.incomplete with max_output_tokens → max_tokens"],
  ["failed", "response.failed → error event"],
];

Deno.test("ResponsesToAnthropicStream matches the golden transcripts", async (t) => {
  for (const [name, description] of GOLDEN) {
    await t.step(`${name}: ${description}`, async () => {
      const events = await Array.fromAsync(translateStream(name));
      assertValidStream(events);
      // Envelopes are MAC'd with the test secret, so they are deterministic.
      assertGolden(maskToolIds(await encodeEvents(events)), `responses_${name}.anthropic.sse`);
    });
  }
  await t.step("the envelope carries the reasoning item for replay", async () => {
    const events = await Array.fromAsync(translateStream("reasoning_calls"));
    const signature = events.flatMap((e) =>
      e.type === "content_block_delta" && e.delta.type === "signature_delta"
        ? [e.delta.signature]
        : []
    )[0];
    assert.deepEqual(signer.verify(signature), {
      p: "openai_responses",
      m: "o3",
      d: { id: "rs_abc", enc: "gAAAAABencrypted==" },
    });
  });
  await t.step("display omitted: thinking block with its signature and no text", async () => {
    const events = await Array.fromAsync(translateStream("reasoning_text", true, true));
    assertValidStream(events);
    assert.ok(
      !events.some((e) => e.type === "content_block_delta" && e.delta.type === "thinking_delta"),
    );
    assert.ok(
      events.some((e) => e.type === "content_block_delta" && e.delta.type === "signature_delta"),
    );
  });
  await t.step("thinking not asked for: no thinking block at all", async () => {
    const events = await Array.fromAsync(translateStream("reasoning_text", false));
    assertValidStream(events);
    assert.ok(
      !events.some((e) => e.type === "content_block_start" && e.content_block.type === "thinking"),
    );
  });
});
