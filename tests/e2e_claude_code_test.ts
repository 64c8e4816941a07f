/**
 * End to end with the real Claude Code CLI: Claude Code → ccproxy → a fake OpenAI upstream that
 * asks for a `Write` tool call, then answers the tool result. Claude Code must write the file
 * and print the final answer.
 *
 * The binary comes from the pinned `npm:@anthropic-ai/claude-code-linux-x64` package
 * (`deno install` puts it in Deno's npm cache); other platforms skip this test.
 */
import assert from "node:assert/strict";
import { createFakeUpstream, serveFake, textReply, toolReply } from "../bench/fake_upstream.ts";
import { createLogger } from "../lib/log.ts";
import { createHandler } from "../lib/server.ts";
import meta from "../deno.json" with { type: "json" };
import { testConfig } from "./helpers.ts";

const PACKAGE = "@anthropic-ai/claude-code-linux-x64";
const supported = Deno.build.os === "linux" && Deno.build.arch === "x86_64";

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

Deno.test({
  name: "Claude Code writes a file through ccproxy and prints the final answer",
  ignore: !supported,
  async fn() {
    const work = await Deno.makeTempDir({ prefix: "ccproxy-cc-" });
    const target = `${work}/hello.txt`;
    const upstream = createFakeUpstream((request) => {
      const body = request.body as {
        messages: Array<{ role: string }>;
        tools?: Array<{ function: { name: string } }>;
      };
      if (body.messages.some((m) => m.role === "tool")) return textReply(["I wrote ", "the file."]);
      if (body.tools?.some((t) => t.function.name === "Write")) {
        return toolReply([{
          id: "call_write_1",
          name: "Write",
          args: { file_path: target, content: "hello from ccproxy\n" },
        }]);
      }
      return textReply(["ok"]);
    });
    const fake = serveFake(upstream);
    const handler = createHandler(testConfig({ OPENAI_BASE_URL: `${fake.url}/v1` }), {
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

      const second = upstream.requests.find((r) =>
        (r.body.messages as Array<{ role: string }>).some((m) => m.role === "tool")
      )!;
      const messages = second.body.messages as Array<Record<string, unknown>>;
      const call = messages.findIndex((m) => m.role === "assistant" && m.tool_calls);
      assert.equal(messages[call + 1].role, "tool", "the result follows its call");
      assert.equal(messages[call + 1].tool_call_id, "call_write_1");
      assert.match(String(messages[call + 1].content), /hello\.txt/);
      assert.ok(!JSON.stringify(second.body).includes("cache_control"));
    } finally {
      await proxy.shutdown();
      await fake.close();
      await Deno.remove(work, { recursive: true });
    }
  },
});
