/**
 * Thinking that survives the round trip: multi-turn tool conversations on o3, gpt-5 (Responses),
 * Gemini 3 and an OpenAI-compatible reasoning server, through the official SDK; replay is
 * byte-exact, foreign signatures never reach a provider, and switching providers mid-way works.
 */
import Anthropic from "@anthropic-ai/sdk";
import assert from "node:assert/strict";
import {
  createFakeUpstream,
  DIALECTS,
  type Recorded,
  type Reply,
  responsesDialect,
} from "../bench/fake_upstream.ts";
import { createLogger } from "../lib/server/log.ts";
import { createHandler } from "../lib/server/handler.ts";
import { testConfig } from "./helpers.ts";

function client(env: Record<string, string>, responder: (r: Recorded, i: number) => Reply) {
  const upstream = createFakeUpstream(responder);
  const lines: string[] = [];
  const handler = createHandler(testConfig(env), {
    fetch: upstream.fetch,
    logger: createLogger({ write: (line) => lines.push(line) }),
  });
  const sdk = new Anthropic({
    apiKey: "client",
    baseURL: "http://proxy.local",
    maxRetries: 0,
    fetch: (input: RequestInfo | URL, init?: RequestInit) => handler(new Request(input, init)),
  });
  return { sdk, upstream, lines };
}

const TOOLS = [{
  name: "Read",
  description: "read a file",
  input_schema: { type: "object" as const, properties: { path: { type: "string" } } },
}];
const THINKING = { type: "adaptive" as const };

/** Runs a tool conversation until the model answers in text; returns the final history. */
async function converse(sdk: Anthropic, model: string, turns = 3) {
  const messages: Anthropic.MessageParam[] = [{ role: "user", content: "read a then b" }];
  for (let i = 0; i < turns; i++) {
    const message = await sdk.messages.stream({
      model,
      max_tokens: 32_000,
      thinking: THINKING,
      output_config: { effort: "high" },
      tools: TOOLS,
      messages,
    } as Anthropic.MessageCreateParamsStreaming).finalMessage();
    messages.push({ role: "assistant", content: message.content });
    const call = message.content.find((b) => b.type === "tool_use");
    if (!call) return { messages, last: message };
    messages.push({
      role: "user",
      content: [{ type: "tool_result", tool_use_id: call.id, content: `contents of ${i}` }],
    });
  }
  throw new Error("the conversation did not end");
}

for (const model of ["o3", "gpt-5"]) {
  Deno.test(`${model} on the Responses API: reasoning items come back byte-exactly before their calls`, async () => {
    const encrypted = ["gAAAAABo+first/reasoning==", "gAAAAABo+second/reasoning=="];
    const { sdk, upstream } = client({ BIG_MODEL: model }, (_, i) => {
      if (i < 2) {
        return responsesDialect({ id: `rs_${i}`, summary: `Step ${i}.`, encrypted: encrypted[i] })
          .tools([{ id: `call_${i}`, name: "Read", args: { path: i ? "b" : "a" } }]);
      }
      return responsesDialect({ id: "rs_2", summary: "Done.", encrypted: "gAAAAABo+third==" }).text(
        ["Both read."],
      );
    });
    const { last, messages } = await converse(sdk, "claude-opus-5-5");
    assert.deepEqual(last.content.map((b) => b.type), ["thinking", "text"]);
    assert.equal((messages[1].content as Anthropic.ContentBlock[])[0].type, "thinking");

    assert.ok(upstream.requests.every((r) => r.url === "https://api.openai.com/v1/responses"));
    const third = upstream.requests[2].body;
    assert.equal(third.store, false);
    assert.deepEqual(third.include, ["reasoning.encrypted_content"]);
    assert.deepEqual(third.reasoning, { effort: "high", summary: "auto" });
    const input = third.input as Array<Record<string, unknown>>;
    assert.deepEqual(input.map((item) => item.type), [
      "message",
      "reasoning",
      "function_call",
      "function_call_output",
      "reasoning",
      "function_call",
      "function_call_output",
    ]);
    assert.deepEqual(input[1], {
      type: "reasoning",
      id: "rs_0",
      summary: [{ type: "summary_text", text: "Step 0." }],
      encrypted_content: encrypted[0],
    });
    assert.equal(input[4].encrypted_content, encrypted[1]);
  });
}

