/**
 * `ROUTER_SCRIPT`: a user module's `route(request, context)` picks the model; nothing falls
 * through to the built-in rules; an exception, a bad answer or a slow answer is logged and falls
 * through.
 */
import assert from "node:assert/strict";
import { createFakeUpstream, responsesDialect, textReply } from "../bench/fake_upstream.ts";
import { createLogger } from "../lib/server/log.ts";
import { createHandler } from "../lib/server/handler.ts";
import {
  loadRouterScript,
  type RouterContext,
  type RouterScript,
} from "../lib/routing/router_script.ts";
import type { RouterFunction } from "../mod.ts";
import { testConfig, testdata } from "./helpers.ts";

/** The README's example router. */
const README_ROUTER = `
import type { RouterContext, RouterRequest } from "${new URL("../mod.ts", import.meta.url).href}";

export function route(request: RouterRequest, context: RouterContext): string | undefined {
  if (context.tokens > 100_000) return "gemini/gemini-2.5-pro";
  if (context.traits.think) return "openai/o3";
}
`;

async function writeScript(source: string): Promise<string> {
  const path = await Deno.makeTempFile({ prefix: "ccproxy-router-", suffix: ".ts" });
  await Deno.writeTextFile(path, source);
  return path;
}

function setup(route: RouterFunction, env: Record<string, string> = {}) {
  return setupWith({ path: "router.ts", route }, env);
}

function setupWith(script: RouterScript, env: Record<string, string> = {}) {
  const upstream = createFakeUpstream((request) =>
    request.url.includes("/responses") ? responsesDialect().text(["ok"]) : textReply(["ok"])
  );
  const lines: string[] = [];
  const handler = createHandler(
    testConfig({ ROUTER_SCRIPT: script.path, ROUTER_TIMEOUT_MS: "50", ...env }),
    {
      fetch: upstream.fetch,
      logger: createLogger({ write: (line) => lines.push(line) }),
      routerScript: script,
    },
  );
  const send = async (body: Record<string, unknown>) => {
    const response = await handler(
      new Request("http://proxy/v1/messages", {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": "sk-secret-client" },
        body: JSON.stringify({ ...body, stream: false }),
      }),
    );
    await response.body?.cancel();
    return { status: response.status, model: upstream.requests.at(-1)?.body.model };
  };
  return { send, lines };
}

const TURN = JSON.parse(testdata("claude_code_turn1.json"));
const ULTRATHINK = JSON.parse(testdata("claude_code_ultrathink.json"));

Deno.test("the README's router: o3 when the user says ultrathink, the default otherwise", async () => {
  const path = await writeScript(README_ROUTER);
  try {
    const script = await loadRouterScript(path);
    const { send, lines } = setup(script.route);
    assert.equal((await send(ULTRATHINK)).model, "o3");
    assert.match(lines.at(-1)!, / → openai\/o3 route=script /);
    assert.equal((await send(TURN)).model, "gpt-4.1");
    script.close?.();
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("a script stuck in a loop is stopped: the request falls through, the next is routed", async () => {
  const path = await writeScript(`
export function route(request: { messages: unknown[] }) {
  if (JSON.stringify(request.messages).includes("spin")) while (true) { /* stuck */ }
  return "openai/o3";
}
`);
  try {
    const script = await loadRouterScript(path);
    const { send: sendWithReset, lines: logged } = setupWith(script, { ROUTER_TIMEOUT_MS: "300" });
    const stuck = await sendWithReset({ ...TURN, messages: [{ role: "user", content: "spin" }] });
    assert.equal(stuck.model, "gpt-4.1");
    assert.ok(logged.some((l) => /no answer within 300 ms; ignored, script restarted/.test(l)));
    assert.equal((await sendWithReset(TURN)).model, "o3", "the restarted script answers");
    script.close?.();
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("a router script sees the token count, traits, built-in choice and no keys", async () => {
  let seen: RouterContext | undefined;
  const { send } = setup((_request, context) => {
    seen = context;
    return undefined;
  });
  await send(TURN);
  assert.ok(seen!.tokens > 500, `${seen!.tokens}`);
  assert.equal(seen!.traits.think, false);
  assert.deepEqual(seen!.builtIn, { target: "openai/gpt-4.1", route: "default" });
  assert.equal(seen!.models.big, "gpt-4.1");
  assert.equal(seen!.headers["x-api-key"], undefined);
});

Deno.test("a router script that throws, answers junk or hangs falls through, logged", async (t) => {
  const cases: Array<[string, RouterFunction, RegExp]> = [
    ["throws", () => {
      throw new Error("boom");
    }, /router script router\.ts failed: Error: boom/],
    ["junk", () => ({ model: "x" }) as unknown as string, /not a model; ignored/],
    ["hangs", () => new Promise<string>(() => {}), /no answer within 50 ms; ignored/],
  ];
  for (const [name, route, logged] of cases) {
    await t.step(name, async () => {
      const { send, lines } = setup(route);
      const result = await send(TURN);
      assert.equal(result.status, 200);
      assert.equal(result.model, "gpt-4.1");
      assert.ok(lines.some((line) => logged.test(line)), lines.join("\n"));
    });
  }
});

Deno.test("loadRouterScript() refuses a module without a route function", async () => {
  const path = await writeScript("export const x = 1;\n");
  try {
    await assert.rejects(loadRouterScript(path), /must export a function named route/);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("a script naming a provider that is not configured falls through, logged", async () => {
  const { send, lines } = setup(() => "gemini/gemini-2.5-pro");
  const result = await send(TURN);
  assert.equal(result.status, 200);
  assert.equal(result.model, "gpt-4.1");
  assert.ok(
    lines.some((l) =>
      /router script router\.ts: model gemini\/gemini-2\.5-pro: provider google is not configured \(set GEMINI_API_KEY\); using the built-in rules/
        .test(l)
    ),
    lines.join("\n"),
  );
});

Deno.test("a router script type-checks against mod.ts's types (deno check), and a wrong one does not", async () => {
  const check = async (source: string) => {
    const path = await writeScript(source);
    try {
      const { code, stderr } = await new Deno.Command(Deno.execPath(), {
        args: ["check", "--quiet", path],
        env: { NO_COLOR: "1" },
        stdout: "null",
        stderr: "piped",
      }).output();
      return { code, errors: new TextDecoder().decode(stderr) };
    } finally {
      await Deno.remove(path);
    }
  };
  assert.equal((await check(README_ROUTER)).code, 0, "the README's router checks");
  const wrong = await check(
    README_ROUTER.replace("context.tokens > 100_000", "context.tokenz > 1"),
  );
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.errors, /tokenz/);
  const badAnswer = await check(README_ROUTER.replace('return "openai/o3";', "return 3;"));
  assert.notEqual(badAnswer.code, 0, "a route that answers a number is refused");
});
