/**
 * `ccproxy code`: with a stand-in `claude` script (arguments, environment, exit status, the proxy
 * it starts and stops) and with the real Claude Code CLI end to end (a tool round trip through a
 * ccproxy it started itself; the window and output cap reaching Claude Code).
 */
import assert from "node:assert/strict";
import {
  createFakeUpstream,
  DIALECTS,
  type FakeUpstream,
  serveFake,
} from "../bench/fake_upstream.ts";
import { INSTALL_HINT, runCode } from "../lib/cli/code.ts";
import { claudeCodeLimitsEnv, firstProxyKey } from "../lib/cli/code_env.ts";
import { dayOf, Ledger } from "../lib/usage/ledger.ts";
import { claudeBinary, claudeSupported, denoDirs, runOffline, serveProxy } from "./claude_code.ts";
import { testConfig, testdata } from "./helpers.ts";
import { loadCatalog } from "../lib/routing/catalog.ts";

// The translators and routing look models up in the catalog, which loads on demand.
await loadCatalog();

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;

/** A loopback port nothing listens on. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function listening(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  } catch {
    return false;
  }
}

/** A stand-in `claude` that writes its arguments and environment to a file, then exits `code`. */
async function fakeClaude(dir: string, code: number): Promise<{ path: string; seen: string }> {
  const path = `${dir}/claude`;
  const seen = `${dir}/seen.json`;
  await Deno.writeTextFile(
    path,
    `#!/bin/sh\n${Deno.execPath()} eval 'const r = await fetch(Deno.env.get("ANTHROPIC_BASE_URL") + "/health"); ` +
      `Deno.writeTextFileSync("${seen}", JSON.stringify({ args: Deno.args, env: Deno.env.toObject(), health: r.status }))' -- "$@"\nexit ${code}\n`,
  );
  await Deno.chmod(path, 0o755);
  return { path, seen };
}

Deno.test("firstProxyKey() takes the first key, with or without a name", () => {
  assert.equal(firstProxyKey(undefined), undefined);
  assert.equal(firstProxyKey(" "), undefined);
  assert.equal(firstProxyKey("k1,k2"), "k1");
  assert.equal(firstProxyKey("alice=key1,bob=key2"), "key1");
  assert.equal(firstProxyKey("abc123=="), "abc123==");
});

Deno.test("claudeCodeLimitsEnv() gives the main model's window and output cap", () => {
  assert.deepEqual(claudeCodeLimitsEnv(testConfig({ BIG_MODEL: "gpt-4o" })), {
    CLAUDE_CODE_AUTO_COMPACT_WINDOW: "128000",
    CLAUDE_CODE_MAX_CONTEXT_TOKENS: "128000",
    CLAUDE_CODE_MAX_OUTPUT_TOKENS: "16384",
  });
  const gemini = claudeCodeLimitsEnv(
    testConfig({ PREFERRED_PROVIDER: "google", GEMINI_API_KEY: "g" }),
    { model: "claude-haiku-5-5" },
  );
  assert.equal(gemini.CLAUDE_CODE_AUTO_COMPACT_WINDOW, "1048576");
  assert.equal(gemini.CLAUDE_CODE_MAX_OUTPUT_TOKENS, "65536");
  const o3 = claudeCodeLimitsEnv(testConfig(), { model: "openai/o3" });
  assert.equal(o3.CLAUDE_CODE_MAX_CONTEXT_TOKENS, "200000", "a model the user names");
  assert.equal(o3.CLAUDE_CODE_MAX_OUTPUT_TOKENS, "100000");
  const local = claudeCodeLimitsEnv(
    testConfig({ BIG_MODEL: "qwen3", SMALL_MODEL: "qwen3", MODEL_LIMITS: "qwen3=32768/8192" }),
  );
  assert.equal(local.CLAUDE_CODE_AUTO_COMPACT_WINDOW, "100000", "Claude Code's minimum");
  assert.ok(Number(local.CLAUDE_AUTOCOMPACT_PCT_OVERRIDE) < 40, "lowered to fit 32k");
  assert.equal(local.CLAUDE_CODE_MAX_OUTPUT_TOKENS, "8192");
  assert.deepEqual(
    claudeCodeLimitsEnv(testConfig({ PREFERRED_PROVIDER: "anthropic", ANTHROPIC_API_KEY: "a" })),
    {},
    "the passthrough keeps Claude Code's own defaults",
  );
});

Deno.test("runCode() without claude on PATH says how to install it", async () => {
  const lines: string[] = [];
  const code = await runCode(["-p", "hi"], {
    env: {},
    clientEnv: { PATH: "/nonexistent" },
    print: (line) => lines.push(line),
  });
  assert.equal(code, 127);
  assert.deepEqual(lines, [INSTALL_HINT]);
  assert.match(lines[0], /npm install -g @anthropic-ai\/claude-code/);
});