Deno.test("Gemini 3: the thought signature of each step returns on its functionCall", async () => {
  const signatures = ["Cg8BGbX+sig/one==", "Cg8BGbX+sig/two=="];
  const { sdk, upstream } = client(
    {
      PREFERRED_PROVIDER: "google",
      GEMINI_API_KEY: "gm-key-0001",
      BIG_MODEL: "gemini-3-pro-preview",
    },
    (_, i) =>
      i < 2
        ? DIALECTS.google.tools([{
          id: "",
          name: "Read",
          args: { path: i ? "b" : "a" },
          signature: signatures[i],
        }])
        : DIALECTS.google.thinking("All read.", "Both read."),
  );
  const { last } = await converse(sdk, "claude-opus-5-5");
  assert.deepEqual(last.content.map((b) => b.type), ["thinking", "text"]);
  const third = upstream.requests[2].body;
  const calls = (third.contents as Array<{ parts: Array<Record<string, unknown>> }>)
    .flatMap((c) => c.parts.filter((p) => p.functionCall));
  assert.deepEqual(calls.map((p) => p.thoughtSignature), signatures);
  assert.deepEqual((third.generationConfig as Record<string, unknown>).thinkingConfig, {
    thinkingLevel: "HIGH",
    includeThoughts: true,
  });
});

Deno.test("an OpenAI-compatible reasoning server: thinking shows, and never goes back upstream", async () => {
  const { sdk, upstream } = client({
    OPENAI_BASE_URL: "http://vllm.local/v1",
    BIG_MODEL: "deepseek-r1",
  }, (_, i) =>
    i < 2
      ? {
        chunks: [
          {
            choices: [{
              index: 0,
              delta: { reasoning_content: `thinking ${i}` },
              finish_reason: null,
            }],
          },
          {
            choices: [{
              index: 0,
              delta: {
                tool_calls: [{
                  index: 0,
                  id: `call_${i}`,
                  type: "function",
                  function: { name: "Read", arguments: '{"path":"x"}' },
                }],
              },
              finish_reason: "tool_calls",
            }],
          },
        ],
      }
      : DIALECTS.openai.thinking("final thought", "Both read."));
  const { last } = await converse(sdk, "claude-opus-5-5");
  assert.deepEqual(last.content.map((b) => b.type), ["thinking", "text"]);
  assert.ok(upstream.requests.every((r) => r.url === "http://vllm.local/v1/chat/completions"));
  const third = JSON.stringify(upstream.requests[2].body);
  assert.ok(
    !third.includes("thinking 0") && !third.includes("ccp1."),
    "no thinking goes back on Chat",
  );
});

Deno.test("switching providers mid-conversation: no provider receives a block it did not produce", async () => {
  const env = {
    BIG_MODEL: "o3",
    FALLBACK_PROVIDERS: "google",
    GEMINI_API_KEY: "gm-key-0001",
    GEMINI_BIG_MODEL: "gemini-3-pro-preview",
  };
  const { sdk, upstream } = client(env, (r, i) => {
    if (r.url.includes("openai")) {
      return responsesDialect({ id: "rs_0", summary: "Plan.", encrypted: "gAAAA-o3-only==" })
        .tools([{ id: "call_0", name: "Read", args: { path: "a" } }]);
    }
    return i === 1
      ? DIALECTS.google.tools([{
        id: "",
        name: "Read",
        args: { path: "b" },
        signature: "Cg8B+gemini==",
      }])
      : DIALECTS.google.text(["Both read."]);
  });
  const messages: Anthropic.MessageParam[] = [{ role: "user", content: "read a then b" }];
  const ask = async (model: string) => {
    const message = await sdk.messages.create({
      model,
      max_tokens: 8000,
      thinking: THINKING,
      tools: TOOLS,
      messages,
    } as Anthropic.MessageCreateParamsNonStreaming);
    messages.push({ role: "assistant", content: message.content });
    const call = message.content.find((b) => b.type === "tool_use");
    if (call) {
      messages.push({
        role: "user",
        content: [{ type: "tool_result", tool_use_id: call.id, content: "ok" }],
      });
    }
    return message;
  };
  await ask("claude-opus-5-5"); // o3 on Responses
  await ask("gemini/gemini-3-pro-preview"); // switch to Gemini
  const last = await ask("gemini/gemini-3-pro-preview");
  assert.deepEqual(last.content, [{ type: "text", text: "Both read." }]);

  const toGemini = JSON.stringify(upstream.requests[1].body);
  assert.ok(!toGemini.includes("gAAAA-o3-only"), "o3's reasoning never reaches Gemini");
  assert.ok(!toGemini.includes("ccp1."), "no envelope reaches Gemini");
  const calls =
    (upstream.requests[2].body.contents as Array<{ parts: Array<Record<string, unknown>> }>)
      .flatMap((c) => c.parts.filter((p) => p.functionCall));
  assert.deepEqual(
    calls.map((p) => p.thoughtSignature),
    ["skip_thought_signature_validator", "Cg8B+gemini=="],
    "o3's call gets the documented skip value, Gemini's own call its real signature",
  );
});

