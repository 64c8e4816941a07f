/**
 * End to end with the real Claude Code CLI and a real MCP server offering 200 tools
 * (tests/mcp_many_tools.ts): Claude Code defers the MCP tools; the scripted fake upstream asks for
 * `ToolSearch`, then calls the tool it found, then answers. The first upstream request must carry
 * only the tools Claude Code did not defer, the found tool must be declared once loaded (its
 * 79-character name as an alias the backend accepts), and its call must run on the MCP server
 * under its real name.
 */
import assert from "node:assert/strict";
import {
  createFakeUpstream,
  type Dialect,
  DIALECTS,
  type Recorded,
  scripted,
  TOOL_NAMES,
} from "../bench/fake_upstream.ts";
import {
  BACKEND_ENV,
  claudeSupported,
  denoDirs,
  proxyEnv,
  runClaude,
  serveProxy,
} from "./claude_code.ts";
import { gadgetName } from "./mcp_many_tools.ts";

/** The tool the model looks up: its name is too long for OpenAI and Gemini. */
const FOUND = `mcp__many__${gadgetName(42, true)}`;

/** How each backend's request shows declared tools and tool results. */
const SHAPES: Record<"openai" | "google", {
  env: (url: string) => Record<string, string>;
  dialect: Dialect;
  /** A function name the backend accepts. */
  valid: RegExp;
  tools: (body: Record<string, unknown>) => string[];
  results: (body: Record<string, unknown>) => string;
}> = {
  openai: {
    env: BACKEND_ENV.openai,
    dialect: DIALECTS.openai,
    valid: /^[a-zA-Z0-9_-]{1,64}$/,
    tools: TOOL_NAMES.chat,
    results: (body) =>
      JSON.stringify((body.messages as Array<{ role: string }>).filter((m) => m.role === "tool")),
  },
  google: {
    env: BACKEND_ENV.google,
    dialect: DIALECTS.google,
    valid: /^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/,
    tools: TOOL_NAMES.gemini,
    results: (body) =>
      JSON.stringify(
        JSON.stringify(body.contents ?? []).match(/"functionResponse":\{[^}]*\}/g) ?? [],
      ),
  },
};

/** The Claude Code configuration of the MCP server, run by this Deno with the project's imports. */
async function mcpConfig(calls: string): Promise<string> {
  const root = new URL("..", import.meta.url).pathname;
  const { denoDir } = await denoDirs();
  return JSON.stringify({
    mcpServers: {
      many: {
        command: Deno.execPath(),
        args: [
          "run",
          "--cached-only",
          "--config",
          `${root}deno.json`,
          `--allow-read=${calls}`,
          `--allow-write=${calls}`,
          `${root}tests/mcp_many_tools.ts`,
          "--calls",
          calls,
          "--long",
          "42",
        ],
        // The throwaway HOME has no Deno cache: use this one (nothing is downloaded).
        env: { DENO_DIR: denoDir },
      },
    },
  });
}

interface ClientRequest {
  tools?: Array<{ name: string; defer_loading?: boolean }>;
  messages: unknown[];
}

for (const name of Object.keys(SHAPES) as Array<keyof typeof SHAPES>) {
  Deno.test({
    name: `Claude Code with 200 deferred MCP tools loads one through ToolSearch on ${name}`,
    ignore: !claudeSupported,
    async fn() {
      const shape = SHAPES[name];
      const work = await Deno.makeTempDir({ prefix: "ccproxy-mcp-" });
      const calls = `${work}/calls.jsonl`;
      Deno.writeTextFileSync(calls, "");
      const isMain = (r: Recorded) => shape.tools(r.body).includes("ToolSearch");
      const script = scripted(
        [
          {
            when: (r) => isMain(r) && JSON.stringify(r.body).includes(FOUND),
            reply: shape.dialect.tools([{
              id: "call_search_1",
              name: "ToolSearch",
              args: { query: `select:${FOUND}` },
            }]),
          },
          {
            when: isMain,
            reply: shape.dialect.tools([{
              id: "call_gadget_1",
              name: FOUND,
              args: { input: "hello" },
            }]),
          },
          { when: isMain, reply: shape.dialect.text(["The gadget ", "said hello."]) },
        ],
        (r) =>
          r.url.includes(":countTokens")
            ? { json: { totalTokens: 100 } }
            : shape.dialect.text(["ok"]),
      );
      const upstream = createFakeUpstream(script);
      // What Claude Code itself sent, to compare with what went upstream.
      const client: ClientRequest[] = [];
      const proxy = serveProxy(upstream, shape.env, async (r) => {
        if (new URL(r.url).pathname === "/v1/messages") client.push(await r.clone().json());
      });
      const log = proxy.lines;
      try {
        const args = ["-p", "Use gadget 42 on hello", "--mcp-config", await mcpConfig(calls)];
        const { code, stdout, stderr } = await runClaude(
          work,
          [...args, "--strict-mcp-config", "--allowedTools", FOUND],
          {
            ...proxyEnv(proxy.url),
            // Connect the MCP server before the first request (it is non-blocking by default).
            MCP_CONNECTION_NONBLOCKING: "false",
          },
        );
        assert.equal(code, 0, `claude exited ${code}: ${stderr}`);
        assert.ok(script.done(), `the script did not finish; stdout: ${stdout}`);
        assert.match(stdout, /The gadget said hello\./);

        const main = upstream.requests.filter(isMain);
        const [first, loaded, answered] = main;
        // The first request: exactly the tools Claude Code did not defer.
        const firstClient = client.find((c) => c.tools?.some((t) => t.name === "ToolSearch"))!;
        const notDeferred = firstClient.tools!.filter((t) => t.defer_loading !== true)
          .map((t) => t.name);
        assert.deepEqual(shape.tools(first.body), notDeferred);
        assert.ok(!shape.tools(first.body).some((t) => t.startsWith("mcp__")));
        assert.ok(!shape.tools(first.body).includes("DeferredToolPlaceholder"));
        assert.ok(JSON.stringify(first.body).includes("mcp__many__gadget_199"), "200 tools named");
        // Once ToolSearch loaded it, the found tool (and no other MCP tool) is declared, under a
        // name the backend accepts.
        const declared = shape.tools(loaded.body).filter((t) => t.startsWith("mcp__"));
        assert.equal(declared.length, 1);
        assert.match(declared[0], shape.valid);
        assert.ok(FOUND.startsWith(declared[0].slice(0, 55)) && declared[0] !== FOUND);
        assert.deepEqual(shape.tools(answered.body).filter((t) => t.startsWith("mcp__")), declared);
        // The call ran on the MCP server under the tool's real name; its result reached the model.
        const ran = Deno.readTextFileSync(calls).trim().split("\n").filter(Boolean)
          .map((line) => JSON.parse(line));
        assert.deepEqual(ran, [{ name: gadgetName(42, true), args: { input: "hello" } }]);
        assert.match(shape.results(answered.body), /gadget_042\w+ ran with hello/);
        // The log line names what was sent and what was held back (the deferred placeholder).
        assert.match(
          log.join("\n"),
          new RegExp(`tools=${firstClient.tools!.length} sent=${notDeferred.length} held=1 `),
        );
      } finally {
        await proxy.close();
        await Deno.remove(work, { recursive: true });
      }
    },
  });
}
