/**
 * Tool lists that fit every backend: deferred tools are offered once the conversation loads them
 * (Anthropic's tool-search rules), names fit each backend and map back, and a list still too
 * long is a 400 before any upstream call.
 */
import assert from "node:assert/strict";
import type { Message, MessagesRequest, Tool } from "../lib/anthropic/schema.ts";
import { selectTools } from "../lib/anthropic/tools.ts";
import {
  fitToolName,
  GEMINI_TOOL_LIMITS,
  OPENAI_TOOL_LIMITS,
  upstreamTools,
} from "../lib/providers/tools.ts";
import { toChatRequest } from "../lib/providers/openai_chat.ts";
import { toResponsesRequest } from "../lib/providers/openai_responses.ts";
import {
  type GeminiRequest,
  GeminiToAnthropicStream,
  toGeminiRequest,
} from "../lib/providers/gemini.ts";
import { ProxyError } from "../lib/anthropic/errors.ts";
import { Signer } from "../lib/upstream/signature.ts";
import { createFakeUpstream, DIALECTS } from "../bench/fake_upstream.ts";
import { createHandler } from "../lib/server/handler.ts";
import { createLogger } from "../lib/server/log.ts";
import { sseMessages, testConfig } from "./helpers.ts";
import { proxySetup } from "./proxy_setup.ts";
import { countTokens, estimateTokens } from "../lib/routing/tokens.ts";
import { loadCatalog } from "../lib/routing/catalog.ts";

// The translators and routing look models up in the catalog, which loads on demand.
await loadCatalog();

/** The function declarations of a Gemini body (the tool entry that has them). */
function declarations(body: GeminiRequest): Array<Record<string, unknown>> {
  const entry = body.tools?.find((t) => "functionDeclarations" in t);
  return entry && "functionDeclarations" in entry ? entry.functionDeclarations : [];
}

const signer = new Signer("test-secret");

function tool(name: string, deferred = false): Tool {
  return {
    name,
    description: `the ${name} tool`,
    input_schema: { type: "object", properties: { q: { type: "string" } } },
    ...(deferred ? { defer_loading: true } : {}),
  };
}

const PLACEHOLDER: Tool = {
  name: "DeferredToolPlaceholder",
  input_schema: { type: "object", properties: {} },
  defer_loading: true,
};

const USER: Message = { role: "user", content: "go" };

/** An assistant ToolSearch call and the result loading `names`. */
function search(id: string, ...names: string[]): Message[] {
  return [
    {
      role: "assistant",
      content: [{ type: "tool_use", id, name: "ToolSearch", input: { query: "x" } }],
    },
    {
      role: "user",
      content: [{
        type: "tool_result",
        tool_use_id: id,
        content: names.map((tool_name) => ({ type: "tool_reference", tool_name })),
      }],
    },
  ];
}

function system(...content: Array<Record<string, unknown>>): Message {
  return { role: "system", content: content as Message["content"] };
}

const addition = (name: string) => ({
  type: "tool_addition",
  tool: { type: "tool_reference", name },
});
const removal = (name: string) => ({
  type: "tool_removal",
  tool: { type: "tool_reference", name },
});

const names = (tools: Tool[]) => tools.map((t) => t.name);

