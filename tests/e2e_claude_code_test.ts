/**
 * End to end with the real Claude Code CLI: Claude Code → ccproxy → a fake OpenAI upstream that
 * asks for a `Write` tool call, then answers the tool result. Claude Code must write the file
 * and print the final answer.
 *
 * The binary comes from the pinned `npm:@anthropic-ai/claude-code-linux-x64` package
 * (`deno install` puts it in Deno's npm cache); other platforms skip this test.
 */
import assert from "node:assert/strict";
import {
  createFakeUpstream,
  type Dialect,
  DIALECTS,
  repeatingCallIds,
  responsesDialect,
  serveFake,
} from "../bench/fake_upstream.ts";
import { createLogger } from "../lib/server/log.ts";
import { createHandler } from "../lib/server/handler.ts";
import meta from "../deno.json" with { type: "json" };
import { testConfig } from "./helpers.ts";

const PACKAGE = "@anthropic-ai/claude-code-linux-x64";
const supported = Deno.build.os === "linux" && Deno.build.arch === "x86_64";

/**
 * Runs `claude` with `args` in `work` (throwaway HOME), offline, against `baseUrl`; `env`
 * replaces the proxy variables (the banner test passes exactly what the banner printed).
 */
async function runClaude(
  args: string[],
  work: string,
  baseUrl: string,
  env: Record<string, string> = { ANTHROPIC_BASE_URL: baseUrl, ANTHROPIC_API_KEY: "sk-ant-test" },
) {
  const result = await new Deno.Command(await claudeBinary(), {
    args,
    cwd: work,
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: `${work}/home`,
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
      ...env,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: result.code,
    stdout: new TextDecoder().decode(result.stdout),
    stderr: new TextDecoder().decode(result.stderr),
  };
}

async function claudeBinary(): Promise<string> {
  const version = meta.imports[PACKAGE].split("@").at(-1);
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
  })
    .output();
  const cache = JSON.parse(new TextDecoder().decode(info.stdout)).npmCache as string;
  const path = `${cache}/registry.npmjs.org/${PACKAGE}/${version}/claude`;
  try {
    Deno.statSync(path);
  } catch {
    throw new Error(`Claude Code binary missing at ${path}: run \`deno install\` first`);
  }
  return path;
}

type Name = "openai" | "azure" | "google" | "responses" | "gemini3" | "reasoning_compat";

/** How each backend's request shows a tool result and the declared tools. */
const SHAPES: Record<Name, {
  env: (url: string) => Record<string, string>;
  answered: (body: Record<string, unknown>) => boolean;
  tools: (body: Record<string, unknown>) => string[];
  result: (body: Record<string, unknown>) => string;
}> = {
  openai: {
    env: (url) => ({ OPENAI_BASE_URL: `${url}/v1` }),
    answered: (body) => (body.messages as Array<{ role: string }>).some((m) => m.role === "tool"),
    tools: (body) =>
      ((body.tools ?? []) as Array<{ function: { name: string } }>).map((t) => t.function.name),
    result: (body) =>
      JSON.stringify((body.messages as Array<{ role: string }>).filter((m) => m.role === "tool")),
  },
  azure: {
    env: (url) => ({
      PREFERRED_PROVIDER: "azure",
      AZURE_OPENAI_API_KEY: "az-test",
      AZURE_OPENAI_ENDPOINT: url,
      BIG_MODEL: "big-deployment",
      SMALL_MODEL: "small-deployment",
    }),
    answered: (body) => (body.messages as Array<{ role: string }>).some((m) => m.role === "tool"),
    tools: (body) =>
      ((body.tools ?? []) as Array<{ function: { name: string } }>).map((t) => t.function.name),
    result: (body) =>
      JSON.stringify((body.messages as Array<{ role: string }>).filter((m) => m.role === "tool")),
  },
  responses: {
    env: (url) => ({
      OPENAI_BASE_URL: `${url}/v1`,
      OPENAI_API_MODE: "responses",
      BIG_MODEL: "o3",
      SMALL_MODEL: "o4-mini",
    }),
    answered: (body) => JSON.stringify(body.input ?? []).includes('"function_call_output"'),
    tools: (body) => ((body.tools ?? []) as Array<{ name: string }>).map((t) => t.name),
    result: (body) => JSON.stringify(body.input),
  },
  gemini3: {
    env: (url) => ({
      PREFERRED_PROVIDER: "google",
      GEMINI_API_KEY: "gm-test",
      GEMINI_BASE_URL: url,
      BIG_MODEL: "gemini-3-pro-preview",
      SMALL_MODEL: "gemini-3-flash-preview",
    }),
    answered: (body) => JSON.stringify(body.contents ?? []).includes('"functionResponse"'),
    tools: (body) =>
      ((body.tools ?? []) as Array<{ functionDeclarations: Array<{ name: string }> }>)
        .flatMap((t) => t.functionDeclarations.map((d) => d.name)),
    result: (body) => JSON.stringify(body.contents),
  },
  reasoning_compat: {
    env: (url) => ({
      OPENAI_BASE_URL: `${url}/v1`,
      BIG_MODEL: "deepseek-r1",
      SMALL_MODEL: "deepseek-r1",
    }),
    answered: (body) => (body.messages as Array<{ role: string }>).some((m) => m.role === "tool"),
    tools: (body) =>
      ((body.tools ?? []) as Array<{ function: { name: string } }>).map((t) => t.function.name),
    result: (body) =>
      JSON.stringify((body.messages as Array<{ role: string }>).filter((m) => m.role === "tool")),
  },
  google: {
    env: (url) => ({
      PREFERRED_PROVIDER: "google",
      GEMINI_API_KEY: "gm-test",
      GEMINI_BASE_URL: url,
    }),
    answered: (body) => JSON.stringify(body.contents ?? []).includes('"functionResponse"'),
    tools: (body) =>
      ((body.tools ?? []) as Array<{ functionDeclarations: Array<{ name: string }> }>)
        .flatMap((t) => t.functionDeclarations.map((d) => d.name)),
    result: (body) => JSON.stringify(body.contents),
  },
};

