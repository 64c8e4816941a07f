import assert from "node:assert/strict";
import { accumulate } from "../lib/anthropic/accumulate.ts";
import { normalize } from "../lib/anthropic/conversation.ts";
import { EventWriter } from "../lib/anthropic/events.ts";
import type { MessagesRequest, StreamEvent, WebSearchResult } from "../lib/anthropic/schema.ts";
import {
  domainAllowed,
  readOpaque,
  SearchWriter,
  webSearchOf,
} from "../lib/anthropic/web_search.ts";
import { toGeminiRequest } from "../lib/providers/gemini.ts";
import { toResponsesRequest } from "../lib/providers/openai_responses.ts";
import { Signer } from "../lib/upstream/signature.ts";
import {
  chatSearchReply,
  createFakeUpstream,
  DIALECTS,
  type Reply,
  responsesDialect,
} from "../bench/fake_upstream.ts";
import { createHandler } from "../lib/server/handler.ts";
import { describeConfig } from "../lib/cli/check.ts";
import { createLogger } from "../lib/server/log.ts";
import { assertValidStream, testConfig } from "./helpers.ts";
import { proxySetup } from "./proxy_setup.ts";
import { loadCatalog } from "../lib/routing/catalog.ts";

// The translators and routing look models up in the catalog, which loads on demand.
await loadCatalog();

const signer = new Signer("test-secret");

const WEB_SEARCH = {
  type: "web_search_20250305",
  name: "web_search",
  max_uses: 2,
  allowed_domains: ["https://Example.com/", "docs.deno.com"],
  user_location: { type: "approximate", city: "Paris", country: "FR", timezone: "Europe/Paris" },
};

function request(extra: Partial<MessagesRequest> = {}): MessagesRequest {
  return {
    model: "claude-opus-5-5",
    max_tokens: 1024,
    messages: [{ role: "user", content: "What is new in Deno?" }],
    tools: [WEB_SEARCH],
    ...extra,
  };
}

function writer() {
  const events: StreamEvent[] = [];
  const out = new EventWriter((e) => events.push(e), {
    id: "msg_test",
    model: "claude-opus-5-5",
    inputTokens: 10,
    signThinking: () => "sig",
  });
  return { events, out };
}

const USAGE = {
  input_tokens: 10,
  output_tokens: 5,
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: 0,
};

Deno.test("EventWriter writes server tool blocks whole and citations into text blocks", async () => {
  const { events, out } = writer();
  const search = new SearchWriter({ name: "web_search" });
  search.write(out, {
    query: "deno 3 release",
    results: [{ url: "https://deno.com/blog/v3", title: "Deno 3", pageAge: "2 days ago" }],
  });
  search.writeText(out, "Deno 3 is out. It is fast.", [{
    start: 0,
    end: 14,
    sources: [{ url: "https://deno.com/blog/v3", title: "Deno 3" }],
  }]);
  out.stop("end_turn", USAGE);
  assertValidStream(events);

  const start = events.find((e) =>
    e.type === "content_block_start" && e.content_block.type === "web_search_tool_result"
  );
  assert.ok(start, "the results arrive in content_block_start");
  const message = await accumulate(ReadableStream.from(events));
  const [use, result, cited, plain] = message.content;
  assert.equal(use.type, "server_tool_use");
  assert.match((use as { id: string }).id, /^srvtoolu_[A-Za-z0-9]{24}$/);
  assert.deepEqual((use as { input: unknown }).input, { query: "deno 3 release" });
  assert.equal(result.type, "web_search_tool_result");
  assert.equal((result as { tool_use_id: string }).tool_use_id, (use as { id: string }).id);
  const [page] = (result as { content: WebSearchResult[] }).content;
  assert.equal(page.url, "https://deno.com/blog/v3");
  assert.equal(page.page_age, "2 days ago");
  assert.deepEqual(readOpaque(page.encrypted_content), {
    url: "https://deno.com/blog/v3",
    title: "Deno 3",
  });
  assert.deepEqual(cited, {
    type: "text",
    text: "Deno 3 is out.",
    citations: [{
      type: "web_search_result_location",
      url: "https://deno.com/blog/v3",
      title: "Deno 3",
      cited_text: "Deno 3 is out.",
      encrypted_index: (cited as { citations: Array<{ encrypted_index: string }> }).citations[0]
        .encrypted_index,
    }],
  });
  assert.deepEqual(plain, { type: "text", text: " It is fast." });
  assert.deepEqual(message.usage.server_tool_use, {
    web_search_requests: 1,
    web_fetch_requests: 0,
  });
});

