import assert from "node:assert/strict";
import type { MessagesRequest } from "../lib/anthropic/schema.ts";
import { MessagesRequestSchema } from "../lib/anthropic/schema.ts";
import { callIdAlias, toChatRequest, toolAlias } from "../lib/providers/openai_chat.ts";
import { loadCatalog } from "../lib/routing/catalog.ts";

// The translators and routing look models up in the catalog, which loads on demand.
await loadCatalog();

function request(extra: Record<string, unknown>): MessagesRequest {
  return MessagesRequestSchema.parse({
    model: "claude-opus-5-5",
    max_tokens: 1024,
    messages: [{ role: "user", content: "hi" }],
    ...extra,
  });
}

function translate(extra: Record<string, unknown>, model = "gpt-4.1") {
  return toChatRequest(request(extra), model).body;
}

const PNG = "iVBORw0KGgo=";

Deno.test("toChatRequest() maps the system prompt to one leading system message", async (t) => {
  await t.step("string", () => {
    assert.deepEqual(translate({ system: "be brief" }).messages[0], {
      role: "system",
      content: "be brief",
    });
  });
  await t.step("blocks, joined, cache_control dropped, billing header left out", () => {
    const body = translate({
      system: [
        { type: "text", text: "x-anthropic-billing-header: cc_version=2.1; cc_entrypoint=cli;" },
        { type: "text", text: "You are Claude Code.", cache_control: { type: "ephemeral" } },
        { type: "text", text: "Be careful." },
      ],
    });
    assert.deepEqual(body.messages[0], {
      role: "system",
      content: "You are Claude Code.\n\nBe careful.",
    });
    assert.ok(!JSON.stringify(body).includes("cache_control"));
  });
});

Deno.test("toChatRequest() keeps role:system messages in place", () => {
  const body = translate({
    messages: [
      { role: "user", content: "first" },
      { role: "system", content: [{ type: "text", text: "env: linux", cache_control: {} }] },
      { role: "assistant", content: "ok" },
      { role: "system", content: "trailing" },
    ],
  });
  assert.deepEqual(body.messages, [
    { role: "user", content: "first" },
    { role: "system", content: "env: linux" },
    { role: "assistant", content: "ok" },
    { role: "system", content: "trailing" },
  ]);
});

Deno.test("toChatRequest() translates content blocks", async (t) => {
  const cases: Array<[string, unknown, unknown]> = [
    ["text blocks become text parts", [{ type: "text", text: "a" }, { type: "text", text: "b" }], [
      { type: "text", text: "a" },
      { type: "text", text: "b" },
    ]],
    [
      "empty text blocks are dropped",
      [{ type: "text", text: "" }, { type: "text", text: "b" }],
      "b",
    ],
    [
      "base64 image → data URL",
      [{ type: "image", source: { type: "base64", media_type: "image/png", data: PNG } }],
      [{ type: "image_url", image_url: { url: `data:image/png;base64,${PNG}` } }],
    ],
    [
      "URL image → image_url",
      [{ type: "image", source: { type: "url", url: "https://example.com/a.png" } }],
      [{ type: "image_url", image_url: { url: "https://example.com/a.png" } }],
    ],
    [
      "base64 PDF → file part",
      [{
        type: "document",
        title: "spec.pdf",
        source: { type: "base64", media_type: "application/pdf", data: "JVBERi0=" },
      }],
      [{
        type: "file",
        file: { filename: "spec.pdf", file_data: "data:application/pdf;base64,JVBERi0=" },
      }],
    ],
    [
      "plain-text document → text with its title",
      [{
        type: "document",
        title: "notes",
        source: { type: "text", media_type: "text/plain", data: "body" },
      }],
      "notes\nbody",
    ],
    [
      "block types no backend understands are dropped",
      [{ type: "text", text: "keep" }, { type: "container_upload", file_id: "file_1" }],
      "keep",
    ],
  ];
  for (const [name, content, expected] of cases) {
    await t.step(name, () => {
      const body = translate({ messages: [{ role: "user", content }] });
      assert.deepEqual(body.messages.at(-1), { role: "user", content: expected });
    });
  }
});