Deno.test({
  name: "runCode() starts a ccproxy for the session, passes arguments, returns claude's status",
  ignore: Deno.build.os === "windows",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "ccproxy-code-" });
    try {
      const claude = await fakeClaude(dir, 3);
      const lines: string[] = [];
      const args = ["-p", "two words", "--allowedTools", "Write", "-c"];
      const code = await runCode(args, {
        env: {
          OPENAI_API_KEY: "sk-test",
          USAGE_DB: "off",
          BIG_MODEL: "gpt-4o",
          PORT: String(freePort()),
          PROXY_API_KEY: "alice=key-a-0123456789abcdef,bob=key-b-0123456789abcdef",
        },
        clientEnv: { PATH: "/usr/bin:/bin", CLAUDE_PATH: claude.path, ANTHROPIC_API_KEY: "sk-ant" },
        print: (line) => lines.push(line),
      });
      assert.equal(code, 3, "claude's exit status");
      const seen = JSON.parse(await Deno.readTextFile(claude.seen));
      assert.equal(seen.args[0], "--settings");
      assert.deepEqual(seen.args.slice(2), args, "arguments unchanged, after the settings");
      const settings = JSON.parse(seen.args[1]);
      assert.equal(settings.statusLine.type, "command");
      assert.match(settings.statusLine.command, /statusline/);
      // Claude Code runs the command with a shell, its JSON on stdin and its own environment.
      const shell = new Deno.Command("sh", {
        args: ["-c", settings.statusLine.command],
        cwd: dir,
        clearEnv: true,
        env: seen.env,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      await ReadableStream.from([new TextEncoder().encode(testdata("claude_code_statusline.json"))])
        .pipeTo(shell.stdin);
      const status = await shell.output();
      assert.equal(
        new TextDecoder().decode(status.stdout),
        "ccproxy unreachable · Opus 5.5 · 48k/128k ctx\n",
        new TextDecoder().decode(status.stderr),
      );
      assert.equal(seen.health, 200, "the proxy answered while claude ran");
      assert.equal(seen.env.ANTHROPIC_AUTH_TOKEN, "key-a-0123456789abcdef");
      assert.equal(seen.env.ANTHROPIC_API_KEY, undefined, "no key prompt, no Anthropic key sent");
      assert.equal(seen.env.CLAUDE_CODE_MAX_OUTPUT_TOKENS, "16384");
      assert.equal(seen.env.CLAUDE_CODE_AUTO_COMPACT_WINDOW, "128000");
      assert.deepEqual(JSON.parse(seen.env.CCPROXY_MODEL_WINDOWS), {
        "gpt-4o": 128_000,
        "gpt-4.1-mini": 1_047_576,
      }, "the status line's windows");
      const started = /started on http:\/\/127\.0\.0\.1:(\d+) for this session \(log: (.+)\)/
        .exec(lines.join("\n"));
      assert.ok(started, lines.join("\n"));
      assert.equal(seen.env.ANTHROPIC_BASE_URL, `http://127.0.0.1:${started[1]}`);
      assert.equal(await listening(Number(started[1])), false, "stopped when claude exited");
      assert.match(await Deno.readTextFile(started[2]), /GET \/health 200/);
      await Deno.remove(started[2]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "runCode() keeps a variable the user set over the computed limits",
  ignore: Deno.build.os === "windows",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "ccproxy-code-" });
    try {
      const claude = await fakeClaude(dir, 0);
      const lines: string[] = [];
      const code = await runCode([], {
        env: { OPENAI_API_KEY: "sk-test", USAGE_DB: "off", PORT: String(freePort()) },
        clientEnv: {
          PATH: "/usr/bin:/bin",
          CLAUDE_PATH: claude.path,
          CLAUDE_CODE_MAX_OUTPUT_TOKENS: "4000",
        },
        print: (line) => lines.push(line),
      });
      assert.equal(code, 0);
      const seen = JSON.parse(await Deno.readTextFile(claude.seen));
      assert.equal(seen.env.CLAUDE_CODE_MAX_OUTPUT_TOKENS, "4000");
      assert.equal(seen.env.ANTHROPIC_AUTH_TOKEN, "ccproxy", "a placeholder without PROXY_API_KEY");
      await Deno.remove(/\(log: (.+)\)/.exec(lines.join("\n"))![1]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Runs `ccproxy code …` as a user would, with the real Claude Code. */
async function ccproxyCode(work: string, args: string[], env: Record<string, string>) {
  return runOffline(
    Deno.execPath(),
    ["run", "--config", CONFIG, "-A", MAIN, "code", ...args],
    work,
    {
      // A throwaway HOME must not hide Deno's cache from the `deno run` under test.
      DENO_DIR: (await denoDirs()).denoDir,
      CLAUDE_PATH: await claudeBinary(),
      ...env,
    },
  );
}

function writeThenAnswer(target: string): FakeUpstream {
  return createFakeUpstream((request) => {
    const messages = request.body.messages as Array<{ role: string }>;
    if (messages.some((m) => m.role === "tool")) return DIALECTS.openai.text(["I wrote ", "it."]);
    const tools = (request.body.tools ?? []) as Array<{ function: { name: string } }>;
    if (tools.some((t) => t.function.name === "Write")) {
      return DIALECTS.openai.tools([{
        id: "call_write_1",
        name: "Write",
        args: { file_path: target, content: "hello from ccproxy code\n" },
      }]);
    }
    return DIALECTS.openai.text(["ok"]);
  });
}

Deno.test({
  name: "ccproxy code -p runs a tool round trip through a ccproxy it starts, then stops it",
  ignore: !claudeSupported,
  async fn() {
    const work = await Deno.makeTempDir({ prefix: "ccproxy-code-e2e-" });
    const upstream = writeThenAnswer(`${work}/hello.txt`);
    const fake = serveFake(upstream);
    try {
      const run = await ccproxyCode(work, ["-p", "Write hello.txt", "--allowedTools", "Write"], {
        OPENAI_API_KEY: "sk-test",
        OPENAI_BASE_URL: `${fake.url}/v1`,
        PORT: String(freePort()),
      });
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /I wrote it\./);
      assert.equal(await Deno.readTextFile(`${work}/hello.txt`), "hello from ccproxy code\n");
      assert.equal(upstream.requests.length, 2, "the call, then the tool result");
      const started = /started on http:\/\/127\.0\.0\.1:(\d+) for this session \(log: (.+)\)/
        .exec(run.stderr);
      assert.ok(started, run.stderr);
      assert.equal(await listening(Number(started[1])), false, "its ccproxy is stopped");
      const log = await Deno.readTextFile(started[2]);
      assert.equal(log.match(/POST \/v1\/messages /g)?.length, 2, log);
      await Deno.remove(started[2]);

      // Its ledger (the default file, in the folder it ran in) has the session's two turns.
      const ledger = await Ledger.open(`${work}/.ccproxy/usage`);
      try {
        const today = Date.now();
        const rows = (await ledger.totals(dayOf(today - 86_400_000), dayOf(today))).filter((r) =>
          r.model === "gpt-4.1"
        );
        assert.equal(rows.length, 1);
        assert.match(rows[0].session, /^[0-9a-f-]{36}$/, "Claude Code's session id");
        assert.equal(rows[0].counts.requests, 2);
      } finally {
        await ledger.close();
      }
    } finally {
      await fake.close();
      await Deno.remove(work, { recursive: true });
    }
  },
});

Deno.test({
  name: "ccproxy code tells Claude Code the backend's output cap and window",
  ignore: !claudeSupported,
  async fn() {
    const work = await Deno.makeTempDir({ prefix: "ccproxy-code-e2e-" });
    const upstream = createFakeUpstream(() => DIALECTS.openai.text(["hi"]));
    const config = (url: string) => ({ OPENAI_BASE_URL: `${url}/v1`, BIG_MODEL: "gpt-4o" });
    const received: Array<{ headers: Headers; body: Record<string, unknown> }> = [];
    // An already running ccproxy, which `ccproxy code` must use rather than start its own.
    const proxy = serveProxy(upstream, config, async (r) => {
      if (r.method === "POST") {
        received.push({ headers: r.headers, body: await r.clone().json() });
      }
    });
    try {
      const env = {
        ...config(proxy.upstreamUrl),
        OPENAI_API_KEY: "sk-test",
        PORT: String(proxy.port),
        PROXY_API_KEY: "alice=key-a-0123456789abcdef",
      };
      const asked = await ccproxyCode(work, ["-p", "say hi"], env);
      assert.equal(asked.code, 0, asked.stderr);
      assert.doesNotMatch(asked.stderr, /started on/);
      assert.equal(received.length, 1);
      assert.equal(received[0].body.max_tokens, 16_384, "gpt-4o's output cap, not 128000");
      assert.equal(received[0].headers.get("authorization"), "Bearer key-a-0123456789abcdef");

      // `/context` is answered by Claude Code itself: it shows the window it compacts against.
      const context = await ccproxyCode(work, ["-p", "/context"], env);
      assert.equal(context.code, 0, context.stderr);
      assert.match(context.stdout, /Tokens:\*\* [\d.]+k \/ 128k/, context.stdout);
    } finally {
      await proxy.close();
      await Deno.remove(work, { recursive: true });
    }
  },
});
