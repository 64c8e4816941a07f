/** Routing, Azure URL forms, the Anthropic passthrough, retries and fallback. */
import assert from "node:assert/strict";
import { createFakeUpstream, DIALECTS, type Recorded, type Reply } from "../bench/fake_upstream.ts";
import { ProxyError } from "../lib/anthropic/errors.ts";
import { createLogger } from "../lib/server/log.ts";
import { retryDelay } from "../lib/upstream/retry.ts";
import { route as routeWithInfo } from "../lib/routing/route.ts";
import { createHandler } from "../lib/server/handler.ts";
import { parseClientSse, testConfig } from "./helpers.ts";
import { loadCatalog } from "../lib/routing/catalog.ts";

// The translators and routing look models up in the catalog, which loads on demand.
await loadCatalog();

const BODY = {
  model: "claude-opus-5-5",
  max_tokens: 100,
  messages: [{ role: "user", content: "hi" }],
};

/** The provider and model of each target (the resolved limits are tested in windows_test.ts). */
const route = (...args: Parameters<typeof routeWithInfo>) =>
  routeWithInfo(...args).map(({ provider, model }) => ({ provider, model }));

function setup(env: Record<string, string>, responder: (r: Recorded, i: number) => Reply) {
  const upstream = createFakeUpstream(responder);
  const lines: string[] = [];
  const sleeps: number[] = [];
  const handler = createHandler(testConfig(env), {
    fetch: upstream.fetch,
    logger: createLogger({ write: (line) => lines.push(line) }),
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
    random: () => 0.5,
  });
  const post = (
    body: unknown = BODY,
    headers: Record<string, string> = {},
    path = "/v1/messages",
  ) =>
    handler(
      new Request(`http://proxy${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
      }),
    );
  return { upstream, post, lines, sleeps };
}

Deno.test("route() orders targets: preferred first, then fallbacks with their own models", async (t) => {
  const config = testConfig({
    PREFERRED_PROVIDER: "azure",
    AZURE_OPENAI_API_KEY: "az",
    AZURE_OPENAI_ENDPOINT: "https://r.openai.azure.com",
    BIG_MODEL: "big-deploy",
    SMALL_MODEL: "small-deploy",
    FALLBACK_PROVIDERS: "google, openai",
    GEMINI_API_KEY: "gm",
    GEMINI_SMALL_MODEL: "gemini-2.5-flash-lite",
    OPENAI_BIG_MODEL: "o3",
  });
  await t.step("opus", () => {
    assert.deepEqual(route("claude-opus-5-5", config), [
      { provider: "azure", model: "big-deploy" },
      { provider: "google", model: "gemini-2.5-pro" },
      { provider: "openai", model: "o3" },
    ]);
  });
  await t.step("haiku", () => {
    assert.deepEqual(route("claude-haiku-5-5", config).map((t) => t.model), [
      "small-deploy",
      "gemini-2.5-flash-lite",
      "gpt-4.1-mini",
    ]);
  });
  await t.step("an explicit prefix pins one provider, no fallback", () => {
    assert.deepEqual(route("gemini/gemini-3-pro-preview", config), [{
      provider: "google",
      model: "gemini-3-pro-preview",
    }]);
    assert.deepEqual(route("anthropic/claude-opus-5-5", config), [{
      provider: "anthropic",
      model: "claude-opus-5-5",
    }]);
  });
  await t.step("a non-Claude name goes to the preferred provider unchanged", () => {
    assert.deepEqual(route("my-deployment", config), [{
      provider: "azure",
      model: "my-deployment",
    }]);
  });
});

Deno.test("Azure: deployment URLs, api-key header, no Authorization", async (t) => {
  const env = {
    PREFERRED_PROVIDER: "azure",
    AZURE_OPENAI_API_KEY: "az-secret-0001",
    AZURE_OPENAI_ENDPOINT: "https://res.openai.azure.com",
    BIG_MODEL: "gpt-41-prod",
    SMALL_MODEL: "mini-prod",
  };
  await t.step("classic api-version form", async () => {
    const { upstream, post } = setup(env, () => DIALECTS.azure.text(["ok"]));
    await (await post({ ...BODY, model: "claude-haiku-4-5" })).text();
    const call = upstream.requests[0];
    assert.equal(
      call.url,
      "https://res.openai.azure.com/openai/deployments/mini-prod/chat/completions?api-version=2024-10-21",
    );
    assert.equal(call.headers.get("api-key"), "az-secret-0001");
    assert.equal(call.headers.get("authorization"), null);
  });
  await t.step("v1 form: deployment as model, no api-version", async () => {
    const { upstream, post } = setup(
      { ...env, AZURE_OPENAI_API_VERSION: "v1" },
      () => DIALECTS.azure.text(["ok"]),
    );
    await (await post()).text();
    const call = upstream.requests[0];
    assert.equal(call.url, "https://res.openai.azure.com/openai/v1/chat/completions");
    assert.equal(call.body.model, "gpt-41-prod");
    assert.equal(call.headers.get("authorization"), null);
  });
  await t.step("content_filter → refusal, with the filter's reason in the log", async () => {
    const { post, lines } = setup(env, () => ({
      chunks: [
        {
          id: "",
          choices: [],
          prompt_filter_results: [{ prompt_index: 0, content_filter_results: {} }],
        },
        { choices: [{ index: 0, delta: { content: "I can" }, finish_reason: null }] },
        {
          choices: [{
            index: 0,
            delta: {},
            finish_reason: "content_filter",
            content_filter_results: { violence: { filtered: true, severity: "high" } },
          }],
        },
      ],
    }));
    const message = await (await post()).json();
    assert.equal(message.stop_reason, "refusal");
    assert.match(
      lines.join("\n"),
      /content_filter=\{"violence":\{"filtered":true,"severity":"high"\}\}/,
    );
  });
  await t.step("Azure's error bodies (code, no type) map like OpenAI's", async () => {
    const { post } = setup(env, () => ({
      status: 404,
      error: {
        error: {
          code: "DeploymentNotFound",
          message: "The API deployment for this resource does not exist.",
        },
      },
    }));
    const response = await post();
    assert.equal(response.status, 404);
    assert.match(
      (await response.json()).error.message,
      /deployment for this resource does not exist/,
    );
  });
});

Deno.test("Anthropic passthrough forwards the request and streams the answer back untouched", async (t) => {
  const events = [
    {
      type: "message_start",
      message: {
        id: "msg_upstream",
        type: "message",
        role: "assistant",
        model: "claude-opus-5-5",
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: 9, output_tokens: 1 },
      },
    },
    { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
    {
      type: "content_block_delta",
      index: 0,
      delta: { type: "text_delta", text: "Hi from Anthropic" },
    },
    { type: "content_block_stop", index: 0 },
    {
      type: "message_delta",
      delta: { stop_reason: "end_turn", stop_sequence: null },
      usage: { output_tokens: 4 },
    },
    { type: "message_stop" },
  ];
  const env = {
    PREFERRED_PROVIDER: "anthropic",
    ANTHROPIC_API_KEY: "sk-ant-upstream-0001",
    ANTHROPIC_UPSTREAM_URL: "https://anthropic.fake",
  };
  const reply: Reply = {
    done: false,
    chunks: events,
  };
  await t.step("streaming", async () => {
    const { upstream, post } = setup(env, () => reply);
    const body = {
      ...BODY,
      stream: true,
      thinking: { type: "adaptive" },
      context_management: { edits: [] },
    };
    const response = await post(body, {
      "x-api-key": "client-key",
      "anthropic-version": "2023-06-01",
      "anthropic-beta": "context-management-2025-06-27",
    });
    const received = parseClientSse(await response.text()).filter((e) => e.type !== "ping");
    assert.deepEqual(received, events);
    const call = upstream.requests[0];
    assert.equal(call.url, "https://anthropic.fake/v1/messages");
    assert.equal(call.headers.get("x-api-key"), "sk-ant-upstream-0001");
    assert.equal(call.headers.get("anthropic-beta"), "context-management-2025-06-27");
    assert.deepEqual(call.body, body, "the body goes unchanged");
  });
  await t.step("non-streaming", async () => {
    const { post } = setup(env, () => reply);
    const message = await (await post()).json();
    assert.equal(message.id, "msg_upstream");
    assert.deepEqual(message.content, [{ type: "text", text: "Hi from Anthropic" }]);
  });
  await t.step(
    "tool ids: Anthropic's own kept, a compatible server's call_0 made unique",
    async () => {
      const own = "toolu_01A09q90qw90lq917835lq9";
      const toolTurn = (id: string): Reply => ({
        done: false,
        chunks: [
          events[0],
          {
            type: "content_block_start",
            index: 0,
            content_block: { type: "tool_use", id, name: "Read", input: {} },
          },
          { type: "content_block_stop", index: 0 },
          {
            type: "message_delta",
            delta: { stop_reason: "tool_use", stop_sequence: null },
            usage: { output_tokens: 4 },
          },
          { type: "message_stop" },
        ],
      });
      const { post } = setup(env, (_, i) => toolTurn(i === 0 ? own : "call_0"));
      const ids: string[] = [];
      for (let turn = 0; turn < 3; turn++) {
        const message = await (await post()).json();
        ids.push(message.content[0].id);
      }
      assert.equal(ids[0], own);
      assert.match(ids[1], /^toolu_[A-Za-z0-9]{24}$/);
      assert.equal(new Set(ids).size, 3, ids.join(", "));
    },
  );
  await t.step("errors keep Anthropic's type and status", async () => {
    const { post } = setup(env, () => ({
      status: 529,
      error: { type: "error", error: { type: "overloaded_error", message: "Overloaded" } },
    }));
    const response = await post();
    assert.equal(response.status, 529);
    assert.equal((await response.json()).error.type, "overloaded_error");
  });
});

const FALLBACK_ENV = {
  PREFERRED_PROVIDER: "azure",
  AZURE_OPENAI_API_KEY: "az",
  AZURE_OPENAI_ENDPOINT: "https://res.openai.azure.com",
  FALLBACK_PROVIDERS: "google",
  GEMINI_API_KEY: "gm",
  MAX_RETRIES: "2",
};

function byHost(
  azure: (i: number) => Reply,
  google: Reply = DIALECTS.google.text(["from gemini"]),
) {
  let azureCalls = 0;
  return (r: Recorded) => r.url.includes("azure") ? azure(azureCalls++) : google;
}

Deno.test("fallback: Azure answers 503 → retried, then served by Gemini", async () => {
  const { upstream, post, lines, sleeps } = setup(
    FALLBACK_ENV,
    byHost(() => DIALECTS.azure.error(503, "busy")),
  );
  const response = await post({ ...BODY, stream: true });
  assert.equal(response.status, 200);
  const text = parseClientSse(await response.text())
    .flatMap((e) =>
      e.type === "content_block_delta" && e.delta.type === "text_delta" ? [e.delta.text] : []
    ).join("");
  assert.equal(text, "from gemini");
  assert.deepEqual(upstream.requests.map((r) => new URL(r.url).host), [
    "res.openai.azure.com",
    "res.openai.azure.com",
    "res.openai.azure.com",
    "generativelanguage.googleapis.com",
  ]);
  assert.deepEqual(sleeps, [125, 250], "jittered exponential backoff");
  assert.match(
    lines.at(-1)!,
    /tried=azure\/gpt-4\.1\(503\),azure\/gpt-4\.1\(503\),azure\/gpt-4\.1\(503\),google\/gemini-2\.5-pro$/,
  );
});

Deno.test("fallback: a 400 never falls back or retries", async () => {
  const { upstream, post } = setup(
    FALLBACK_ENV,
    byHost(() => DIALECTS.azure.error(400, "bad request")),
  );
  const response = await post();
  assert.equal(response.status, 400);
  await response.body?.cancel();
  assert.equal(upstream.requests.length, 1);
});

Deno.test("fallback: a transient failure recovers on retry without falling back", async () => {
  const { upstream, post, sleeps } = setup(
    FALLBACK_ENV,
    byHost((i) =>
      i === 0
        ? { status: 429, headers: { "retry-after": "3" }, error: { error: { message: "slow" } } }
        : DIALECTS.azure.text(["azure ok"])
    ),
  );
  const message = await (await post()).json();
  assert.deepEqual(message.content, [{ type: "text", text: "azure ok" }]);
  assert.equal(upstream.requests.length, 2);
  assert.deepEqual(sleeps, [3000], "retry-after honoured");
});

Deno.test("fallback: every target failing passes the last failure through with retry-after", async () => {
  const { upstream, post } = setup(
    { ...FALLBACK_ENV, MAX_RETRIES: "1" },
    byHost(
      () => ({
        status: 429,
        headers: { "retry-after": "1" },
        error: { error: { message: "slow" } },
      }),
      { ...DIALECTS.google.error(429, "quota"), headers: { "retry-after": "9" } },
    ),
  );
  const response = await post();
  assert.equal(response.status, 429);
  assert.equal(response.headers.get("retry-after"), "9");
  await response.body?.cancel();
  assert.equal(upstream.requests.length, 4);
});

Deno.test("fallback: an unreachable upstream counts as transient", async () => {
  let calls = 0;
  const { post } = setup(FALLBACK_ENV, (r) => {
    if (r.url.includes("azure")) {
      calls++;
      throw new TypeError("error sending request: Connection refused (os error 111)");
    }
    return DIALECTS.google.text(["rescued"]);
  });
  const message = await (await post()).json();
  assert.deepEqual(message.content, [{ type: "text", text: "rescued" }]);
  assert.equal(calls, 3);
});

Deno.test("retryDelay() honours retry-after up to the cap", () => {
  const options = { maxRetries: 2, maxDelayMs: 10_000, random: () => 1 };
  const error = (headers: Record<string, string>) =>
    new ProxyError("rate_limit_error", "slow", { headers });
  assert.equal(retryDelay(error({}), 0, options), 250);
  assert.equal(retryDelay(error({}), 2, options), 1000);
  assert.equal(retryDelay(error({ "retry-after": "2" }), 0, options), 2000);
  assert.equal(retryDelay(error({ "retry-after-ms": "150" }), 0, options), 150);
  assert.equal(retryDelay(error({ "retry-after": "3600" }), 0, options), 10_000);
});

Deno.test("a pinned provider that is not configured is a 400 naming what to set, sent nowhere", async (t) => {
  // OpenAI only: no Gemini or Anthropic key, an Azure key without an endpoint.
  const { upstream, post } = setup(
    { AZURE_OPENAI_API_KEY: "azure-key-0001" },
    () => DIALECTS.openai.text(["ok"]),
  );
  const cases: Array<[string, RegExp]> = [
    ["gemini/gemini-2.5-pro", /provider google is not configured \(set GEMINI_API_KEY\)/],
    ["anthropic/claude-x", /provider anthropic is not configured \(set ANTHROPIC_API_KEY\)/],
    ["azure/x", /provider azure is not configured \(set AZURE_OPENAI_ENDPOINT\)/],
    ["openai/", /model openai\/: no model name after the provider prefix/],
    ["/gpt-4.1", /model \/gpt-4\.1: no provider before "\/"/],
  ];
  for (const [model, message] of cases) {
    await t.step(model, async () => {
      const response = await post({ ...BODY, model });
      const body = await response.json();
      assert.equal(response.status, 400);
      assert.equal(body.error.type, "invalid_request_error");
      assert.match(body.error.message, message);
    });
  }
  await t.step("a marker in the system prompt likewise", async () => {
    const response = await post({
      ...BODY,
      system: "<ccproxy-model>gemini/gemini-2.5-flash</ccproxy-model>",
    });
    assert.equal(response.status, 400);
    assert.match((await response.json()).error.message, /set GEMINI_API_KEY/);
  });
  assert.equal(upstream.requests.length, 0, "nothing went upstream");
  await t.step("a configured pin still goes through", async () => {
    const response = await post({ ...BODY, model: "openai/gpt-4.1" });
    assert.equal(response.status, 200);
    await response.body?.cancel();
    assert.equal(upstream.requests.at(-1)?.body.model, "gpt-4.1");
  });
});