Deno.test("selectTools() applies Anthropic's tool-search rules", async (t) => {
  const declared = [tool("Read"), tool("ToolSearch"), tool("mcp__a__one", true), PLACEHOLDER];
  const cases: Array<{ name: string; messages: Message[]; tools?: Tool[]; sent: string[] }> = [
    {
      name: "before any load: non-deferred tools only",
      messages: [USER],
      sent: ["Read", "ToolSearch"],
    },
    {
      name: "a tool_reference in a tool result loads the tool in that same request",
      messages: [USER, ...search("toolu_1", "mcp__a__one")],
      sent: ["Read", "ToolSearch", "mcp__a__one"],
    },
    {
      name: "a load stays for the rest of the conversation",
      messages: [
        USER,
        ...search("toolu_1", "mcp__a__one"),
        { role: "assistant", content: "ok" },
        { role: "user", content: "again" },
      ],
      sent: ["Read", "ToolSearch", "mcp__a__one"],
    },
    {
      name: "a tool_addition by reference in a system message loads it",
      messages: [USER, system(addition("mcp__a__one"))],
      sent: ["Read", "ToolSearch", "mcp__a__one"],
    },
    {
      name: "a tool_removal takes a loaded tool away",
      messages: [USER, ...search("toolu_1", "mcp__a__one"), system(removal("mcp__a__one"))],
      sent: ["Read", "ToolSearch"],
    },
    {
      name: "a tool_removal also takes a non-deferred tool away",
      messages: [USER, system(removal("Read"))],
      sent: ["ToolSearch"],
    },
    {
      name: "loaded again after a removal",
      messages: [
        USER,
        system(removal("mcp__a__one")),
        ...search("toolu_2", "mcp__a__one"),
      ],
      sent: ["Read", "ToolSearch", "mcp__a__one"],
    },
    {
      name: "a tool_addition with a definition adds a tool that is not in tools",
      messages: [
        USER,
        system({
          type: "tool_addition",
          tool: { type: "tool_definition", definition: tool("mcp__b__late", true) },
        }),
      ],
      sent: ["Read", "ToolSearch", "mcp__b__late"],
    },
    {
      name: "tool changes inside a compaction block count",
      messages: [USER, {
        role: "assistant",
        content: [{
          type: "compaction",
          content: "summary",
          tool_changes: [addition("mcp__a__one")],
        }],
      }, { role: "user", content: "next" }],
      sent: ["Read", "ToolSearch", "mcp__a__one"],
    },
    {
      name: "a tool_addition outside a system message is ignored",
      messages: [{ role: "user", content: [addition("mcp__a__one") as never] }],
      sent: ["Read", "ToolSearch"],
    },
    {
      name: "server tools are never offered",
      tools: [{ type: "web_search_20250305", name: "web_search" }, tool("Read")],
      messages: [USER],
      sent: ["Read"],
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const selection = selectTools({ tools: c.tools ?? declared, messages: c.messages });
      assert.deepEqual(names(selection.tools), c.sent);
      const offered = new Set(c.sent);
      const clientNames = (c.tools ?? declared).filter((x) => !x.type).map((x) => x.name);
      assert.deepEqual(selection.held, clientNames.filter((n) => !offered.has(n)));
    });
  }
  await t.step("a definition added by value goes upstream without defer_loading", () => {
    const { tools } = selectTools({
      tools: [],
      messages: [system({
        type: "tool_addition",
        tool: { type: "tool_definition", definition: tool("late", true) },
      })],
    });
    assert.equal(tools[0].defer_loading, undefined);
  });
});

Deno.test("fitToolName() keeps valid names and aliases the rest within each backend's rules", async (t) => {
  const long80 = `mcp__${"s".repeat(40)}__${"t".repeat(31)}`;
  const cases: Array<[string, string, boolean]> = [
    ["Read", "Read", true],
    ["mcp__github__create_issue", "mcp__github__create_issue", true],
    ["x".repeat(64), "x".repeat(64), true],
    ["x".repeat(65), "", false],
    [long80, "", false],
    ["name.with.dots", "", false],
    ["9starts_with_a_digit", "9starts_with_a_digit", true],
  ];
  for (const [name, same, openaiKeeps] of cases) {
    await t.step(`OpenAI: ${name.slice(0, 30)}`, () => {
      const fitted = fitToolName(name, OPENAI_TOOL_LIMITS);
      assert.match(fitted, /^[a-zA-Z0-9_-]{1,64}$/);
      if (openaiKeeps) assert.equal(fitted, same);
      else assert.notEqual(fitted, name);
    });
  }
  const gemini: Array<[string, boolean]> = [
    ["Read", true],
    ["name.with:colons-and.dots", true],
    ["x".repeat(64), true],
    ["x".repeat(65), false],
    [long80, false],
    ["9starts_with_a_digit", false],
    ["-dash-first", false],
    ["has space", false],
  ];
  for (const [name, keeps] of gemini) {
    await t.step(`Gemini: ${name.slice(0, 30)}`, () => {
      const fitted = fitToolName(name, GEMINI_TOOL_LIMITS);
      assert.match(fitted, /^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/);
      assert.equal(fitted === name, keeps);
    });
  }
  await t.step("names that share a long prefix get distinct aliases", () => {
    const a = `${"p".repeat(70)}_a`;
    const b = `${"p".repeat(70)}_b`;
    for (const limits of [OPENAI_TOOL_LIMITS, GEMINI_TOOL_LIMITS]) {
      assert.notEqual(fitToolName(a, limits), fitToolName(b, limits));
      assert.equal(fitToolName(a, limits), fitToolName(a, limits), "stable");
    }
  });
});

