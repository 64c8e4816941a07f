/**
 * Task routes with the requests Claude Code 2.1.332 really sends (tests/testdata/claude_code_*:
 * recorded against a fake upstream): which request takes which route, pins by name and by
 * marker, fallbacks per route, and the route in the log line.
 */
import assert from "node:assert/strict";
import {
  createFakeUpstream,
  type Recorded,
  responsesDialect,
  textReply,
} from "../bench/fake_upstream.ts";
import type { MessagesRequest } from "../lib/anthropic/schema.ts";
import { createLogger } from "../lib/server/log.ts";
import { createHandler } from "../lib/server/handler.ts";
import { requestTraits } from "../lib/routing/task_routes.ts";
import { main } from "../main.ts";
import { testConfig, testdata } from "./helpers.ts";

type Fixture = MessagesRequest & { _headers?: Record<string, string> };

function fixture(name: string): Fixture {
  return JSON.parse(testdata(`claude_code_${name}.json`));
}

const ROUTES = {
  ROUTE_BACKGROUND: "openai/gpt-4.1-nano",
  ROUTE_THINK: "openai/o3",
  ROUTE_IMAGE: "openai/gpt-4o",
  ROUTE_WEB_SEARCH: "openai/gpt-4o-search-preview",
  ROUTE_SUBAGENT: "openai/gpt-4.1-mini",
};

function setup(env: Record<string, string> = ROUTES, fail: string[] = []) {
  const upstream = createFakeUpstream((request: Recorded) =>
    fail.includes(String(request.body.model))
      ? { status: 500, error: { error: { message: "down" } } }
      : request.url.endsWith("/responses")
      ? responsesDialect().text(["ok"])
      : textReply(["ok"])
  );
  const lines: string[] = [];
  const handler = createHandler(testConfig(env), {
    fetch: upstream.fetch,
    logger: createLogger({ write: (line) => lines.push(line) }),
  });
  const send = async (body: Fixture, headers: Record<string, string> = {}) => {
    const { _headers, ...request } = body;
    const response = await handler(
      new Request("http://proxy/v1/messages", {
        method: "POST",
        headers: { "content-type": "application/json", ..._headers, ...headers },
        body: JSON.stringify({ ...request, stream: false }),
      }),
    );
    const text = await response.text();
    return { status: response.status, text, model: upstream.requests.at(-1)?.body.model };
  };
  return { send, lines, upstream };
}

Deno.test("requestTraits() reads Claude Code's real request shapes", async (t) => {
  await t.step("a main-loop turn: thinking is on, but it is no think request", () => {
    const traits = requestTraits(fixture("turn1"));
    assert.deepEqual(traits, {
      subagent: false,
      think: false,
      background: false,
      webSearch: false,
      image: false,
    });
  });
  await t.step("a sub-agent: cc_is_subagent=true in the billing line", () => {
    const { _headers: _, ...body } = fixture("subagent");
    assert.equal(requestTraits(body).subagent, true);
    assert.equal(
      requestTraits(fixture("turn1"), new Headers({ "x-claude-code-agent-id": "a1" })).subagent,
      true,
    );
  });
  await t.step("ultrathink: Claude Code's keyword note in the turn", () => {
    assert.equal(requestTraits(fixture("ultrathink")).think, true);
  });
  await t.step("ultrathink holds for the whole turn's tool loop", () => {
    assert.equal(requestTraits(fixture("ultrathink_tool_loop")).think, true);
  });
  await t.step("the ultrathink note of an earlier turn does not count", () => {
    const body = fixture("ultrathink");
    body.messages = [
      ...body.messages,
      { role: "assistant", content: "4" },
      { role: "user", content: "thanks" },
    ];
    assert.equal(requestTraits(body).think, false);
  });
  await t.step("/effort max (output_config.effort)", () => {
    assert.equal(requestTraits(fixture("effort_max")).think, true);
  });
  await t.step("plan mode", () => {
    assert.equal(requestTraits(fixture("plan_mode")).think, true);
  });
  await t.step("a thinking budget says nothing: sonnet-4-5 gets 31999 on every request", () => {
    const body = {
      ...fixture("turn1"),
      model: "claude-sonnet-4-5",
      thinking: { type: "enabled", budget_tokens: 31_999 },
      output_config: undefined,
    };
    assert.equal(requestTraits(body as unknown as MessagesRequest).think, false);
  });
  await t.step("a marker in the system prompt pins a model", () => {
    const body = fixture("subagent");
    body.system = [
      ...(body.system as Array<{ type: "text"; text: string }>),
      {
        type: "text",
        text: "You review code. <ccproxy-model>gemini/gemini-2.5-pro</ccproxy-model>",
      },
    ];
    assert.equal(requestTraits(body).marker, "gemini/gemini-2.5-pro");
  });
});

