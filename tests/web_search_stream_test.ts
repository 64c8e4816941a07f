/**
 * Web search answers from both search dialects (OpenAI Responses `web_search_call` +
 * `url_citation`, Gemini grounding metadata) → Anthropic's server tool blocks and citations,
 * compared with golden transcripts; then the same through the handler, accumulated by the
 * official Anthropic SDK.
 */
import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";
import { accumulate } from "../lib/anthropic/accumulate.ts";
import type { StreamEvent } from "../lib/anthropic/schema.ts";
import type { WebSearchSpec } from "../lib/anthropic/web_search.ts";
import { GeminiToAnthropicStream } from "../lib/providers/gemini.ts";
import { ResponsesToAnthropicStream } from "../lib/providers/openai_responses.ts";
import { ChatToAnthropicStream } from "../lib/providers/openai_chat.ts";
import { createHandler } from "../lib/server/handler.ts";
import { createLogger } from "../lib/server/log.ts";
import { Signer } from "../lib/upstream/signature.ts";
import { Ledger } from "../lib/usage/ledger.ts";
import { priceNanos } from "../lib/usage/prices.ts";
import { UsageTracker } from "../lib/usage/tracker.ts";
import {
  chatSearchReply,
  createFakeUpstream,
  type FakeSearchAnswer,
  geminiSearchReply,
  type Reply,
  responsesSearchReply,
} from "../bench/fake_upstream.ts";
import { ANSWER, DENO, NEWS, SPAM } from "./search_answer.ts";
import {
  assertGolden,
  assertValidStream,
  encodeEvents,
  sseMessages,
  testConfig,
  testdata,
} from "./helpers.ts";

const signer = new Signer("test-secret");

const GEMINI_ANSWER: FakeSearchAnswer = {
  ...ANSWER,
  pieces: ["Deno 3 — café — was released in 2026. ", "It adds a 🦕 package manager."],
  cites: [
    { text: "Deno 3 — café — was released in 2026.", pages: [DENO, NEWS] },
    { text: "It adds a 🦕 package manager.", pages: [NEWS, SPAM] },
  ],
};

/** A reply as the SSE text the upstream sends. */
function upstreamText(reply: Reply): string {
  return (reply.chunks ?? []).map((c) => `data: ${JSON.stringify(c)}\n\n`).join("");
}

/** The upstream transcript `name` (written from the fake's builder with UPDATE_GOLDEN=1). */
function upstream(name: string, reply: Reply): string {
  const file = `${name}.upstream.sse`;
  if (Deno.env.get("UPDATE_GOLDEN") === "1") {
    Deno.writeTextFileSync(new URL(`./testdata/${file}`, import.meta.url), upstreamText(reply));
  }
  return testdata(file);
}

/** srvtoolu ids are random: each distinct id becomes `srvtoolu_<n>`, keeping the pairing. */
function maskServerIds(text: string): string {
  const seen = new Map<string, string>();
  return text.replace(
    /srvtoolu_[A-Za-z0-9]{24}/g,
    (id) => seen.get(id) ?? seen.set(id, `srvtoolu_<${seen.size + 1}>`).get(id)!,
  );
}

const init = { id: "msg_test", model: "claude-opus-5-5", inputTokens: 42, signer };

function responsesEvents(text: string, spec: WebSearchSpec) {
  return sseMessages(text).pipeThrough(
    new ResponsesToAnthropicStream({
      ...init,
      toolNames: new Map(),
      thinking: false,
      upstreamModel: "gpt-4.1",
      provider: "openai",
      signThinking: () => "unused",
      webSearch: spec,
    }),
  );
}

function geminiEvents(text: string, spec: WebSearchSpec) {
  return sseMessages(text).pipeThrough(
    new GeminiToAnthropicStream({
      ...init,
      toolNames: new Map(),
      singleCall: false,
      signThinking: () => "unused",
      webSearch: spec,
    }),
  );
}

function chatEvents(text: string, query: string) {
  return sseMessages(text).pipeThrough(
    new ChatToAnthropicStream({
      ...init,
      toolNames: new Map(),
      upstreamModel: "gpt-4o-search-preview",
      provider: "openai",
      signThinking: () => "unused",
      webSearch: { spec: { name: "web_search" }, query },
    }),
  );
}

