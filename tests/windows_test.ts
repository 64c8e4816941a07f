/**
 * Context windows and output caps: the catalog, `AZURE_DEPLOYMENT_MODELS`, `MODEL_LIMITS`, the
 * window check before any upstream call, the long-context route, what Claude Code is told, and
 * `GET /v1/models`.
 */
import assert from "node:assert/strict";
import {
  createFakeUpstream,
  type Recorded,
  responsesDialect,
  textReply,
} from "../bench/fake_upstream.ts";
import { createLogger } from "../lib/server/log.ts";
import { createHandler } from "../lib/server/handler.ts";
import { limitsOf, route } from "../lib/routing/route.ts";
import { modelBehindDeployment, openaiModelInfo } from "../lib/routing/models.ts";
import { claudeCodeWindow, compactEnv } from "../lib/routing/client_env.ts";
import { banner, envCommand } from "../main.ts";
import { createUsage } from "../lib/usage/open.ts";
import type { UsageRecord } from "../lib/usage/record.ts";
import { testConfig, testdata } from "./helpers.ts";
import { loadCatalog } from "../lib/routing/catalog.ts";

// The translators and routing look models up in the catalog, which loads on demand.
await loadCatalog();

const AZURE = {
  PREFERRED_PROVIDER: "azure",
  AZURE_OPENAI_API_KEY: "az-test-key-0001",
  AZURE_OPENAI_ENDPOINT: "https://r.openai.azure.com",
  BIG_MODEL: "my-big-deploy",
  SMALL_MODEL: "my-small-deploy",
};

function setup(env: Record<string, string>) {
  const upstream = createFakeUpstream((request: Recorded) =>
    request.url.includes("/responses") ? responsesDialect().text(["ok"]) : textReply(["ok"])
  );
  const lines: string[] = [];
  const handler = createHandler(testConfig(env), {
    fetch: upstream.fetch,
    logger: createLogger({ write: (line) => lines.push(line) }),
  });
  const send = async (body: Record<string, unknown>) => {
    const response = await handler(
      new Request("http://proxy/v1/messages", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ max_tokens: 128_000, ...body }),
      }),
    );
    return { status: response.status, json: await response.json() };
  };
  return { upstream, lines, handler, send };
}

/** A Claude Code turn with `lines` lines of `seq` output appended (≈ 3 tokens a line). */
function longTurn(lines: number, model = "claude-opus-5-5") {
  const turn = JSON.parse(testdata("claude_code_turn1.json"));
  const output = Array.from({ length: lines }, (_, i) => String(100_000 + i)).join("\n");
  turn.messages.push(
    { role: "assistant", content: [{ type: "text", text: "Running it." }] },
    { role: "user", content: [{ type: "text", text: output }] },
  );
  return { ...turn, model, stream: false };
}

Deno.test("the catalog gives windows and caps; the table keeps the reasoning facts", () => {
  const gpt41 = openaiModelInfo("gpt-4.1");
  assert.equal(gpt41.context, 1_047_576);
  assert.equal(gpt41.maxOutput, 32_768);
  assert.equal(gpt41.source, "models.dev");
  const o3 = openaiModelInfo("o3-2025-04-16");
  assert.equal(o3.context, 200_000);
  assert.equal(o3.noStop, true, "table fact kept");
  // Newer than the models.dev snapshot: genai-prices knows the window.
  assert.equal(openaiModelInfo("gpt-5.4").context, 1_050_000);
  assert.equal(openaiModelInfo("gpt-5.4").source, "genai-prices");
  assert.equal(openaiModelInfo("my-local-model").source, "default");
});

