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
  TOOL_NAMES,
} from "../bench/fake_upstream.ts";
import { BACKEND_ENV, claudeSupported, proxyEnv, runClaude, serveProxy } from "./claude_code.ts";

type Name = "openai" | "azure" | "google" | "responses" | "gemini3" | "reasoning_compat";

/** How a backend's request shows a tool result and the declared tools. */
interface Shape {
  answered: (body: Record<string, unknown>) => boolean;
  tools: (body: Record<string, unknown>) => string[];
  result: (body: Record<string, unknown>) => string;
}

const CHAT: Shape = {
  answered: (body) => (body.messages as Array<{ role: string }>).some((m) => m.role === "tool"),
  tools: TOOL_NAMES.chat,
  result: (body) =>
    JSON.stringify((body.messages as Array<{ role: string }>).filter((m) => m.role === "tool")),
};

const GEMINI: Shape = {
  answered: (body) => JSON.stringify(body.contents ?? []).includes('"functionResponse"'),
  tools: TOOL_NAMES.gemini,
  result: (body) => JSON.stringify(body.contents),
};

/** Each backend: its shape, and the variables that send ccproxy to the fake upstream. */
const SHAPES: Record<Name, Shape & { env: (url: string) => Record<string, string> }> = {
  openai: { ...CHAT, env: BACKEND_ENV.openai },
  azure: {
    ...CHAT,
    env: (url) => ({
      PREFERRED_PROVIDER: "azure",
      AZURE_OPENAI_API_KEY: "az-test",
      AZURE_OPENAI_ENDPOINT: url,
      BIG_MODEL: "big-deployment",
      SMALL_MODEL: "small-deployment",
    }),
  },
  responses: {
    env: (url) => ({
      OPENAI_BASE_URL: `${url}/v1`,
      OPENAI_API_MODE: "responses",
      BIG_MODEL: "o3",
      SMALL_MODEL: "o4-mini",
    }),
    answered: (body) => JSON.stringify(body.input ?? []).includes('"function_call_output"'),
    tools: TOOL_NAMES.responses,
    result: (body) => JSON.stringify(body.input),
  },
  gemini3: {
    ...GEMINI,
    env: (url) => ({
      ...BACKEND_ENV.google(url),
      BIG_MODEL: "gemini-3-pro-preview",
      SMALL_MODEL: "gemini-3-flash-preview",
    }),
  },
  reasoning_compat: {
    ...CHAT,
    env: (url) => ({
      OPENAI_BASE_URL: `${url}/v1`,
      BIG_MODEL: "deepseek-r1",
      SMALL_MODEL: "deepseek-r1",
    }),
  },
  google: { ...GEMINI, env: BACKEND_ENV.google },
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
    ignore: !claudeSupported,
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
      const proxy = serveProxy(upstream, shape.env);
      try {
        const { code, stdout, stderr } = await runClaude(
          work,
          ["-p", "Write hello to hello.txt", "--allowedTools", "Write"],
          proxyEnv(proxy.url),
        );
        assert.equal(code, 0, `claude exited ${code}: ${stderr}`);
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
        await proxy.close();
        await Deno.remove(work, { recursive: true });
      }
    },
  });
}

Deno.test({
  name: "Claude Code continues a session (-c) against an upstream that repeats call_0, and ends",
  ignore: !claudeSupported,
  async fn() {
    const work = await Deno.makeTempDir({ prefix: "ccproxy-cc-" });
    const target = `${work}/hello.txt`;
    const upstream = createFakeUpstream(
      repeatingCallIds(
        { name: "Write", args: { file_path: target, content: "hello from ccproxy\n" } },
        ["I wrote ", "the file."],
      ),
    );
    const proxy = serveProxy(upstream, BACKEND_ENV.openai);
    const baseUrl = proxy.url;
    const toolTurns = () =>
      upstream.requests.filter((r) =>
        (r.body.messages as Array<{ role: string }>).at(-1)?.role !== "tool" &&
        JSON.stringify(r.body.tools ?? []).includes('"Write"')
      ).length;
    try {
      const args = ["--allowedTools", "Write", "--max-turns", "6"];
      const first = await runClaude(
        work,
        ["-p", "Write hello to hello.txt", ...args],
        proxyEnv(baseUrl),
      );
      assert.equal(first.code, 0, `claude exited ${first.code}: ${first.stderr}`);
      assert.match(first.stdout, /I wrote the file\./);
      Deno.removeSync(target);
      const second = await runClaude(
        work,
        ["-c", "-p", "Write it again", ...args],
        proxyEnv(baseUrl),
      );
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
      await proxy.close();
      await Deno.remove(work, { recursive: true });
    }
  },
});

Deno.test({
  name: "the banner's `use it` line works as printed with a fresh Claude Code HOME",
  ignore: !claudeSupported,
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
      const result = await runClaude(work, ["-p", "hi"], env);
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
