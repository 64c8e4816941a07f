import assert from "node:assert/strict";
import { type MessagesRequest, MessagesRequestSchema } from "../lib/anthropic/schema.ts";
import { decideEffort } from "../lib/providers/effort.ts";
import { geminiModelInfo } from "../lib/routing/models.ts";
import {
  callId,
  cleanSchema,
  geminiFailure,
  GeminiToAnthropicStream,
  signatureOf,
  SKIP_SIGNATURE,
  thinkingConfig,
  toGeminiRequest,
} from "../lib/providers/gemini.ts";
import { Signer } from "../lib/upstream/signature.ts";
import { assertGolden, assertValidStream, encodeEvents, sseMessages, testdata } from "./helpers.ts";
import { loadCatalog } from "../lib/routing/catalog.ts";

// The translators and routing look models up in the catalog, which loads on demand.
await loadCatalog();

const signer = new Signer("test-secret");

function request(extra: Record<string, unknown>): MessagesRequest {
  return MessagesRequestSchema.parse({
    model: "claude-opus-5-5",
    max_tokens: 1024,
    messages: [{ role: "user", content: "hi" }],
    ...extra,
  });
}

function translate(extra: Record<string, unknown>, model = "gemini-2.5-pro") {
  return toGeminiRequest(request(extra), model, signer).body;
}

Deno.test("toGeminiRequest() maps system, roles and content", async (t) => {
  await t.step("system blocks → systemInstruction parts (billing line left out)", () => {
    const body = translate({
      system: [
        { type: "text", text: "x-anthropic-billing-header: cc_version=1;" },
        { type: "text", text: "one", cache_control: { type: "ephemeral" } },
        { type: "text", text: "two" },
      ],
    });
    assert.deepEqual(body.systemInstruction, { parts: [{ text: "one" }, { text: "two" }] });
  });
  await t.step("role:system messages become user-side text in place", () => {
    const body = translate({
      messages: [
        { role: "user", content: "a" },
        { role: "assistant", content: "b" },
        { role: "system", content: "env info" },
      ],
    });
    assert.deepEqual(body.contents, [
      { role: "user", parts: [{ text: "a" }] },
      { role: "model", parts: [{ text: "b" }] },
      { role: "user", parts: [{ text: "<system-reminder>\nenv info\n</system-reminder>" }] },
    ]);
  });
  await t.step("images and PDFs → inlineData", () => {
    const body = translate({
      messages: [{
        role: "user",
        content: [
          { type: "image", source: { type: "base64", media_type: "image/webp", data: "UklGRg==" } },
          {
            type: "document",
            source: { type: "base64", media_type: "application/pdf", data: "JVBERi0=" },
          },
        ],
      }],
    });
    assert.deepEqual(body.contents[0].parts, [
      { inlineData: { mimeType: "image/webp", data: "UklGRg==" } },
      { inlineData: { mimeType: "application/pdf", data: "JVBERi0=" } },
    ]);
  });
  await t.step("Anthropic-only fields never reach Gemini", () => {
    const json = JSON.stringify(translate({
      metadata: { user_id: '{"device_id":"abc"}' },
      context_management: { edits: [] },
      messages: [{
        role: "user",
        content: [{ type: "text", text: "hi", cache_control: { type: "ephemeral" } }],
      }],
    }));
    for (const word of ["cache_control", "device_id", "context_management"]) {
      assert.ok(!json.includes(word), word);
    }
  });
});

Deno.test("toGeminiRequest() answers N calls with N function responses, in order", () => {
  const body = translate({
    messages: [
      { role: "user", content: "go" },
      {
        role: "assistant",
        content: [
          { type: "text", text: "two calls" },
          { type: "tool_use", id: "toolu_a", name: "Read", input: { path: "a" } },
          { type: "tool_use", id: "toolu_b", name: "Bash", input: { command: "ls" } },
        ],
      },
      {
        role: "user",
        content: [
          { type: "tool_result", tool_use_id: "toolu_b", content: "listing", is_error: true },
          {
            type: "tool_result",
            tool_use_id: "toolu_a",
            content: [{ type: "text", text: "file a" }],
          },
          { type: "text", text: "continue" },
        ],
      },
    ],
  });
  assert.deepEqual(body.contents.slice(1), [
    {
      role: "model",
      parts: [
        { text: "two calls" },
        { functionCall: { name: "Read", args: { path: "a" } } },
        { functionCall: { name: "Bash", args: { command: "ls" } } },
      ],
    },
    {
      role: "user",
      parts: [
        { functionResponse: { name: "Read", response: { output: "file a" } } },
        { functionResponse: { name: "Bash", response: { error: "listing" } } },
        { text: "continue" },
      ],
    },
  ]);
});