Deno.test("toChatRequest() translates a tool round trip", async (t) => {
  const body = translate({
    tools: [{ name: "Write", input_schema: { type: "object", properties: {} } }],
    messages: [
      { role: "user", content: "write two files" },
      {
        role: "assistant",
        content: [
          { type: "thinking", thinking: "hmm", signature: "sig" },
          { type: "text", text: "Writing." },
          { type: "tool_use", id: "toolu_1", name: "Write", input: { file_path: "a" } },
          { type: "tool_use", id: "toolu_2", name: "Write", input: { file_path: "b" } },
        ],
      },
      {
        role: "user",
        content: [
          {
            type: "tool_result",
            tool_use_id: "toolu_2",
            content: [{ type: "text", text: "b ok" }],
          },
          {
            type: "tool_result",
            tool_use_id: "toolu_1",
            content: "denied",
            is_error: true,
            cache_control: { type: "ephemeral" },
          },
          { type: "text", text: "<system-reminder>go on</system-reminder>" },
        ],
      },
    ],
  });
  await t.step("assistant text and tool_calls, ids preserved, thinking dropped", () => {
    assert.deepEqual(body.messages[1], {
      role: "assistant",
      content: "Writing.",
      tool_calls: [
        {
          id: "toolu_1",
          type: "function",
          function: { name: "Write", arguments: '{"file_path":"a"}' },
        },
        {
          id: "toolu_2",
          type: "function",
          function: { name: "Write", arguments: '{"file_path":"b"}' },
        },
      ],
    });
  });
  await t.step("tool messages follow in call order, errors marked", () => {
    assert.deepEqual(body.messages[2], {
      role: "tool",
      tool_call_id: "toolu_1",
      content: "Error: denied",
    });
    assert.deepEqual(body.messages[3], { role: "tool", tool_call_id: "toolu_2", content: "b ok" });
  });
  await t.step("the rest of the user turn follows as a user message", () => {
    assert.deepEqual(body.messages[4], {
      role: "user",
      content: "<system-reminder>go on</system-reminder>",
    });
    assert.equal(body.messages.length, 5);
  });
});

Deno.test("toChatRequest() delivers images inside a tool result in a following user message", () => {
  const body = translate({
    messages: [
      { role: "user", content: "screenshot" },
      { role: "assistant", content: [{ type: "tool_use", id: "t1", name: "Shot", input: {} }] },
      {
        role: "user",
        content: [{
          type: "tool_result",
          tool_use_id: "t1",
          content: [
            { type: "text", text: "here" },
            { type: "image", source: { type: "base64", media_type: "image/png", data: PNG } },
          ],
        }],
      },
    ],
  });
  assert.deepEqual(body.messages.slice(2), [
    {
      role: "tool",
      tool_call_id: "t1",
      content: "here\n[1 attachment(s) follow in the next message]",
    },
    {
      role: "user",
      content: [{ type: "image_url", image_url: { url: `data:image/png;base64,${PNG}` } }],
    },
  ]);
});

Deno.test("toChatRequest() repairs tool pairing", async (t) => {
  await t.step("a call without a result gets a synthetic error result", () => {
    const body = translate({
      messages: [
        { role: "user", content: "go" },
        { role: "assistant", content: [{ type: "tool_use", id: "t1", name: "Bash", input: {} }] },
        { role: "user", content: "never mind" },
      ],
    });
    assert.deepEqual(body.messages[2], {
      role: "tool",
      tool_call_id: "t1",
      content: "Error: Tool call was not completed.",
    });
    assert.deepEqual(body.messages[3], { role: "user", content: "never mind" });
  });
  await t.step("a result without a call becomes plain user text", () => {
    const body = translate({
      messages: [{
        role: "user",
        content: [{ type: "tool_result", tool_use_id: "ghost", content: "data" }],
      }],
    });
    assert.equal(body.messages.length, 1);
    assert.equal(body.messages[0].role, "user");
    assert.match(JSON.stringify(body.messages[0].content), /ghost.*data/);
  });
  await t.step("consecutive same-role messages are merged", () => {
    const body = translate({
      messages: [
        { role: "user", content: "a" },
        { role: "user", content: "b" },
        { role: "assistant", content: "c" },
        { role: "assistant", content: "d" },
      ],
    });
    assert.deepEqual(body.messages, [
      { role: "user", content: [{ type: "text", text: "a" }, { type: "text", text: "b" }] },
      { role: "assistant", content: "c\n\nd" },
    ]);
  });
  await t.step("an assistant turn left empty by dropped blocks is omitted", () => {
    const body = translate({
      messages: [
        { role: "user", content: "a" },
        { role: "assistant", content: [{ type: "redacted_thinking", data: "xx" }] },
        { role: "user", content: "b" },
      ],
    });
    assert.deepEqual(body.messages, [
      { role: "user", content: [{ type: "text", text: "a" }, { type: "text", text: "b" }] },
    ]);
  });
  await t.step("long or foreign tool ids get the same short alias on both sides", () => {
    const id = `toolu_g${"x".repeat(60)}`;
    const body = translate({
      messages: [
        { role: "user", content: "go" },
        { role: "assistant", content: [{ type: "tool_use", id, name: "Bash", input: {} }] },
        { role: "user", content: [{ type: "tool_result", tool_use_id: id, content: "ok" }] },
      ],
    });
    const alias = callIdAlias(id);
    assert.ok(alias.length <= 40 && /^[a-zA-Z0-9_-]+$/.test(alias));
    assert.equal(
      (body.messages[1] as { tool_calls: Array<{ id: string }> }).tool_calls[0].id,
      alias,
    );
    assert.equal((body.messages[2] as { tool_call_id: string }).tool_call_id, alias);
  });
});