const SIGNATURE = "CiQBcsjafF+9/c2lnbmF0dXJl+AbCd==";
const ENCRYPTED = "gAAAAABo+claude-code/reasoning==";

/** A Chat reply that reasons first, as vLLM or DeepSeek send it. */
const reasoningChat: Dialect = {
  ...DIALECTS.openai,
  tools: (calls) => ({
    chunks: [
      {
        choices: [{
          index: 0,
          delta: { reasoning_content: "I will write the file." },
          finish_reason: null,
        }],
      },
      ...(DIALECTS.openai.tools(calls).chunks ?? []),
    ],
  }),
};

const DIALECT: Record<Name, Dialect> = {
  ...DIALECTS,
  gemini3: DIALECTS.google,
  responses: responsesDialect({
    id: "rs_cc",
    summary: "Planning the write.",
    encrypted: ENCRYPTED,
  }),
  reasoning_compat: reasoningChat,
};

for (const name of Object.keys(SHAPES) as Name[]) {
  Deno.test({
    name: `Claude Code writes a file through ccproxy on ${name} and prints the final answer`,
    ignore: !supported,
    async fn() {
      const shape = SHAPES[name];
      const dialect = DIALECT[name];
      const work = await Deno.makeTempDir({ prefix: "ccproxy-cc-" });
      const target = `${work}/hello.txt`;
      const upstream = createFakeUpstream((request) => {
        if (request.url.includes(":countTokens")) return { json: { totalTokens: 100 } };
        if (shape.answered(request.body)) return dialect.text(["I wrote ", "the file."]);
        if (shape.tools(request.body).includes("Write")) {
          return dialect.tools([{
            id: "call_write_1",
            name: "Write",
            args: { file_path: target, content: "hello from ccproxy\n" },
            signature: SIGNATURE,
          }]);
        }
        return dialect.text(["ok"]);
      });
      const fake = serveFake(upstream);
      const handler = createHandler(testConfig(shape.env(fake.url)), {
        logger: createLogger({ write: () => {} }),
      });
      const proxy = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);
      try {
        const result = await new Deno.Command(await claudeBinary(), {
          args: ["-p", "Write hello to hello.txt", "--allowedTools", "Write"],
          cwd: work,
          clearEnv: true,
          env: {
            PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
            HOME: `${work}/home`,
            ANTHROPIC_BASE_URL: `http://127.0.0.1:${proxy.addr.port}`,
            ANTHROPIC_API_KEY: "sk-ant-test",
            CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
          },
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).output();
        const stdout = new TextDecoder().decode(result.stdout);
        const stderr = new TextDecoder().decode(result.stderr);
        assert.equal(result.code, 0, `claude exited ${result.code}: ${stderr}`);
        assert.equal(Deno.readTextFileSync(target), "hello from ccproxy\n");
        assert.match(stdout, /I wrote the file\./);

        const second = upstream.requests.find((r) => shape.answered(r.body))!;
        assert.match(shape.result(second.body), /hello\.txt/, "the tool result reached the model");
        assert.ok(!JSON.stringify(second.body).includes("cache_control"));
        if (name === "responses") {
          assert.ok(
            JSON.stringify(second.body.input).includes(`"encrypted_content":"${ENCRYPTED}"`),
            "reasoning replayed",
          );
        }
        if (name === "google" || name === "gemini3") {
          assert.ok(
            JSON.stringify(second.body).includes(`"thoughtSignature":"${SIGNATURE}"`),
            "signature restored",
          );
        }
      } finally {
        await proxy.shutdown();
        await fake.close();
        await Deno.remove(work, { recursive: true });
      }
    },
  });
}