Deno.test("cleanSchema() accepts Claude Code's tool schemas", async (t) => {
  const fixture = JSON.parse(testdata("claude_code_turn1.json"));
  for (const tool of fixture.tools) {
    await t.step(tool.name, () => {
      const schema = cleanSchema(tool.input_schema);
      assert.equal(schema.type, "object");
      assert.ok(schema.properties && typeof schema.properties === "object");
      assert.ok(!JSON.stringify(schema).includes("$schema"));
    });
  }
  await t.step("local $ref / $defs are inlined", () => {
    const schema = cleanSchema({
      $schema: "https://json-schema.org/draft/2020-12/schema",
      type: "object",
      properties: {
        item: { $ref: "#/$defs/Item" },
        list: { type: "array", items: { $ref: "#/definitions/Item" } },
      },
      $defs: { Item: { type: "object", properties: { id: { type: "string" } } } },
      definitions: { Item: { type: "object", properties: { id: { type: "string" } } } },
    });
    assert.deepEqual(schema, {
      type: "object",
      properties: {
        item: { type: "object", properties: { id: { type: "string" } } },
        list: { type: "array", items: { type: "object", properties: { id: { type: "string" } } } },
      },
    });
  });
  await t.step("a recursive schema ends instead of looping", () => {
    const schema = cleanSchema({
      type: "object",
      properties: { node: { $ref: "#/$defs/Node" } },
      $defs: { Node: { type: "object", properties: { child: { $ref: "#/$defs/Node" } } } },
    });
    assert.ok(JSON.stringify(schema).length < 5_000);
  });
});

Deno.test("toGeminiRequest() maps tools and tool_choice", async (t) => {
  const tools = [
    {
      name: "Read",
      input_schema: { $schema: "x", type: "object", properties: { p: { type: "string" } } },
    },
    { name: "Placeholder", input_schema: { type: "object", properties: {} }, defer_loading: true },
    { type: "web_search_20250305", name: "web_search" },
  ];
  await t.step("one functionDeclarations entry with parametersJsonSchema", () => {
    const body = translate({ tools });
    assert.deepEqual(body.tools, [{
      functionDeclarations: [{
        name: "Read",
        description: "",
        parametersJsonSchema: { type: "object", properties: { p: { type: "string" } } },
      }],
    }]);
  });
  const cases: Array<[string, unknown, unknown]> = [
    ["auto", { type: "auto" }, { mode: "AUTO" }],
    ["any", { type: "any" }, { mode: "ANY" }],
    ["tool", { type: "tool", name: "Read" }, { mode: "ANY", allowedFunctionNames: ["Read"] }],
    ["none", { type: "none" }, { mode: "NONE" }],
  ];
  for (const [name, choice, expected] of cases) {
    await t.step(`tool_choice ${name}`, () => {
      assert.deepEqual(translate({ tools, tool_choice: choice }).toolConfig, {
        functionCallingConfig: expected,
      });
    });
  }
  await t.step("generation settings", () => {
    const body = translate({
      max_tokens: 128_000,
      temperature: 0.2,
      top_p: 0.9,
      top_k: 40,
      stop_sequences: ["1", "2", "3", "4", "5", "6"],
    });
    assert.deepEqual(body.generationConfig, {
      maxOutputTokens: 65_536,
      temperature: 0.2,
      topP: 0.9,
      topK: 40,
      stopSequences: ["1", "2", "3", "4", "5"],
    });
  });
  await t.step("json_schema output", () => {
    const schema = { type: "object", properties: {} };
    const config =
      translate({ output_config: { format: { type: "json_schema", schema } } }).generationConfig;
    assert.equal(config.responseMimeType, "application/json");
    assert.deepEqual(config.responseJsonSchema, schema);
  });
});