Deno.test("SearchWriter honours max_uses and the domain lists", async (t) => {
  await t.step("searches past max_uses get a max_uses_exceeded error", async () => {
    const { events, out } = writer();
    const search = new SearchWriter({ name: "web_search", maxUses: 1 });
    search.write(out, { query: "a", results: [{ url: "https://a.com/", title: "A" }] });
    search.write(out, { query: "b", results: [{ url: "https://b.com/", title: "B" }] });
    out.stop("end_turn", USAGE);
    assertValidStream(events);
    const message = await accumulate(ReadableStream.from(events));
    assert.deepEqual((message.content[3] as { content: unknown }).content, {
      type: "web_search_tool_result_error",
      error_code: "max_uses_exceeded",
    });
    assert.equal(message.usage.server_tool_use?.web_search_requests, 1);
  });
  await t.step("a search that failed upstream is an unavailable error", async () => {
    const { events, out } = writer();
    new SearchWriter({ name: "web_search" }).write(out, { query: "a", results: [], failed: true });
    out.stop("end_turn", USAGE);
    const message = await accumulate(ReadableStream.from(events));
    assert.deepEqual((message.content[1] as { content: unknown }).content, {
      type: "web_search_tool_result_error",
      error_code: "unavailable",
    });
    assert.equal(message.usage.server_tool_use, undefined);
  });
  await t.step("results and citations from blocked domains are removed", async () => {
    const { events, out } = writer();
    const search = new SearchWriter({ name: "web_search", blockedDomains: ["evil.com"] });
    search.write(out, {
      query: "q",
      results: [
        { url: "https://www.evil.com/x", title: "Evil" },
        { url: "https://good.org/", title: "Good" },
      ],
    });
    search.writeText(out, "Claim.", [{
      start: 0,
      end: 6,
      sources: [{ url: "https://evil.com/", title: "Evil" }],
    }]);
    out.stop("end_turn", USAGE);
    const message = await accumulate(ReadableStream.from(events));
    assert.deepEqual(
      (message.content[1] as { content: Array<{ url: string }> }).content.map((r) => r.url),
      ["https://good.org/"],
    );
    assert.deepEqual(message.content[2], { type: "text", text: "Claim." });
  });
  await t.step("allowed domains include subdomains; a redirect link is judged by its site", () => {
    const spec = { name: "web_search", allowedDomains: ["example.com"] };
    assert.ok(domainAllowed("docs.example.com", spec));
    assert.ok(!domainAllowed("example.com.evil.net", spec));
    assert.ok(!domainAllowed("vertexaisearch.cloud.google.com", spec));
  });
});

Deno.test("webSearchOf() reads the tool's options; other server tools are not web search", () => {
  assert.deepEqual(webSearchOf([WEB_SEARCH]), {
    name: "web_search",
    maxUses: 2,
    allowedDomains: ["https://Example.com/", "docs.deno.com"],
    userLocation: { city: "Paris", country: "FR", timezone: "Europe/Paris" },
  });
  assert.equal(webSearchOf([{ type: "web_fetch_20250910", name: "web_fetch" }]), undefined);
  assert.equal(webSearchOf([{ name: "Read" }]), undefined);
});

Deno.test("toResponsesRequest() sends the web search tool as the hosted web_search tool", async (t) => {
  await t.step("filters, location, context size, sources, max_uses, forced choice", () => {
    const { body, webSearch } = toResponsesRequest(
      request({ tool_choice: { type: "tool", name: "web_search" } }),
      "gpt-4.1",
      { signer, provider: "openai", searchContextSize: "low" },
    );
    assert.ok(webSearch);
    assert.deepEqual(body.tools, [{
      type: "web_search",
      filters: { allowed_domains: ["example.com", "docs.deno.com"] },
      user_location: {
        type: "approximate",
        city: "Paris",
        country: "FR",
        timezone: "Europe/Paris",
      },
      search_context_size: "low",
    }]);
    assert.deepEqual(body.include, ["web_search_call.action.sources"]);
    assert.equal(body.max_tool_calls, 2);
    assert.equal(body.tool_choice, "required");
  });
  await t.step(
    "beside client tools: both, and a choice of web_search leaves it to the model",
    () => {
      const { body } = toResponsesRequest(
        request({
          tools: [WEB_SEARCH, { name: "Read", input_schema: { type: "object" } }],
          tool_choice: { type: "tool", name: "web_search" },
        }),
        "gpt-4.1",
        { signer, provider: "openai" },
      );
      assert.deepEqual((body.tools ?? []).map((t) => t.type), ["function", "web_search"]);
      assert.equal(body.tool_choice, "auto");
    },
  );
  await t.step("withoutWebSearch leaves it out", () => {
    const { body, webSearch } = toResponsesRequest(request(), "gpt-4.1", {
      signer,
      provider: "azure",
      withoutWebSearch: true,
    });
    assert.equal(webSearch, undefined);
    assert.equal(body.tools, undefined);
  });
});