Deno.test("AZURE_DEPLOYMENT_MODELS: a deployment takes the limits of the model it runs", async (t) => {
  await t.step("modelBehindDeployment()", () => {
    const config = testConfig({ ...AZURE, AZURE_DEPLOYMENT_MODELS: "my-big-deploy=gpt-4.1" });
    assert.equal(modelBehindDeployment(config, "my-big-deploy"), "gpt-4.1");
    assert.equal(modelBehindDeployment(config, "gpt-4o"), "gpt-4o");
  });
  await t.step("a gpt-4.1 deployment gets 32k output, not 8k", async () => {
    const { upstream, send } = setup({
      ...AZURE,
      AZURE_DEPLOYMENT_MODELS: "my-big-deploy=gpt-4.1,my-small-deploy=o4-mini",
    });
    const result = await send({
      model: "claude-opus-5-5",
      messages: [{ role: "user", content: "hi" }],
      temperature: 0.5,
    });
    assert.equal(result.status, 200);
    const call = upstream.requests[0];
    assert.match(call.url, /\/deployments\/my-big-deploy\/chat\/completions/);
    assert.equal(call.body.max_tokens, 32_768);
    assert.equal(call.body.temperature, 0.5);
  });
  await t.step("an o4-mini deployment gets reasoning parameters on Responses", async () => {
    const { upstream, send } = setup({
      ...AZURE,
      AZURE_DEPLOYMENT_MODELS: "my-big-deploy=gpt-4.1,my-small-deploy=o4-mini",
    });
    const result = await send({
      model: "claude-haiku-4-5",
      messages: [{ role: "user", content: "hi" }],
      temperature: 0.5,
    });
    assert.equal(result.status, 200);
    const call = upstream.requests[0];
    assert.match(call.url, /\/responses/);
    assert.equal(call.body.model, "my-small-deploy");
    assert.equal(call.body.temperature, undefined);
    assert.equal(call.body.max_output_tokens, 100_000);
  });
  await t.step("without the entry the deployment is an unknown model", () => {
    const [target] = route("claude-opus-5-5", testConfig(AZURE));
    assert.equal(target.info?.maxOutput, 8_192);
  });
});

Deno.test("MODEL_LIMITS gives an unknown (local) model its window and output cap", async () => {
  const env = {
    OPENAI_BASE_URL: "http://127.0.0.1:11434/v1",
    BIG_MODEL: "qwen3-coder:30b",
    SMALL_MODEL: "qwen3-coder:30b",
    MODEL_LIMITS: "qwen3-coder:30b=262144/65536,llama3.1=32768",
  };
  const config = testConfig(env);
  assert.deepEqual(limitsOf(route("claude-opus-5-5", config)[0], config), {
    context: 262_144,
    maxOutput: 65_536,
    vision: undefined,
    source: "override",
  });
  assert.equal(limitsOf(route("llama3.1", config)[0], config)?.context, 32_768);
  const { upstream, send } = setup(env);
  await send({ model: "claude-opus-5-5", messages: [{ role: "user", content: "hi" }] });
  assert.equal(upstream.requests[0].body.max_tokens, 65_536);
});

Deno.test("MODEL_LIMITS and AZURE_DEPLOYMENT_MODELS reject malformed values", () => {
  assert.throws(() => testConfig({ MODEL_LIMITS: "llama3=big" }), /MODEL_LIMITS takes/);
  assert.throws(() => testConfig({ AZURE_DEPLOYMENT_MODELS: "deploy" }), /AZURE_DEPLOYMENT_MODELS/);
});

Deno.test("a prompt longer than the window gets Anthropic's exact 400, before any upstream call", async () => {
  const { upstream, send, lines } = setup({
    OPENAI_BASE_URL: "http://127.0.0.1:11434/v1",
    BIG_MODEL: "llama3.1",
    MODEL_LIMITS: "llama3.1=20000",
  });
  const result = await send(longTurn(8_000));
  assert.equal(result.status, 400);
  assert.equal(result.json.error.type, "invalid_request_error");
  assert.match(result.json.error.message, /^prompt is too long: \d+ tokens > 20000 maximum$/);
  const counted = Number(/(\d+) tokens/.exec(result.json.error.message)![1]);
  assert.ok(counted > 20_000 && counted < 60_000, `${counted}`);
  assert.equal(upstream.requests.length, 0);
  assert.match(lines[0], / 400 /);
});

Deno.test("a prompt that fits goes upstream unchanged", async () => {
  const { upstream, send } = setup({
    OPENAI_BASE_URL: "http://127.0.0.1:11434/v1",
    BIG_MODEL: "llama3.1",
    MODEL_LIMITS: "llama3.1=20000",
  });
  assert.equal((await send(longTurn(1_000))).status, 200);
  assert.equal(upstream.requests.length, 1);
});