Deno.test("thinkingConfig() uses a budget on 2.5 and a level on 3, never both", async (t) => {
  const cases: Array<[string, string, Record<string, unknown>, unknown]> = [
    ["absent → default", "gemini-2.5-pro", {}, undefined],
    ["adaptive → dynamic budget", "gemini-2.5-flash", { thinking: { type: "adaptive" } }, {
      includeThoughts: true,
      thinkingBudget: -1,
    }],
    ["omitted display → no thought text", "gemini-2.5-flash", {
      thinking: { type: "adaptive", display: "omitted" },
    }, { includeThoughts: false, thinkingBudget: -1 }],
    ["budget within range", "gemini-2.5-flash", {
      max_tokens: 16_000,
      thinking: { type: "enabled", budget_tokens: 5000 },
    }, { includeThoughts: true, thinkingBudget: 5000 }],
    ["budget clamped to Flash max", "gemini-2.5-flash", {
      max_tokens: 60_000,
      thinking: { type: "enabled", budget_tokens: 50_000 },
    }, { includeThoughts: true, thinkingBudget: 24_576 }],
    ["budget kept below maxOutputTokens", "gemini-2.5-pro", {
      max_tokens: 3000,
      thinking: { type: "enabled", budget_tokens: 8000 },
    }, { includeThoughts: true, thinkingBudget: 2999 }],
    ["disabled on Flash → 0", "gemini-2.5-flash", { thinking: { type: "disabled" } }, {
      includeThoughts: false,
      thinkingBudget: 0,
    }],
    ["disabled on Pro → its minimum", "gemini-2.5-pro", { thinking: { type: "disabled" } }, {
      includeThoughts: false,
      thinkingBudget: 128,
    }],
    ["effort high on 2.5 Pro → model max", "gemini-2.5-pro", {
      max_tokens: 64_000,
      output_config: { effort: "high" },
    }, { includeThoughts: true, thinkingBudget: 32_768 }],
    ["effort high on 3 → HIGH", "gemini-3-pro-preview", {
      thinking: { type: "adaptive" },
      output_config: { effort: "high" },
    }, { thinkingLevel: "HIGH", includeThoughts: true }],
    ["medium on 3 Flash → MEDIUM", "gemini-3-flash-preview", {
      output_config: { effort: "medium" },
    }, { thinkingLevel: "MEDIUM", includeThoughts: true }],
    ["medium on 3 Pro → HIGH", "gemini-3-pro-preview", { output_config: { effort: "medium" } }, {
      thinkingLevel: "HIGH",
      includeThoughts: true,
    }],
    [
      "disabled on 3 Flash → MINIMAL",
      "gemini-3-flash-preview",
      { thinking: { type: "disabled" } },
      { thinkingLevel: "MINIMAL", includeThoughts: false },
    ],
    ["disabled on 3 Pro → LOW", "gemini-3-pro-preview", { thinking: { type: "disabled" } }, {
      thinkingLevel: "LOW",
      includeThoughts: false,
    }],
    ["adaptive on 3 → default level", "gemini-3-pro-preview", { thinking: { type: "adaptive" } }, {
      includeThoughts: true,
    }],
    ["models without thinking get none", "gemini-2.0-flash", {
      thinking: { type: "enabled", budget_tokens: 2048 },
    }, undefined],
  ];
  for (const [name, model, extra, expected] of cases) {
    await t.step(name, () => {
      const body = translate(extra, model);
      assert.deepEqual(body.generationConfig.thinkingConfig, expected);
      const config = body.generationConfig.thinkingConfig as Record<string, unknown> | undefined;
      assert.ok(!(config && "thinkingBudget" in config && "thinkingLevel" in config));
    });
  }
  await t.step("every effort on every family keeps budget < maxOutputTokens", () => {
    for (const model of ["gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite"]) {
      for (const effort of ["low", "medium", "high", "max"]) {
        const config = thinkingConfig(
          decideEffort(undefined, effort),
          geminiModelInfo(model),
          2000,
        );
        assert.ok((config!.thinkingBudget as number) < 2000, `${model} ${effort}`);
      }
    }
  });
});