Deno.test("each Claude Code request takes its task route, and the log line names it", async (t) => {
  const { send, lines } = setup();
  const cases: Array<[string, Fixture, string, string]> = [
    ["main loop", fixture("turn1"), "gpt-4.1", "default"],
    ["sub-agent", fixture("subagent"), "gpt-4.1-mini", "subagent"],
    ["ultrathink", fixture("ultrathink"), "o3", "think"],
    ["plan mode", fixture("plan_mode"), "o3", "think"],
    ["effort max", fixture("effort_max"), "o3", "think"],
    [
      "background (haiku)",
      { ...fixture("turn1"), model: "claude-haiku-4-5" },
      "gpt-4.1-nano",
      "background",
    ],
    [
      "web search",
      {
        ...fixture("turn1"),
        tools: [{ type: "web_search_20250305", name: "web_search", max_uses: 8 }],
      } as Fixture,
      "gpt-4o-search-preview",
      "web_search",
    ],
  ];
  for (const [name, body, model, route] of cases) {
    await t.step(name, async () => {
      const result = await send(body);
      assert.equal(result.status, 200, result.text);
      // A web search request is answered locally only when no route serves it.
      assert.equal(result.model, model);
      // The text line leaves the common `route=default` out.
      const shown = route === "default" ? "" : ` route=${route}`;
      assert.match(lines.at(-1)!, new RegExp(` → openai/${model.replaceAll(".", "\\.")}${shown} `));
    });
  }
});

Deno.test("ROUTE_IMAGE takes images only when the main model has no vision (or is unknown)", async (t) => {
  const withImage = {
    ...fixture("turn1"),
    messages: [{
      role: "user",
      content: [
        {
          type: "image",
          source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" },
        },
        { type: "text", text: "what is this?" },
      ],
    }],
  } as Fixture;
  const cases: Array<[string, string, string]> = [
    ["a main model with vision keeps them (gpt-4.1)", "gpt-4.1", "gpt-4.1"],
    ["a main model without vision sends them on (o3-mini)", "o3-mini", "gpt-4o"],
    ["an unknown main model sends them on", "my-local-model", "gpt-4o"],
  ];
  for (const [name, main, model] of cases) {
    await t.step(name, async () => {
      const { send, lines } = setup({ ...ROUTES, BIG_MODEL: main, MIDDLE_MODEL: main });
      const result = await send(withImage);
      assert.equal(result.status, 200, result.text);
      assert.equal(result.model, model);
      assert.equal(/ route=image /.test(lines.at(-1)!), model === "gpt-4o");
    });
  }
});

Deno.test("without task routes every Claude Code request takes the sized default", async () => {
  const { send } = setup({});
  for (const name of ["subagent", "ultrathink", "plan_mode", "effort_max"]) {
    assert.equal((await send(fixture(name))).model, "gpt-4.1", name);
  }
});

Deno.test("a pinned model name (/model openai/gpt-5) skips the task routes", async () => {
  const { send, lines } = setup();
  const result = await send({ ...fixture("ultrathink"), model: "openai/gpt-5" });
  assert.equal(result.model, "gpt-5");
  assert.match(lines.at(-1)!, / route=pinned /);
});

Deno.test("a system-prompt marker pins a sub-agent's model", async () => {
  const { send, lines } = setup();
  const body = fixture("subagent");
  body.system = [
    ...(body.system as Array<{ type: "text"; text: string }>),
    { type: "text", text: "<ccproxy-model>openai/gpt-5-mini</ccproxy-model>" },
  ];
  assert.equal((await send(body)).model, "gpt-5-mini");
  assert.match(lines.at(-1)!, / route=marker /);
});

Deno.test("a route's own fallbacks come first, then the default targets", async () => {
  const { send, upstream } = setup({ ROUTE_THINK: "openai/o3,openai/o4-mini" }, ["o3", "o4-mini"]);
  const result = await send(fixture("ultrathink"));
  assert.equal(result.status, 200);
  assert.deepEqual(upstream.requests.map((r) => r.body.model), ["o3", "o4-mini", "gpt-4.1"]);
});

Deno.test("--route-think and friends set the task routes from the command line", async () => {
  const dir = await Deno.makeTempDir();
  const envFile = `${dir}/.env`;
  await Deno.writeTextFile(envFile, "OPENAI_API_KEY=sk-flags-test\nGEMINI_API_KEY=gm-flags\n");
  const printed: string[] = [];
  const log = console.log;
  console.log = (line: string) => printed.push(line);
  try {
    const code = await main([
      "env",
      "--env-file",
      envFile,
      "--route-long-context",
      "gemini/gemini-2.5-pro",
    ]);
    assert.equal(code, 0);
    await main(["check", "--env-file", envFile, "--route-think", "openai/o3"]);
  } finally {
    console.log = log;
    await Deno.remove(dir, { recursive: true });
  }
  const out = printed.join("\n");
  // The long-context route's window is what Claude Code is told.
  assert.match(out, /export CLAUDE_CODE_AUTO_COMPACT_WINDOW=1048576/);
  assert.match(out, /route ROUTE_THINK → openai\/o3/);
});

Deno.test("a task route naming a provider without its key is a configuration error", () => {
  assert.throws(
    () => testConfig({ ROUTE_LONG_CONTEXT: "gemini/gemini-2.5-pro" }),
    /GEMINI_API_KEY is required when ROUTE_LONG_CONTEXT names gemini\/gemini-2\.5-pro/,
  );
  assert.ok(testConfig({ ROUTE_LONG_CONTEXT: "gemini/gemini-2.5-pro", GEMINI_API_KEY: "g" }));
});