Deno.test("a rejected reasoning replay is retried once without reasoning items", async () => {
  const { sdk, upstream, lines } = client({ BIG_MODEL: "o3" }, (r) => {
    const input = JSON.stringify(r.body.input ?? []);
    if (input.includes('"reasoning"')) {
      return {
        status: 400,
        error: {
          error: {
            message:
              "Item with id 'rs_0' not found. Items are not persisted when `store` is set to false.",
            type: "invalid_request_error",
          },
        },
      };
    }
    return input.includes("function_call_output")
      ? responsesDialect().text(["Recovered."])
      : responsesDialect({ id: "rs_0", summary: "Plan.", encrypted: "gAAAA==" }).tools([{
        id: "call_0",
        name: "Read",
        args: {},
      }]);
  });
  const { last } = await converse(sdk, "claude-opus-5-5");
  assert.deepEqual(last.content, [{ type: "text", text: "Recovered." }]);
  assert.equal(upstream.requests.length, 3);
  assert.match(lines.join("\n"), /reasoning-replay-rejected/);
});

Deno.test("OPENAI_API_MODE picks the API per model", async (t) => {
  const cases: Array<[string, Record<string, string>, string, string]> = [
    ["auto: gpt-4.1 on Chat", {}, "gpt-4.1", "https://api.openai.com/v1/chat/completions"],
    ["auto: o4-mini on Responses", {}, "o4-mini", "https://api.openai.com/v1/responses"],
    ["auto: a codex model on Responses", {}, "gpt-5-codex", "https://api.openai.com/v1/responses"],
    [
      "auto: a compatible server stays on Chat",
      { OPENAI_BASE_URL: "http://ollama.local/v1" },
      "o3",
      "http://ollama.local/v1/chat/completions",
    ],
    [
      "chat forces Chat",
      { OPENAI_API_MODE: "chat" },
      "o3",
      "https://api.openai.com/v1/chat/completions",
    ],
    [
      "responses forces Responses",
      { OPENAI_API_MODE: "responses" },
      "gpt-4.1",
      "https://api.openai.com/v1/responses",
    ],
    [
      "Azure classic Responses: its own api-version",
      {
        PREFERRED_PROVIDER: "azure",
        AZURE_OPENAI_API_KEY: "az",
        AZURE_OPENAI_ENDPOINT: "https://res.openai.azure.com",
      },
      "o3",
      "https://res.openai.azure.com/openai/responses?api-version=2025-04-01-preview",
    ],
    [
      "Azure v1 Responses",
      {
        PREFERRED_PROVIDER: "azure",
        AZURE_OPENAI_API_KEY: "az",
        AZURE_OPENAI_ENDPOINT: "https://res.openai.azure.com",
        AZURE_OPENAI_API_VERSION: "v1",
      },
      "o3",
      "https://res.openai.azure.com/openai/v1/responses",
    ],
  ];
  for (const [name, env, model, url] of cases) {
    await t.step(name, async () => {
      const { sdk, upstream } = client(
        { ...env, BIG_MODEL: model },
        (r) =>
          r.url.includes("/responses")
            ? responsesDialect().text(["ok"])
            : DIALECTS.openai.text(["ok"]),
      );
      const message = await sdk.messages.create({
        model: "claude-opus-5-5",
        max_tokens: 100,
        messages: [{ role: "user", content: "hi" }],
      });
      assert.deepEqual(message.content, [{ type: "text", text: "ok" }]);
      assert.equal(upstream.requests[0].url, url);
      if (env.PREFERRED_PROVIDER === "azure") assert.equal(upstream.requests[0].body.model, model);
    });
  }
  await t.step("a Chat 404 pointing at /responses is retried there once", async () => {
    const { sdk, upstream } = client({
      OPENAI_BASE_URL: "http://gateway.local/v1",
      BIG_MODEL: "brand-new-model",
    }, (r) =>
      r.url.endsWith("/chat/completions")
        ? {
          status: 404,
          error: {
            error: {
              message:
                "This model is only supported in v1/responses and not in v1/chat/completions.",
              type: "invalid_request_error",
            },
          },
        }
        : responsesDialect().text(["via responses"]));
    const message = await sdk.messages.create({
      model: "claude-opus-5-5",
      max_tokens: 100,
      messages: [{ role: "user", content: "hi" }],
    });
    assert.deepEqual(message.content, [{ type: "text", text: "via responses" }]);
    assert.deepEqual(upstream.requests.map((r) => new URL(r.url).pathname), [
      "/v1/chat/completions",
      "/v1/responses",
    ]);
  });
});