Deno.test("thought signatures round-trip byte-exactly through tool_use ids", async (t) => {
  const signatures = [
    "CiQBcsjafF+9/xyz+AbCdEf0123456789/ab+cd==",
    "AAAA",
    "not/canonical=base64 but still opaque",
    "x".repeat(4000),
  ];
  for (const signature of signatures) {
    await t.step(signature.slice(0, 30), () => {
      const id = callId(signature, signer);
      assert.match(id, /^[a-zA-Z0-9_-]+$/);
      assert.equal(signatureOf(id, signer), signature);
    });
  }
  await t.step("an id without a signature is a plain toolu_ id", () => {
    const id = callId(undefined, signer);
    assert.match(id, /^toolu_[A-Za-z0-9]{24}$/);
    assert.equal(signatureOf(id, signer), undefined);
  });
  await t.step("a tampered or foreign id carries nothing", () => {
    const id = callId("CiQBcsjafF+9", signer);
    assert.equal(signatureOf(`${id.slice(0, -2)}xx`, signer), undefined);
    assert.equal(signatureOf(id, new Signer("another-secret")), undefined);
  });
  await t.step("the signature is restored on the same functionCall part", () => {
    const id = callId("c2lnbmF0dXJl", signer);
    const body = translate({
      tools: [{ name: "Read", input_schema: { type: "object", properties: {} } }],
      messages: [
        { role: "user", content: "read" },
        { role: "assistant", content: [{ type: "tool_use", id, name: "Read", input: {} }] },
        { role: "user", content: [{ type: "tool_result", tool_use_id: id, content: "ok" }] },
      ],
    });
    assert.deepEqual(body.contents[1].parts[0], {
      functionCall: { name: "Read", args: {} },
      thoughtSignature: "c2lnbmF0dXJl",
    });
  });
});