Deno.test("toChatRequest() translates tools and tool_choice", async (t) => {
  const tools = [
    {
      name: "Bash",
      description: "run",
      input_schema: {
        $schema: "https://json-schema.org/draft/2020-12/schema",
        type: "object",
        properties: { command: { type: "string" } },
        additionalProperties: false,
      },
      cache_control: { type: "ephemeral" },
      defer_loading: false,
      eager_input_streaming: true,
      strict: true,
      input_examples: [{}],
    },
    {
      name: "DeferredToolPlaceholder",
      input_schema: { type: "object", properties: {} },
      defer_loading: true,
    },
    { type: "web_search_20250305", name: "web_search", max_uses: 5 },
  ];
  await t.step("functions, $schema removed, Anthropic-only fields gone", () => {
    const body = translate({ tools });
    assert.deepEqual(body.tools, [{
      type: "function",
      function: {
        name: "Bash",
        description: "run",
        parameters: {
          type: "object",
          properties: { command: { type: "string" } },
          additionalProperties: false,
        },
      },
    }]);
    const json = JSON.stringify(body);
    for (
      const word of [
        "cache_control",
        "defer_loading",
        "eager_input_streaming",
        "input_examples",
        "$schema",
      ]
    ) {
      assert.ok(!json.includes(word), word);
    }
  });
  const choices: Array<[string, unknown, Record<string, unknown>]> = [
    ["auto", { type: "auto" }, { tool_choice: "auto" }],
    ["any → required", { type: "any" }, { tool_choice: "required" }],
    ["tool → named function", { type: "tool", name: "Bash" }, {
      tool_choice: { type: "function", function: { name: "Bash" } },
    }],
    ["none", { type: "none" }, { tool_choice: "none" }],
    ["disable_parallel_tool_use", { type: "auto", disable_parallel_tool_use: true }, {
      tool_choice: "auto",
      parallel_tool_calls: false,
    }],
  ];
  for (const [name, choice, expected] of choices) {
    await t.step(`tool_choice ${name}`, () => {
      const body = translate({ tools, tool_choice: choice });
      for (const [key, value] of Object.entries(expected)) {
        assert.deepEqual((body as unknown as Record<string, unknown>)[key], value);
      }
    });
  }
  await t.step("no tool_choice or parallel_tool_calls without tools", () => {
    const body = translate({ tool_choice: { type: "any", disable_parallel_tool_use: true } });
    assert.equal(body.tools, undefined);
    assert.equal(body.tool_choice, undefined);
    assert.equal(body.parallel_tool_calls, undefined);
  });
  await t.step("names over 64 characters are aliased, valid, and restored on the way back", () => {
    const long = `mcp__${"server".repeat(10)}__tool_with_a_long_name`;
    const translation = toChatRequest(
      request({
        tools: [{ name: long, input_schema: { type: "object" } }],
        tool_choice: { type: "tool", name: long },
      }),
      "gpt-4.1",
    );
    const alias = toolAlias(long);
    assert.match(alias, /^[a-zA-Z0-9_-]{1,64}$/);
    assert.equal(
      translation.body.tools![0].type === "function" && translation.body.tools![0].function.name,
      alias,
    );
    assert.deepEqual(translation.body.tool_choice, { type: "function", function: { name: alias } });
    assert.equal(translation.toolNames.get(alias), long);
  });
});