const GOLDEN: Array<[string, string, () => ReadableStream<StreamEvent>]> = [
  [
    "responses_web_search",
    "web_search_call items + url_citation annotations → searches, results, cited text",
    () =>
      responsesEvents(upstream("responses_web_search", responsesSearchReply(ANSWER)), {
        name: "web_search",
      }),
  ],
  [
    "responses_web_search_max_uses",
    "the second search past max_uses: 1 → max_uses_exceeded; blocked domain removed",
    () =>
      responsesEvents(testdata("responses_web_search.upstream.sse"), {
        name: "web_search",
        maxUses: 1,
        blockedDomains: ["example.org"],
      }),
  ],
  [
    "chat_web_search",
    "a Chat search model's url_citation annotations → one search, the cited pages, cited text",
    () => chatEvents(upstream("chat_web_search", chatSearchReply(ANSWER)), "deno 3"),
  ],
  [
    "gemini_web_search",
    "grounding metadata → searches, results (redirect links, site titles), cited text",
    () =>
      geminiEvents(upstream("gemini_web_search", geminiSearchReply(GEMINI_ANSWER)), {
        name: "web_search",
        blockedDomains: ["spam.test"],
      }),
  ],
];

Deno.test("web search answers translate to Anthropic's blocks (golden)", async (t) => {
  for (const [name, description, events] of GOLDEN) {
    await t.step(`${name}: ${description}`, async () => {
      const list = await Array.fromAsync(events());
      assertValidStream(list);
      assertGolden(maskServerIds(await encodeEvents(list)), `${name}.anthropic.sse`);
    });
  }
});

Deno.test("a Responses web search answer accumulates to searches, results and citations", async () => {
  const message = await accumulate(
    responsesEvents(testdata("responses_web_search.upstream.sse"), { name: "web_search" }),
  );
  const types = message.content.map((b) => b.type);
  assert.deepEqual(types, [
    "server_tool_use",
    "web_search_tool_result",
    "server_tool_use",
    "web_search_tool_result",
    "text",
    "text",
    "text",
    "text",
  ]);
  assert.deepEqual(message.content.slice(4).map((b) => (b as { text: string }).text), [
    "Here is what I found — café style. ",
    "Deno 3 was released in 2026 ([deno.com](https://deno.com/blog/v3)).",
    " ",
    "It adds a new 🦕 package manager ([news.example.org](https://news.example.org/deno-3)).",
  ]);
  const [first, results] = message.content;
  assert.deepEqual((first as { input: unknown }).input, { query: "deno 3 release date" });
  assert.deepEqual(
    (results as { content: Array<{ url: string; title: string }> }).content.map((r) => [
      r.url,
      r.title,
    ]),
    [[DENO.url, DENO.title], [NEWS.url, NEWS.title]],
  );
  const cited = message.content[5] as unknown as {
    text: string;
    citations: Array<Record<string, string>>;
  };
  assert.equal(
    cited.text,
    "Deno 3 was released in 2026 ([deno.com](https://deno.com/blog/v3)).",
  );
  assert.deepEqual(cited.citations.map((c) => [c.type, c.url, c.title]), [
    ["web_search_result_location", DENO.url, DENO.title],
    ["web_search_result_location", NEWS.url, NEWS.title],
  ]);
  assert.deepEqual(message.usage.server_tool_use, {
    web_search_requests: 2,
    web_fetch_requests: 0,
  });
});

Deno.test("a Gemini grounded answer cites the right stretches despite multi-byte text", async () => {
  const message = await accumulate(
    geminiEvents(testdata("gemini_web_search.upstream.sse"), { name: "web_search" }),
  );
  const texts = message.content.filter((b) => b.type === "text") as Array<
    { text: string; citations?: Array<{ cited_text: string; title: string }> }
  >;
  assert.deepEqual(texts.map((t) => [t.text, t.citations?.map((c) => c.title)]), [
    ["Deno 3 — café — was released in 2026.", ["deno.com", "news.example.org"]],
    [" ", undefined],
    ["It adds a 🦕 package manager.", ["news.example.org", "spam.test"]],
  ]);
  assert.equal(texts[0].citations![0].cited_text, "Deno 3 — café — was released in 2026.");
  assert.equal(message.usage.server_tool_use?.web_search_requests, 2);
});

function proxy(env: Record<string, string>, reply: (body: Record<string, unknown>) => Reply) {
  const upstream = createFakeUpstream((request) => reply(request.body));
  const handler = createHandler(testConfig(env), {
    fetch: upstream.fetch,
    logger: createLogger({ write: () => {} }),
  });
  const client = new Anthropic({
    apiKey: "sk-ant-test",
    baseURL: "http://proxy",
    maxRetries: 0,
    fetch: (input, init) => handler(new Request(input, init)),
  });
  return { client, upstream };
}

const SEARCH_REQUEST = {
  model: "claude-opus-5-5",
  max_tokens: 1024,
  messages: [{ role: "user" as const, content: "What is new in Deno 3?" }],
  tools: [{ type: "web_search_20250305" as const, name: "web_search" as const, max_uses: 5 }],
};