function many(count: number, deferred = false): Tool[] {
  return Array.from({ length: count }, (_, i) => tool(`mcp__many__tool_${i}`, deferred));
}

function request(tools: Tool[], messages: Message[] = [USER]): MessagesRequest {
  return { model: "claude-opus-5-5", max_tokens: 1024, messages, tools };
}

Deno.test("upstreamTools() enforces each backend's count limit after deferral", async (t) => {
  const cases: Array<{ backend: string; limits: typeof OPENAI_TOOL_LIMITS; ok: number }> = [
    { backend: "openai", limits: OPENAI_TOOL_LIMITS, ok: 128 },
    { backend: "azure", limits: OPENAI_TOOL_LIMITS, ok: 128 },
    { backend: "gemini", limits: GEMINI_TOOL_LIMITS, ok: 512 },
  ];
  for (const { backend, limits, ok } of cases) {
    await t.step(
      `${backend}: ${ok} tools pass, ${ok + 1} are a 400 naming limit, count, backend`,
      () => {
        assert.equal(upstreamTools(request(many(ok)), backend, limits).tools.length, ok);
        assert.throws(
          () => upstreamTools(request(many(ok + 1)), backend, limits),
          (error: unknown) => {
            assert.ok(error instanceof ProxyError);
            assert.equal(error.status, 400);
            assert.equal(error.type, "invalid_request_error");
            assert.match(
              error.message,
              new RegExp(`${ok + 1} tools exceed ${backend}'s limit of ${ok}`),
            );
            // Claude Code turns tool search off for the session on errors naming defer_loading.
            assert.doesNotMatch(error.message, /defer_loading|tool_reference/);
            return true;
          },
        );
      },
    );
  }
  await t.step("200 deferred tools are within every limit until loaded", () => {
    const tools = [tool("Read"), ...many(200, true)];
    const fitted = upstreamTools(request(tools), "openai", OPENAI_TOOL_LIMITS);
    assert.deepEqual(names(fitted.tools), ["Read"]);
    assert.equal(fitted.held, 200);
  });
});

