/**
 * The same behaviour on every backend: the official Anthropic SDK talks to ccproxy, which talks
 * to a fake OpenAI, Azure or Gemini upstream (both connections are injected `fetch` functions).
 */
import Anthropic from "@anthropic-ai/sdk";
import assert from "node:assert/strict";
import {
  createFakeUpstream,
  type Dialect,
  DIALECTS,
  type Recorded,
  type Reply,
  type Responder,
  responsesDialect,
} from "../bench/fake_upstream.ts";
import { createLogger } from "../lib/server/log.ts";
import { createHandler } from "../lib/server/handler.ts";
import { testConfig } from "./helpers.ts";

type Name = keyof typeof DIALECTS;

const ENV: Record<Name, Record<string, string>> = {
  openai: { OPENAI_BASE_URL: "http://openai.fake/v1" },
  azure: {
    PREFERRED_PROVIDER: "azure",
    AZURE_OPENAI_API_KEY: "az-test-key-0001",
    AZURE_OPENAI_ENDPOINT: "http://azure.fake",
    BIG_MODEL: "gpt41-deployment",
    SMALL_MODEL: "mini-deployment",
  },
  google: {
    PREFERRED_PROVIDER: "google",
    GEMINI_API_KEY: "gm-test-key-0001",
    GEMINI_BASE_URL: "http://gemini.fake",
  },
};

const PNG =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
// A Gemini thought signature: opaque standard base64, with + / and padding.
const SIGNATURE = "CiQBcsjafF+9/xyz+AbCdEf0123456789/ab+cd==";

function client(name: Name, replies: Reply[] | Responder) {
  return sdkClient(ENV[name], replies);
}

/** The Anthropic SDK talking to a handler configured by `env`, on an upstream answering `replies`. */
function sdkClient(env: Record<string, string>, replies: Reply[] | Responder) {
  const upstream = createFakeUpstream(replies);
  const handler = createHandler(testConfig(env), {
    fetch: upstream.fetch,
    logger: createLogger({ write: () => {} }),
  });
  const sdk = new Anthropic({
    apiKey: "client",
    baseURL: "http://proxy.local",
    maxRetries: 0,
    fetch: (input: RequestInfo | URL, init?: RequestInit) => handler(new Request(input, init)),
  });
  return { sdk, upstream };
}

const REQUEST = {
  model: "claude-opus-5-5",
  max_tokens: 2048,
  messages: [{ role: "user" as const, content: "hello" }],
};
const TOOLS = [
  {
    name: "Read",
    description: "read",
    input_schema: { type: "object" as const, properties: { path: { type: "string" } } },
  },
  {
    name: "Bash",
    description: "run",
    input_schema: { type: "object" as const, properties: { command: { type: "string" } } },
  },
];

/**
 * Up to four turns of a tool conversation: streaming and non-streaming turns alternate (both
 * must mint their own ids), each call answered with `result <turn>`, until a turn has no call.
 * The ids of the calls, in order, and the last answer.
 */
async function toolTurns(sdk: Anthropic) {
  const messages: Anthropic.MessageParam[] = [...REQUEST.messages];
  const ids: string[] = [];
  let last: Anthropic.Message | undefined;
  for (let turn = 0; turn < 4; turn++) {
    const request = { ...REQUEST, tools: TOOLS, messages };
    last = turn % 2
      ? await sdk.messages.stream(request).finalMessage()
      : await sdk.messages.create(request);
    messages.push({ role: "assistant", content: last.content });
    const call = last.content.find((b) => b.type === "tool_use");
    if (!call) break;
    ids.push(call.id);
    messages.push({
      role: "user",
      content: [{ type: "tool_result", tool_use_id: call.id, content: `result ${turn}` }],
    });
  }
  return { ids, last: last! };
}