Deno.test("too long for the chosen model: ROUTE_LONG_CONTEXT serves it when its window holds it", async () => {
  const { upstream, send, lines } = setup({
    OPENAI_BASE_URL: "http://127.0.0.1:11434/v1",
    BIG_MODEL: "llama3.1",
    MODEL_LIMITS: "llama3.1=20000,big-window=500000",
    ROUTE_LONG_CONTEXT: "big-window",
  });
  assert.equal((await send(longTurn(8_000))).status, 200);
  assert.equal(upstream.requests[0].body.model, "big-window");
  assert.match(lines[0], / route=long_context /);
});

Deno.test("LONG_CONTEXT_THRESHOLD sends long prompts to ROUTE_LONG_CONTEXT even when they fit", async () => {
  const { upstream, send, lines } = setup({
    ROUTE_LONG_CONTEXT: "openai/gpt-4.1",
    BIG_MODEL: "gpt-4o",
    LONG_CONTEXT_THRESHOLD: "10000",
  });
  await send(longTurn(8_000));
  await send(longTurn(100));
  assert.deepEqual(upstream.requests.map((r) => r.body.model), ["gpt-4.1", "gpt-4o"]);
  assert.match(lines[0], / route=long_context /);
  assert.doesNotMatch(lines[1], / route=/);
});

Deno.test("compactEnv(): the variables that make Claude Code compact before the window", () => {
  assert.deepEqual(compactEnv(400_000), { CLAUDE_CODE_AUTO_COMPACT_WINDOW: "400000" });
  assert.deepEqual(compactEnv(128_000), { CLAUDE_CODE_AUTO_COMPACT_WINDOW: "128000" });
  // Under 100k Claude Code raises the window to 100k: a percentage of (100k − 20k) lowers it.
  assert.deepEqual(compactEnv(32_768), {
    CLAUDE_CODE_AUTO_COMPACT_WINDOW: "100000",
    CLAUDE_AUTOCOMPACT_PCT_OVERRIDE: "30",
  });
  const { CLAUDE_AUTOCOMPACT_PCT_OVERRIDE: pct } = compactEnv(64_000);
  assert.ok(Number(pct) * 800 <= 64_000 - 16_000, "fires before the window, summary room kept");
});

Deno.test("claudeCodeWindow(): the smallest window Claude Code's requests reach", () => {
  const config = testConfig({ BIG_MODEL: "gpt-4.1", SMALL_MODEL: "gpt-4o-mini" });
  assert.deepEqual(claudeCodeWindow(config), {
    window: 128_000,
    model: "openai/gpt-4o-mini",
    env: { CLAUDE_CODE_AUTO_COMPACT_WINDOW: "128000" },
  });
  // A task route's model comes before the sized chain, which still takes what it cannot hold.
  const think = testConfig({
    BIG_MODEL: "gpt-4.1",
    SMALL_MODEL: "gpt-4.1",
    ROUTE_THINK: "openai/o3",
  });
  assert.equal(claudeCodeWindow(think)?.window, 1_047_576);
  // A long-context route takes what the others cannot hold: compact at its window.
  const long = testConfig({
    BIG_MODEL: "gpt-4o",
    SMALL_MODEL: "gpt-4o-mini",
    ROUTE_LONG_CONTEXT: "gemini/gemini-2.5-pro",
    GEMINI_API_KEY: "gm-test",
  });
  assert.equal(claudeCodeWindow(long)?.window, 1_048_576);
  assert.equal(
    claudeCodeWindow(testConfig({ PREFERRED_PROVIDER: "anthropic", ANTHROPIC_API_KEY: "k" })),
    undefined,
  );
});

Deno.test("GET /v1/models shows each mapping with its window", async () => {
  const { handler } = setup({
    ...AZURE,
    AZURE_DEPLOYMENT_MODELS: "my-big-deploy=gpt-4.1,my-small-deploy=o4-mini",
  });
  const list = await (await handler(new Request("http://proxy/v1/models"))).json();
  const opus = list.data.find((m: { id: string }) => m.id === "claude-opus-5-5");
  assert.equal(opus.target, "azure/my-big-deploy");
  assert.equal(opus.context_window, 1_047_576);
  assert.equal(opus.max_output_tokens, 32_768);
  assert.match(opus.display_name, /\(azure\/my-big-deploy, 1,047,576 tokens\)$/);
  const haiku = list.data.find((m: { id: string }) => m.id === "claude-haiku-5-5");
  assert.equal(haiku.context_window, 200_000);
});