Deno.test("toGeminiRequest() sends the web search tool as googleSearch grounding", async (t) => {
  await t.step("alone: googleSearch and no function config", () => {
    const { body, webSearch } = toGeminiRequest(
      request({ tool_choice: { type: "tool", name: "web_search" } }),
      "gemini-2.5-flash",
      signer,
    );
    assert.ok(webSearch);
    assert.deepEqual(body.tools, [{ googleSearch: {} }]);
    assert.equal(body.toolConfig, undefined);
  });
  const mixed = request({
    tools: [WEB_SEARCH, { name: "Read", input_schema: { type: "object", properties: {} } }],
  });
  await t.step("Gemini 2.x beside functions: the functions stay, search is dropped", () => {
    const { body, webSearch, dropped } = toGeminiRequest(mixed, "gemini-2.5-pro", signer);
    assert.equal(webSearch, undefined);
    assert.equal(JSON.stringify(body.tools).includes("googleSearch"), false);
    assert.ok(dropped.some((d) => d.startsWith("web_search")));
  });
  await t.step("Gemini 3 beside functions: both, with server-side invocations shown", () => {
    const { body, webSearch } = toGeminiRequest(mixed, "gemini-3-pro-preview", signer);
    assert.ok(webSearch);
    assert.deepEqual(body.tools?.at(-1), { googleSearch: {} });
    assert.equal(body.toolConfig?.includeServerSideToolInvocations, true);
  });
});

Deno.test("search blocks from earlier turns reach the backend as text the model can cite", () => {
  const conversation = normalize({
    messages: [
      { role: "user", content: "What is new in Deno?" },
      {
        role: "assistant",
        content: [
          {
            type: "server_tool_use",
            id: "srvtoolu_1",
            name: "web_search",
            input: { query: "deno news" },
          },
          {
            type: "web_search_tool_result",
            tool_use_id: "srvtoolu_1",
            content: [{
              type: "web_search_result",
              url: "https://deno.com/blog/v3",
              title: "Deno 3",
              encrypted_content: "x",
              page_age: "2 days ago",
            }],
          },
          {
            type: "server_tool_use",
            id: "srvtoolu_2",
            name: "web_search",
            input: { query: "more" },
          },
          {
            type: "web_search_tool_result",
            tool_use_id: "srvtoolu_2",
            content: { type: "web_search_tool_result_error", error_code: "max_uses_exceeded" },
          },
          {
            type: "text",
            text: "Deno 3 is out.",
            citations: [{
              type: "web_search_result_location",
              url: "https://deno.com/blog/v3",
              title: "Deno 3",
              cited_text: "Deno 3 is out.",
              encrypted_index: "y",
            }],
          },
        ],
      },
      { role: "user", content: "Thanks" },
    ],
  });
  const assistant = conversation.turns[1];
  assert.equal(assistant.role, "assistant");
  const texts = assistant.role === "assistant"
    ? assistant.items.map((i) => i.kind === "text" ? i.text : "")
    : [];
  assert.deepEqual(texts, [
    "[Searched the web for: deno news]",
    "[Web search results]\n1. Deno 3 <https://deno.com/blog/v3> (2 days ago)",
    "[Searched the web for: more]",
    "[Web search failed: max_uses_exceeded]",
    "Deno 3 is out. ([Deno 3](https://deno.com/blog/v3))",
  ]);
  assert.deepEqual(conversation.dropped, []);
});

Deno.test("a Chat model on api.openai.com searches through Responses", async () => {
  const { post, upstream } = proxySetup({ BIG_MODEL: "gpt-4.1" }, [
    responsesDialect().text(["ok"]),
  ]);
  const response = await post(request());
  assert.equal(response.status, 200);
  await response.body?.cancel();
  assert.match(upstream.requests[0].url, /\/responses$/);
  assert.equal((upstream.requests[0].body.tools as Array<{ type: string }>)[0].type, "web_search");
});