Deno.test("Gemini 3: current-turn calls without a signature get the documented skip value", () => {
  const messages = [
    { role: "user", content: "earlier question" },
    {
      role: "assistant",
      content: [{ type: "tool_use", id: "toolu_old", name: "Read", input: {} }],
    },
    { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_old", content: "x" }] },
    { role: "assistant", content: "answer" },
    { role: "user", content: "new question" },
    {
      role: "assistant",
      content: [
        { type: "tool_use", id: "toolu_openai_1", name: "Read", input: {} },
        { type: "tool_use", id: "toolu_openai_2", name: "Read", input: {} },
      ],
    },
    {
      role: "user",
      content: [
        { type: "tool_result", tool_use_id: "toolu_openai_1", content: "a" },
        { type: "tool_result", tool_use_id: "toolu_openai_2", content: "b" },
      ],
    },
  ];
  const gemini3 = translate({ messages }, "gemini-3-pro-preview");
  const calls = gemini3.contents.flatMap((c) => c.parts.filter((p) => p.functionCall));
  assert.deepEqual(calls.map((p) => p.thoughtSignature), [undefined, SKIP_SIGNATURE, undefined]);
  const gemini25 = translate({ messages }, "gemini-2.5-pro");
  assert.ok(!JSON.stringify(gemini25).includes(SKIP_SIGNATURE));
});

function translateStream(name: string, extra: { singleCall?: boolean } = {}) {
  return sseMessages(testdata(`gemini_${name}.upstream.sse`)).pipeThrough(
    new GeminiToAnthropicStream({
      id: "msg_test",
      model: "claude-opus-5-5",
      inputTokens: 42,
      toolNames: new Map(),
      singleCall: extra.singleCall ?? false,
      signer,
      signThinking: () => "ccp1.test-signature",
    }),
  );
}

const GOLDEN = [
  [
    "thinking_text",
    "thought parts become a thinking block; running usage taken from the last chunk",
  ],
  [
    "calls",
    "parallel calls; the signature rides on the first call's id; STOP with calls → tool_use",
  ],
  ["max_tokens", "MAX_TOKENS → max_tokens, missing candidatesTokenCount is 0"],
  ["safety", "SAFETY → refusal"],
  ["blocked", "a blocked prompt (promptFeedback) → refusal"],
  ["error", "an in-stream error chunk → error event"],
  ["truncated", "no finishReason → error event"],
  ["malformed_call", "MALFORMED_FUNCTION_CALL → end_turn with a text that says so"],
];

Deno.test("GeminiToAnthropicStream matches the golden transcripts", async (t) => {
  for (const [name, description] of GOLDEN) {
    await t.step(`${name}: ${description}`, async () => {
      const events = await Array.fromAsync(translateStream(name));
      assertValidStream(events);
      let text = await encodeEvents(events);
      // Tool ids carry a random nonce and a MAC: compare their signature part only.
      text = text.replace(/"id":"(toolu_g)[A-Za-z0-9_-]{24}_/g, '"id":"$1<nonce+mac>_').replace(
        /"id":"toolu_[A-Za-z0-9]{24}"/g,
        '"id":"toolu_<random>"',
      );
      assertGolden(text, `gemini_${name}.anthropic.sse`);
    });
  }
  await t.step("the signed id decodes to Gemini's signature", async () => {
    const events = await Array.fromAsync(translateStream("calls"));
    const ids = events.flatMap((e) =>
      e.type === "content_block_start" && e.content_block.type === "tool_use"
        ? [e.content_block.id]
        : []
    );
    assert.equal(signatureOf(ids[0], signer), "CiQBcsjafF+9/xyz+AbCdEf0123456789/ab+cd==");
    assert.equal(signatureOf(ids[1], signer), undefined);
  });
  await t.step("disable_parallel_tool_use keeps only the first call", async () => {
    const events = await Array.fromAsync(translateStream("calls", { singleCall: true }));
    assertValidStream(events);
    assert.equal(
      events.filter((e) => e.type === "content_block_start" && e.content_block.type === "tool_use")
        .length,
      1,
    );
  });
});

Deno.test("geminiFailure() maps Gemini's error bodies", async (t) => {
  await t.step("RESOURCE_EXHAUSTED with RetryInfo → 429 with retry-after", () => {
    const error = geminiFailure(
      429,
      {
        code: 429,
        message: "Quota exceeded",
        status: "RESOURCE_EXHAUSTED",
        details: [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "37s" }],
      },
      "claude-opus-5-5",
      {},
    );
    assert.equal(error.status, 429);
    assert.equal(error.type, "rate_limit_error");
    assert.equal(error.headers["retry-after"], "37");
  });
  await t.step("API_KEY_INVALID (a 400 at Gemini) → 403 naming GEMINI_API_KEY", () => {
    const error = geminiFailure(
      400,
      {
        code: 400,
        message: "API key not valid. Please pass a valid API key.",
        status: "INVALID_ARGUMENT",
        details: [{
          "@type": "type.googleapis.com/google.rpc.ErrorInfo",
          reason: "API_KEY_INVALID",
        }],
      },
      "m",
      {},
    );
    assert.equal(error.status, 403);
    assert.equal(error.type, "permission_error");
    assert.equal(
      error.message,
      "gemini rejected the proxy's API key (400): API key not valid. Please pass a valid API key.; check GEMINI_API_KEY",
    );
  });
  await t.step("UNAVAILABLE → 529", () => {
    const error = geminiFailure(
      503,
      { code: 503, message: "The model is overloaded.", status: "UNAVAILABLE" },
      "m",
      {},
    );
    assert.equal(error.status, 529);
    assert.equal(error.type, "overloaded_error");
  });
  await t.step("context overflow → prompt is too long", () => {
    const error = geminiFailure(
      400,
      {
        code: 400,
        message:
          "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
        status: "INVALID_ARGUMENT",
      },
      "m",
      {},
    );
    assert.equal(error.message, "prompt is too long: 1200000 tokens > 1048576 maximum");
  });
});