Deno.test("the banner and `ccproxy env` print the lines that tell Claude Code the window", () => {
  const config = testConfig({
    OPENAI_BASE_URL: "http://127.0.0.1:11434/v1",
    BIG_MODEL: "qwen3-coder:30b",
    SMALL_MODEL: "qwen3-coder:30b",
    MODEL_LIMITS: "qwen3-coder:30b=32768/8192",
  });
  assert.match(
    banner(config, "127.0.0.1:8082"),
    /use it: .* CLAUDE_CODE_AUTO_COMPACT_WINDOW=100000 CLAUDE_AUTOCOMPACT_PCT_OVERRIDE=30 claude\n {2}window: {3}openai\/qwen3-coder:30b holds 32768 tokens/,
  );
  assert.equal(
    envCommand(config),
    [
      "# Claude Code through ccproxy (compacting at openai/qwen3-coder:30b's 32768-token window)",
      "export ANTHROPIC_BASE_URL=http://127.0.0.1:8082",
      "export ANTHROPIC_AUTH_TOKEN=ccproxy",
      "export CLAUDE_CODE_AUTO_COMPACT_WINDOW=100000",
      "export CLAUDE_AUTOCOMPACT_PCT_OVERRIDE=30",
    ].join("\n"),
  );
});

Deno.test("the ledger record names the route, and an Azure deployment is priced as its model", async () => {
  const config = testConfig({
    ...AZURE,
    AZURE_DEPLOYMENT_MODELS: "my-big-deploy=gpt-4.1",
    ROUTE_THINK: "azure/my-big-deploy",
    BIG_MODEL: "unpriced-deploy",
    USAGE_DB: "off",
  });
  const usage = createUsage(config);
  const records: UsageRecord[] = [];
  const ended = new Promise<void>((resolve) =>
    usage.listen((event) => {
      if (event.type === "end") {
        records.push(event.record);
        resolve();
      }
    })
  );
  const upstream = createFakeUpstream(() =>
    textReply(["ok"], { prompt: 1_000_000, completion: 0 })
  );
  const handler = createHandler(config, {
    fetch: upstream.fetch,
    usage,
    logger: createLogger({ write: () => {} }),
  });
  const response = await handler(
    new Request("http://proxy/v1/messages", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        ...JSON.parse(testdata("claude_code_ultrathink.json")),
        stream: false,
      }),
    }),
  );
  await response.body?.cancel();
  await ended;
  assert.equal(records[0].route, "think");
  assert.equal(records[0].backendModel, "my-big-deploy");
  assert.equal(records[0].costUsd, 2, "1M input tokens of gpt-4.1 at $2");
});

Deno.test("a prompt near the window leaves the answer only the room that is left", async () => {
  const { upstream, send } = setup({
    OPENAI_BASE_URL: "http://127.0.0.1:11434/v1",
    BIG_MODEL: "llama3.1",
    MODEL_LIMITS: "llama3.1=30000/8192",
  });
  assert.equal((await send(longTurn(8_000))).status, 200);
  const maxTokens = upstream.requests[0].body.max_tokens as number;
  assert.ok(maxTokens < 8_192 && maxTokens > 1_000, `${maxTokens}`);
});

Deno.test("MODEL_LIMITS caps a Gemini model's output too", async () => {
  const { upstream, send } = setup({
    PREFERRED_PROVIDER: "google",
    GEMINI_API_KEY: "gm-test",
    BIG_MODEL: "gemma-3-27b-it",
    MODEL_LIMITS: "gemma-3-27b-it=131072/4096",
  });
  await send({ model: "claude-opus-5-5", messages: [{ role: "user", content: "hi" }] });
  const config = upstream.requests[0].body.generationConfig as { maxOutputTokens: number };
  assert.equal(config.maxOutputTokens, 4_096);
});

Deno.test("the table wins where the catalog is known to be wrong (gpt-5-chat)", () => {
  const info = openaiModelInfo("gpt-5-chat-latest");
  assert.equal(info.maxOutput, 16_384);
  assert.equal(info.context, 128_000);
  assert.equal(info.source, "table");
});