Deno.test("where the default backend cannot search, ROUTE_WEB_SEARCH sends search there", async (t) => {
  const ask = async (env: Record<string, string>, reply: Reply) => {
    const { post, upstream } = proxySetup(env, [reply]);
    const message = await (await post(request())).json();
    return { upstream, message };
  };
  await t.step("a chat-only OpenAI server, search routed to Gemini", async () => {
    const { upstream, message } = await ask({
      OPENAI_BASE_URL: "http://127.0.0.1:9/v1",
      GEMINI_API_KEY: "gm-test",
      ROUTE_WEB_SEARCH: "gemini/gemini-2.5-flash",
    }, DIALECTS.google.text(["found"]));
    assert.match(upstream.requests[0].url, /gemini-2\.5-flash:streamGenerateContent/);
    assert.deepEqual(upstream.requests[0].body.tools, [{ googleSearch: {} }]);
    assert.equal(message.content.at(-1).text, "found");
  });
  await t.step("OpenAI's Chat search models stay on Chat and search by themselves", async () => {
    const { upstream, message } = await ask(
      // Served anywhere (here an OpenAI-compatible server): the model itself searches.
      {
        OPENAI_BASE_URL: "http://127.0.0.1:9/v1",
        ROUTE_WEB_SEARCH: "openai/gpt-4o-search-preview",
      },
      chatSearchReply({
        searches: [],
        pieces: ["Deno 3 is out ([deno.com](https://docs.deno.com/v3))."],
        cites: [{
          text: "([deno.com](https://docs.deno.com/v3))",
          pages: [{ url: "https://docs.deno.com/v3", title: "Deno 3" }],
        }],
      }),
    );
    assert.match(upstream.requests[0].url, /\/chat\/completions$/);
    const body = upstream.requests[0].body;
    assert.deepEqual(body.web_search_options, {
      user_location: {
        type: "approximate",
        approximate: { city: "Paris", country: "FR", timezone: "Europe/Paris" },
      },
    });
    assert.equal(body.tools, undefined);
    assert.deepEqual(message.content.slice(0, 2).map((b: { type: string }) => b.type), [
      "server_tool_use",
      "web_search_tool_result",
    ]);
    assert.deepEqual(message.content[0].input, { query: "What is new in Deno?" });
    assert.deepEqual(message.content[1].content.map((r: { url: string }) => r.url), [
      "https://docs.deno.com/v3",
    ]);
    assert.equal(message.content[2].citations[0].title, "Deno 3");
  });
});

Deno.test("the log line says when Gemini 2.x drops search for the client's tools", async () => {
  const upstream = createFakeUpstream([DIALECTS.google.text(["ok"])]);
  const lines: string[] = [];
  const handler = createHandler(
    testConfig({ PREFERRED_PROVIDER: "google", GEMINI_API_KEY: "gm-test" }),
    { fetch: upstream.fetch, logger: createLogger({ write: (line) => lines.push(line) }) },
  );
  const response = await handler(
    new Request("http://proxy/v1/messages", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(request({
        tools: [WEB_SEARCH, { name: "Read", input_schema: { type: "object", properties: {} } }],
      })),
    }),
  );
  await response.json();
  assert.ok(!JSON.stringify(upstream.requests[0].body.tools).includes("googleSearch"));
  assert.match(lines.join("\n"), /web-search=dropped \(Gemini 2\.x cannot mix/);
});

Deno.test("ccproxy check says where web search runs, or why it cannot", () => {
  const line = (env: Record<string, string>) =>
    describeConfig(testConfig(env)).find((l) => l.startsWith("web search: "));
  assert.equal(line({}), "web search: openai/gpt-4.1");
  assert.equal(
    line({ OPENAI_BASE_URL: "http://127.0.0.1:9/v1" }),
    'web search: unavailable (openai: OPENAI_BASE_URL is not api.openai.com and OPENAI_API_MODE is not responses): answered with "search is unavailable"',
  );
  assert.equal(
    line({
      OPENAI_BASE_URL: "http://127.0.0.1:9/v1",
      GEMINI_API_KEY: "gm-test",
      ROUTE_WEB_SEARCH: "gemini/gemini-2.5-flash",
    }),
    "web search: google/gemini-2.5-flash",
  );
});