Deno.test({
  name: "Claude Code continues a session (-c) against an upstream that repeats call_0, and ends",
  ignore: !supported,
  async fn() {
    const work = await Deno.makeTempDir({ prefix: "ccproxy-cc-" });
    const target = `${work}/hello.txt`;
    const upstream = createFakeUpstream(
      repeatingCallIds(
        { name: "Write", args: { file_path: target, content: "hello from ccproxy\n" } },
        ["I wrote ", "the file."],
      ),
    );
    const fake = serveFake(upstream);
    const handler = createHandler(testConfig({ OPENAI_BASE_URL: `${fake.url}/v1` }), {
      logger: createLogger({ write: () => {} }),
    });
    const proxy = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);
    const baseUrl = `http://127.0.0.1:${proxy.addr.port}`;
    const toolTurns = () =>
      upstream.requests.filter((r) =>
        (r.body.messages as Array<{ role: string }>).at(-1)?.role !== "tool" &&
        JSON.stringify(r.body.tools ?? []).includes('"Write"')
      ).length;
    try {
      const args = ["--allowedTools", "Write", "--max-turns", "6"];
      const first = await runClaude(["-p", "Write hello to hello.txt", ...args], work, baseUrl);
      assert.equal(first.code, 0, `claude exited ${first.code}: ${first.stderr}`);
      assert.match(first.stdout, /I wrote the file\./);
      Deno.removeSync(target);
      const second = await runClaude(["-c", "-p", "Write it again", ...args], work, baseUrl);
      assert.equal(second.code, 0, `claude -c exited ${second.code}: ${second.stderr}`);
      assert.match(second.stdout, /I wrote the file\./);
      assert.equal(Deno.readTextFileSync(target), "hello from ccproxy\n");
      // One tool call per session: a client that saw the same id twice runs the tool again.
      assert.equal(toolTurns(), 2, "the continued session asked for the tool once");
      const last = upstream.requests.at(-1)!.body.messages as Array<
        { role: string; tool_calls?: Array<{ id: string }>; tool_call_id?: string }
      >;
      const ids = last.flatMap((m) => m.tool_calls ?? []).map((c) => c.id);
      assert.equal(ids.length, 2);
      assert.notEqual(ids[0], ids[1], "the two turns' calls have distinct ids");
    } finally {
      await proxy.shutdown();
      await fake.close();
      await Deno.remove(work, { recursive: true });
    }
  },
});

Deno.test({
  name: "the banner's `use it` line works as printed with a fresh Claude Code HOME",
  ignore: !supported,
  async fn() {
    const work = await Deno.makeTempDir({ prefix: "ccproxy-cc-" });
    const fake = serveFake(
      createFakeUpstream(() => DIALECTS.openai.text(["Hello from ", "the banner."])),
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net=127.0.0.1",
        "--allow-env",
        "--allow-read",
        new URL("../cli.ts", import.meta.url).pathname,
        "--port",
        "0",
      ],
      env: {
        NO_COLOR: "1",
        OPENAI_API_KEY: "sk-test-banner",
        OPENAI_BASE_URL: `${fake.url}/v1`,
        USAGE_DB: "off",
      },
      clearEnv: true,
      cwd: work,
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const lines = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    try {
      let banner = "";
      while (!/use it: .*claude\n/.test(banner)) {
        const next = await lines.read();
        if (next.done) throw new Error(`ccproxy did not start: ${banner}`);
        banner += next.value;
      }
      const command = /use it: +(.*) claude\n/.exec(banner)![1];
      const env = Object.fromEntries(command.split(" ").map((pair) => pair.split("=", 2)));
      // The window variable makes Claude Code compact before gpt-4.1's window (client_env.ts).
      assert.deepEqual(Object.keys(env), [
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_AUTH_TOKEN",
        "CLAUDE_CODE_AUTO_COMPACT_WINDOW",
      ]);
      const result = await runClaude(["-p", "hi"], work, "", env);
      assert.equal(result.code, 0, `claude exited ${result.code}: ${result.stderr}`);
      assert.match(result.stdout, /Hello from the banner\./);
    } finally {
      child.kill();
      await lines.cancel();
      await child.status;
      await fake.close();
      await Deno.remove(work, { recursive: true });
    }
  },
});