/** Where each backend's request carries what the tests look for. */
const INSPECT: Record<Name, {
  url: RegExp;
  contents: (r: Recorded) => unknown[];
  images: (r: Recorded) => string[];
}> = {
  openai: {
    url: /^http:\/\/openai\.fake\/v1\/chat\/completions$/,
    contents: (r) => r.body.messages as unknown[],
    images: (r) => JSON.stringify(r.body.messages).match(/data:image\/png;base64,[^"]+/g) ?? [],
  },
  azure: {
    url:
      /^http:\/\/azure\.fake\/openai\/deployments\/gpt41-deployment\/chat\/completions\?api-version=2024-10-21$/,
    contents: (r) => r.body.messages as unknown[],
    images: (r) => JSON.stringify(r.body.messages).match(/data:image\/png;base64,[^"]+/g) ?? [],
  },
  google: {
    url: /^http:\/\/gemini\.fake\/v1beta\/models\/gemini-2\.5-pro:streamGenerateContent\?alt=sse$/,
    contents: (r) => r.body.contents as unknown[],
    images: (
      r,
    ) => (JSON.stringify(r.body.contents).match(
      /"inlineData":\{"mimeType":"image\/png","data":"[^"]+"/g,
    ) ?? []),
  },
};

for (const name of Object.keys(DIALECTS) as Name[]) {
  const dialect: Dialect = DIALECTS[name];

  Deno.test(`${name}: text, non-streaming and streaming, are the same message`, async () => {
    const reply = dialect.text(["Hel", "lo"], { prompt: 30, completion: 4 });
    const { sdk, upstream } = client(name, [reply, reply]);
    const plain = await sdk.messages.create(REQUEST);
    const { parsed_output: _, ...streamed } = await sdk.messages.stream(REQUEST).finalMessage() as
      & Anthropic.Message
      & { parsed_output: unknown };
    assert.deepEqual(plain.content, [{ type: "text", text: "Hello" }]);
    assert.deepEqual({ ...streamed, id: "" }, { ...plain, id: "" });
    assert.equal(plain.stop_reason, "end_turn");
    assert.equal(plain.usage.input_tokens, 30);
    assert.equal(plain.usage.output_tokens, 4);
    assert.match(upstream.requests[0].url, INSPECT[name].url);
  });

  Deno.test(`${name}: parallel tool calls`, async () => {
    const { sdk } = client(name, [
      dialect.tools([
        { id: "call_1", name: "Read", args: { path: "a.txt" }, signature: SIGNATURE },
        { id: "call_2", name: "Bash", args: { command: 'echo "hi"\n' } },
      ], "Looking."),
    ]);
    const message = await sdk.messages.stream({ ...REQUEST, tools: TOOLS }).finalMessage();
    assert.equal(message.stop_reason, "tool_use");
    const calls = message.content.filter((b) => b.type === "tool_use");
    assert.deepEqual(calls.map((c) => [c.name, c.input]), [
      ["Read", { path: "a.txt" }],
      ["Bash", { command: 'echo "hi"\n' }],
    ]);
    assert.equal(new Set(calls.map((c) => c.id)).size, 2);
    for (const call of calls) assert.match(call.id, /^[a-zA-Z0-9_-]+$/);
  });

  Deno.test(`${name}: a tool conversation over three turns stays paired`, async () => {
    // The upstream numbers its calls afresh in every answer (llama.cpp, vLLM): `call_0` each turn.
    const { sdk, upstream } = client(name, [
      dialect.tools([{ id: "call_0", name: "Read", args: { path: "a" }, signature: SIGNATURE }]),
      dialect.tools([{
        id: "call_0",
        name: "Bash",
        args: { command: "ls" },
        signature: `${SIGNATURE}2`,
      }]),
      dialect.tools([{ id: "call_0", name: "Read", args: { path: "b" } }]),
      dialect.text(["All done."]),
    ]);
    const { ids, last: final } = await toolTurns(sdk);
    assert.deepEqual(final.content, [{ type: "text", text: "All done." }]);
    assert.equal(ids.length, 3);
    assert.equal(new Set(ids).size, 3, `three distinct ids: ${ids.join(", ")}`);
    for (const id of ids) assert.match(id, /^toolu_[A-Za-z0-9_-]{24,}$/);
    const last = upstream.requests[3];
    const contents = JSON.stringify(INSPECT[name].contents(last));
    assert.match(contents, /result 0/);
    assert.match(contents, /result 2/);
    if (name === "google") {
      const parts =
        (last.body.contents as Array<{ role: string; parts: Array<Record<string, unknown>> }>)
          .flatMap((c) => c.parts.map((p): Record<string, unknown> => ({ role: c.role, ...p })));
      const calls = parts.filter((p) => p.functionCall);
      assert.deepEqual(
        calls.map((p) => p.thoughtSignature),
        [SIGNATURE, `${SIGNATURE}2`, undefined],
        "signatures byte-exact",
      );
      const responses = parts.filter((p) => p.functionResponse);
      assert.deepEqual(
        responses.map((p) => (p.functionResponse as { name: string }).name),
        ["Read", "Bash", "Read"],
      );
    } else {
      // The ids the client sent back go upstream as the call ids, paired.
      const list = INSPECT[name].contents(last) as Array<{
        role: string;
        tool_call_id?: string;
        tool_calls?: Array<{ id: string }>;
      }>;
      assert.deepEqual(list.filter((m) => m.role === "tool").map((m) => m.tool_call_id), ids);
      assert.deepEqual(list.flatMap((m) => m.tool_calls ?? []).map((c) => c.id), ids);
    }
  });

  Deno.test(`${name}: images reach the model, inside tool results too`, async () => {
    const { sdk, upstream } = client(name, [dialect.text(["I see a pixel."])]);
    await sdk.messages.create({
      ...REQUEST,
      tools: TOOLS,
      messages: [
        {
          role: "user",
          content: [{ type: "text", text: "look" }, {
            type: "image",
            source: { type: "base64", media_type: "image/png", data: PNG },
          }],
        },
        {
          role: "assistant",
          content: [{ type: "tool_use", id: "toolu_1", name: "Read", input: { path: "p.png" } }],
        },
        {
          role: "user",
          content: [{
            type: "tool_result",
            tool_use_id: "toolu_1",
            content: [{
              type: "image",
              source: { type: "base64", media_type: "image/png", data: PNG },
            }],
          }],
        },
      ],
    });
    assert.equal(INSPECT[name].images(upstream.requests[0]).length, 2);
  });

  Deno.test(`${name}: thinking comes back as a signed thinking block`, async () => {
    const { sdk } = client(name, [dialect.thinking("Let me think.", "42")]);
    const message = await sdk.messages.create({
      ...REQUEST,
      thinking: { type: "enabled", budget_tokens: 1024 },
    });
    assert.deepEqual(message.content.map((b) => b.type), ["thinking", "text"]);
    const thinking = message.content[0] as Anthropic.ThinkingBlock;
    assert.equal(thinking.thinking, "Let me think.");
    assert.match(thinking.signature, /^ccp1\./);
  });

  Deno.test(`${name}: upstream errors by status`, async (t) => {
    const cases: Array<[number, number, string]> = [
      [400, 400, "invalid_request_error"],
      [401, 403, "permission_error"],
      [403, 403, "permission_error"],
      [404, 404, "not_found_error"],
      [429, 429, "rate_limit_error"],
      [500, 500, "api_error"],
      [503, 529, "overloaded_error"],
    ];
    for (const [upstreamStatus, status, type] of cases) {
      await t.step(`${upstreamStatus} → ${status} ${type}`, async () => {
        const { sdk } = client(name, [dialect.error(upstreamStatus, "upstream says no")]);
        const error = await sdk.messages.create(REQUEST).then(() => undefined, (e) => e);
        assert.ok(error instanceof Anthropic.APIError, String(error));
        assert.equal(error.status, status);
        assert.equal((error.error as { error: { type: string } }).error.type, type);
        assert.match(error.message, /upstream says no/);
      });
    }
  });

  Deno.test(`${name}: count_tokens`, async () => {
    const { sdk, upstream } = client(
      name,
      (r) => r.url.includes(":countTokens") ? { json: { totalTokens: 1234 } } : dialect.text(["x"]),
    );
    const result = await sdk.messages.countTokens({
      model: REQUEST.model,
      messages: REQUEST.messages,
      system: "be brief",
    });
    if (name === "google") {
      assert.equal(result.input_tokens, 1234);
      const request = upstream.requests[0].body.generateContentRequest as Record<string, unknown>;
      assert.equal(request.model, "models/gemini-2.5-pro");
      assert.deepEqual(request.systemInstruction, { parts: [{ text: "be brief" }] });
    } else {
      assert.ok(result.input_tokens > 5);
      assert.equal(upstream.requests.length, 0);
    }
  });
}

Deno.test("responses: an upstream repeating call_0 still gets three distinct, replayable ids", async () => {
  const dialect = responsesDialect();
  const { sdk, upstream } = sdkClient(
    { OPENAI_BASE_URL: "http://openai.fake/v1", OPENAI_API_MODE: "responses" },
    [
      dialect.tools([{ id: "call_0", name: "Read", args: { path: "a" } }]),
      dialect.tools([{ id: "call_0", name: "Bash", args: { command: "ls" } }]),
      dialect.tools([{ id: "call_0", name: "Read", args: { path: "b" } }]),
      dialect.text(["All done."]),
    ],
  );
  const { ids } = await toolTurns(sdk);
  assert.equal(new Set(ids).size, 3, `three distinct ids: ${ids.join(", ")}`);
  const input = upstream.requests[3].body.input as Array<{ type: string; call_id?: string }>;
  assert.deepEqual(input.filter((i) => i.type === "function_call").map((i) => i.call_id), ids);
  assert.deepEqual(
    input.filter((i) => i.type === "function_call_output").map((i) => i.call_id),
    ids,
  );
});