for (
  const [name, env, reply] of [
    ["OpenAI", { BIG_MODEL: "gpt-4.1" }, () => responsesSearchReply(ANSWER)],
    [
      "Gemini",
      { PREFERRED_PROVIDER: "google", GEMINI_API_KEY: "gm-test", BIG_MODEL: "gemini-2.5-pro" },
      () => geminiSearchReply(GEMINI_ANSWER),
    ],
  ] as const
) {
  Deno.test(`the Anthropic SDK accumulates a web search answer on ${name}, streamed or not`, async () => {
    const { client, upstream } = proxy(env, reply);
    const streamed = await client.messages.stream(SEARCH_REQUEST).finalMessage();
    const whole = await client.messages.create(SEARCH_REQUEST);
    for (const message of [streamed, whole]) {
      const uses = message.content.filter((b) => b.type === "server_tool_use");
      assert.deepEqual(uses.map((b) => b.input), [
        { query: "deno 3 release date" },
        { query: "deno 3 features" },
      ]);
      for (const use of uses) assert.match(use.id, /^srvtoolu_/);
      const results = message.content.filter((b) => b.type === "web_search_tool_result");
      assert.deepEqual(results.map((b) => b.tool_use_id), uses.map((b) => b.id));
      const first = results[0].content;
      assert.ok(Array.isArray(first) && first.length >= 2);
      const citations = message.content.flatMap((b) => b.type === "text" ? b.citations ?? [] : []);
      assert.ok(citations.length >= 2);
      for (const c of citations) assert.equal(c.type, "web_search_result_location");
      assert.equal(message.usage.server_tool_use?.web_search_requests, 2);
    }
    // Streamed and whole answers are the same message.
    const shape = (m: { content: unknown }) =>
      JSON.stringify(m.content).replace(/srvtoolu_[A-Za-z0-9]+/g, "srvtoolu");
    assert.equal(shape(streamed), shape(whole));
    assert.equal(upstream.requests.length, 2);
  });
}

Deno.test("each search is in the usage ledger, priced per search by the catalog", async () => {
  const dir = await Deno.makeTempDir();
  const ledger = await Ledger.open(`${dir}/usage`);
  const usage = new UsageTracker({ ledger });
  const upstream = createFakeUpstream([responsesSearchReply(ANSWER)]);
  const handler = createHandler(testConfig({ BIG_MODEL: "gpt-4.1" }), {
    fetch: upstream.fetch,
    logger: createLogger({ write: () => {} }),
    usage,
  });
  try {
    const response = await handler(
      new Request("http://proxy/v1/messages", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ...SEARCH_REQUEST, stream: true }),
      }),
    );
    await response.text();
    await usage.settled();
    const [record] = await ledger.records(0, Date.now() + 1000);
    assert.equal(record.usage.web_search_requests, 2);
    const tokensOnly = await priceNanos({
      provider: "openai",
      model: "gpt-4.1",
      usage: { ...record.usage, web_search_requests: 0 },
      at: new Date(record.time),
    });
    assert.ok(tokensOnly !== null && record.costUsd! > tokensOnly / 1e9, "searches cost extra");
  } finally {
    await ledger.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("web search beside client tools: the search blocks, then the client's tool call", async (t) => {
  const read = {
    name: "Read",
    description: "Reads a file",
    input_schema: { type: "object" as const },
  };
  const call = { id: "call_read_1", name: "Read", args: { file_path: "notes.md" } };
  for (
    const [name, env, reply] of [
      [
        "OpenAI",
        { BIG_MODEL: "gpt-4.1" },
        () => responsesSearchReply({ ...ANSWER, calls: [call] }),
      ],
      [
        "Gemini 3",
        {
          PREFERRED_PROVIDER: "google",
          GEMINI_API_KEY: "gm-test",
          BIG_MODEL: "gemini-3-pro-preview",
        },
        () => geminiSearchReply({ ...GEMINI_ANSWER, calls: [call] }),
      ],
    ] as const
  ) {
    await t.step(name, async () => {
      const { client, upstream } = proxy(env, reply);
      const message = await client.messages.stream({
        ...SEARCH_REQUEST,
        tools: [...SEARCH_REQUEST.tools, read],
      }).finalMessage();
      const types = message.content.map((b) => b.type);
      assert.deepEqual(types.slice(0, 4), [
        "server_tool_use",
        "web_search_tool_result",
        "server_tool_use",
        "web_search_tool_result",
      ]);
      assert.equal(types.at(-1), "tool_use");
      const use = message.content.at(-1)!;
      assert.ok(use.type === "tool_use" && use.name === "Read");
      assert.deepEqual(use.input, { file_path: "notes.md" });
      assert.equal(message.stop_reason, "tool_use");
      const sent = JSON.stringify(upstream.requests[0].body.tools);
      assert.ok(sent.includes("Read") && /web_search|googleSearch/.test(sent), sent);
    });
  }
});