Deno.test("every translation declares only loaded deferred tools", async (t) => {
  const tools = [tool("Read"), ...many(150, true)];
  const messages = [USER, ...search("toolu_1", "mcp__many__tool_7")];
  await t.step("Chat Completions", () => {
    const { body, toolCount } = toChatRequest(request(tools, messages), "gpt-4.1");
    assert.deepEqual(body.tools!.map((x) => x.type === "function" && x.function.name), [
      "Read",
      "mcp__many__tool_7",
    ]);
    assert.deepEqual(toolCount, { sent: 2, held: 149 });
  });
  await t.step("Responses", () => {
    const { body, toolCount } = toResponsesRequest(request(tools, messages), "o3", {
      signer,
      provider: "openai",
    });
    assert.deepEqual(body.tools!.map((x) => (x as { name: string }).name), [
      "Read",
      "mcp__many__tool_7",
    ]);
    assert.deepEqual(toolCount, { sent: 2, held: 149 });
  });
  await t.step("Gemini", () => {
    const { body, toolCount } = toGeminiRequest(request(tools, messages), "gemini-2.5-pro", signer);
    assert.deepEqual(declarations(body).map((d) => d.name), [
      "Read",
      "mcp__many__tool_7",
    ]);
    assert.deepEqual(toolCount, { sent: 2, held: 149 });
  });
  await t.step("150 tools none deferred: Chat and Responses refuse, Gemini takes them", () => {
    const all = request(many(150));
    assert.throws(() => toChatRequest(all, "gpt-4.1"), /150 tools exceed openai's limit of 128/);
    assert.throws(
      () => toChatRequest(all, "gpt-4.1", { provider: "azure" }),
      /150 tools exceed azure's limit of 128/,
    );
    assert.throws(
      () => toResponsesRequest(all, "o3", { signer, provider: "openai" }),
      /150 tools exceed openai's limit of 128/,
    );
    assert.equal(
      declarations(toGeminiRequest(all, "gemini-2.5-pro", signer).body).length,
      150,
    );
  });
});

Deno.test("toGeminiRequest() aliases names over 64 characters and maps calls back exactly", async () => {
  const long = `mcp__${"server".repeat(10)}__tool_with_a_long_name`;
  assert.ok(long.length > 64);
  const translation = toGeminiRequest(
    request([tool(long)], [
      USER,
      { role: "assistant", content: [{ type: "tool_use", id: "toolu_x", name: long, input: {} }] },
      { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_x", content: "done" }] },
    ]),
    "gemini-2.5-pro",
    signer,
  );
  const declared = declarations(translation.body)[0].name as string;
  assert.match(declared, /^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/);
  const history = JSON.stringify(translation.body.contents);
  assert.ok(history.includes(`"functionCall":{"name":"${declared}"`));
  assert.ok(history.includes(`"functionResponse":{"name":"${declared}"`));
  // A call to the alias comes back under the client's name.
  const upstream = DIALECTS.google.tools([{ id: "", name: declared, args: { q: "x" } }]);
  const text = (upstream.chunks ?? []).map((c) => `data: ${JSON.stringify(c)}\n\n`).join("");
  const events = await Array.fromAsync(
    sseMessages(text).pipeThrough(
      new GeminiToAnthropicStream({
        id: "msg_1",
        model: "claude-opus-5-5",
        inputTokens: 1,
        toolNames: translation.toolNames,
        singleCall: false,
        signer,
        signThinking: () => "",
      }),
    ),
  );
  const start = events.find((e) => e.type === "content_block_start");
  assert.equal(
    start?.type === "content_block_start" && start.content_block.type === "tool_use" &&
      start.content_block.name,
    long,
  );
});

Deno.test("createHandler() answers a tool list over the limit with a 400 before any upstream call", async () => {
  const { post, upstream } = proxySetup({ OPENAI_BASE_URL: "http://openai.fake/v1" }, [
    DIALECTS.openai.text(["never"]),
  ]);
  const response = await post(request(many(150)), { "x-api-key": "k" });
  assert.equal(response.status, 400);
  const body = await response.json();
  assert.equal(body.error.type, "invalid_request_error");
  assert.match(body.error.message, /150 tools exceed openai's limit of 128 tools per request/);
  assert.equal(upstream.requests.length, 0);
});

Deno.test("createHandler() logs how many tools were sent and how many held back", async () => {
  const { post, upstream, lines } = proxySetup({ OPENAI_BASE_URL: "http://openai.fake/v1" }, [
    DIALECTS.openai.text(["ok"]),
  ]);
  const response = await post(request([tool("Read"), PLACEHOLDER, ...many(200, true)]), {
    "x-api-key": "k",
  });
  assert.equal(response.status, 200);
  await response.body?.cancel();
  assert.equal((upstream.requests[0].body.tools as unknown[]).length, 1);
  assert.match(lines.join("\n"), /tools=202 sent=1 held=201/);
});

Deno.test("the JSON request record carries toolsSent and toolsHeld", async () => {
  const upstream = createFakeUpstream([DIALECTS.google.text(["ok"])]);
  const lines: string[] = [];
  const handler = createHandler(
    testConfig({
      PREFERRED_PROVIDER: "google",
      GEMINI_API_KEY: "gm-test-key-0001",
      GEMINI_BASE_URL: "http://gemini.fake",
    }),
    {
      fetch: upstream.fetch,
      logger: createLogger({ format: "json", write: (line) => lines.push(line) }),
    },
  );
  const response = await handler(
    new Request("http://proxy.local/v1/messages", {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": "k" },
      body: JSON.stringify(request([tool("Read"), tool("Edit"), ...many(3, true)])),
    }),
  );
  await response.body?.cancel();
  const record = JSON.parse(
    lines.find((line) => line.includes('"requestId"'))!.replace(/^\S+ /, ""),
  );
  assert.equal(record.tools, 5);
  assert.equal(record.toolsSent, 2);
  assert.equal(record.toolsHeld, 3);
});

Deno.test("countTokens() and estimateTokens() leave out deferred tools that are not loaded", async () => {
  const loaded = request([tool("Read"), ...many(1, true)], [
    USER,
    ...search("t", "mcp__many__tool_0"),
  ]);
  const unloaded = request([tool("Read"), ...many(200, true)], [
    USER,
    ...search("t", "mcp__many__tool_0"),
  ]);
  assert.equal(await countTokens(unloaded, "gpt-4.1"), await countTokens(loaded, "gpt-4.1"));
  assert.equal(estimateTokens(unloaded), estimateTokens(loaded));
});