Deno.test("toChatRequest() maps limits and sampling per model", async (t) => {
  await t.step("max_tokens clamped to the model's output cap", () => {
    assert.equal(translate({ max_tokens: 128_000 }, "gpt-4.1").max_tokens, 32_768);
    assert.equal(translate({ max_tokens: 128_000 }, "gpt-4o").max_tokens, 16_384);
    assert.equal(translate({ max_tokens: 100 }, "gpt-4o").max_tokens, 100);
    assert.equal(translate({ max_tokens: 128_000 }, "llama3.1:8b").max_tokens, 8_192);
  });
  await t.step("reasoning models take max_completion_tokens and no sampling params", () => {
    for (const model of ["o3", "o4-mini", "gpt-5", "gpt-5-mini", "gpt-5.1"]) {
      const body = translate({ max_tokens: 128_000, temperature: 1, top_p: 0.9 }, model);
      assert.equal(body.max_tokens, undefined, model);
      assert.ok(body.max_completion_tokens! <= 128_000, model);
      assert.equal(body.temperature, undefined, model);
      assert.equal(body.top_p, undefined, model);
    }
  });
  await t.step("temperature, top_p and at most 4 stop sequences; top_k dropped", () => {
    const body = translate({
      temperature: 0.3,
      top_p: 0.5,
      top_k: 40,
      stop_sequences: ["a", "b", "c", "d", "e"],
    });
    assert.equal(body.temperature, 0.3);
    assert.equal(body.top_p, 0.5);
    assert.deepEqual(body.stop, ["a", "b", "c", "d"]);
    assert.ok(!("top_k" in body));
  });
  await t.step("o3 gets no stop sequences", () => {
    assert.equal(translate({ stop_sequences: ["x"] }, "o3").stop, undefined);
  });
  await t.step("always streams with usage", () => {
    const body = translate({ stream: false });
    assert.equal(body.stream, true);
    assert.deepEqual(body.stream_options, { include_usage: true });
  });
});

Deno.test("toChatRequest() maps thinking and effort only for reasoning models", async (t) => {
  const cases: Array<[string, string, Record<string, unknown>, unknown]> = [
    ["budget 2048 → low", "o3", { thinking: { type: "enabled", budget_tokens: 2048 } }, "low"],
    [
      "budget 8000 → medium",
      "o3",
      { thinking: { type: "enabled", budget_tokens: 8000 } },
      "medium",
    ],
    [
      "budget 20000 → high",
      "gpt-5",
      { thinking: { type: "enabled", budget_tokens: 20000 } },
      "high",
    ],
    ["adaptive + effort high", "gpt-5", {
      thinking: { type: "adaptive" },
      output_config: { effort: "high" },
    }, "high"],
    ["adaptive alone leaves the default", "gpt-5", { thinking: { type: "adaptive" } }, undefined],
    ["disabled → lowest (gpt-5: minimal)", "gpt-5", { thinking: { type: "disabled" } }, "minimal"],
    ["disabled → lowest (gpt-5.1: none)", "gpt-5.1", { thinking: { type: "disabled" } }, "none"],
    ["disabled → lowest (o3: low)", "o3", { thinking: { type: "disabled" } }, "low"],
    ["effort max → high", "o3", { output_config: { effort: "max" } }, "high"],
    ["non-reasoning model gets none", "gpt-4.1", {
      thinking: { type: "enabled", budget_tokens: 2048 },
    }, undefined],
  ];
  for (const [name, model, extra, expected] of cases) {
    await t.step(name, () => {
      assert.equal(translate({ max_tokens: 30_000, ...extra }, model).reasoning_effort, expected);
    });
  }
});

Deno.test("toChatRequest() drops Anthropic-only fields and never forwards metadata.user_id", () => {
  const userId = JSON.stringify({ device_id: "d".repeat(64), account_uuid: "", session_id: "s" });
  const body = translate({
    metadata: { user_id: userId },
    context_management: { edits: [{ type: "clear_thinking_20251015", keep: "all" }] },
    output_config: { effort: "medium" },
    service_tier: "auto",
    speed: "fast",
    container: "c",
    betas: ["x"],
    cache_control: { type: "ephemeral" },
  });
  const json = JSON.stringify(body);
  assert.ok(!json.includes(userId.slice(0, 20)));
  for (
    const word of [
      "context_management",
      "service_tier",
      "speed",
      "container",
      "betas",
      "cache_control",
      "metadata",
    ]
  ) {
    assert.ok(!json.includes(`"${word}"`), word);
  }
});

Deno.test("toChatRequest() maps a json_schema output format to response_format", () => {
  const schema = { type: "object", properties: { a: { type: "string" } } };
  for (
    const extra of [{ output_format: { type: "json_schema", schema } }, {
      output_config: { format: { type: "json_schema", schema } },
    }]
  ) {
    assert.deepEqual(translate(extra).response_format, {
      type: "json_schema",
      json_schema: { name: "output", schema, strict: false },
    });
  }
});
