/**
 * Running the real Claude Code CLI in tests: the binary from the pinned
 * `npm:@anthropic-ai/claude-code-linux-x64` package (`deno install` puts it in Deno's npm cache)
 * and the environment that keeps it offline. Other platforms skip these tests.
 */
import { type FakeUpstream, serveFake } from "../bench/fake_upstream.ts";
import meta from "../deno.json" with { type: "json" };
import { createHandler } from "../lib/server/handler.ts";
import { createLogger } from "../lib/server/log.ts";
import { testConfig } from "./helpers.ts";

const PACKAGE = "@anthropic-ai/claude-code-linux-x64";

/** Whether the Claude Code binary exists for this platform. */
export const claudeSupported = Deno.build.os === "linux" && Deno.build.arch === "x86_64";

/** Deno's own directories (`deno info --json`): the npm cache, and the root of the cache. */
export async function denoDirs(): Promise<{ denoDir: string; npmCache: string }> {
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
  }).output();
  return JSON.parse(new TextDecoder().decode(info.stdout));
}

/** The path of the Claude Code binary in Deno's npm cache. */
export async function claudeBinary(): Promise<string> {
  const version = meta.imports[PACKAGE].split("@").at(-1);
  const { npmCache } = await denoDirs();
  const path = `${npmCache}/registry.npmjs.org/${PACKAGE}/${version}/claude`;
  try {
    Deno.statSync(path);
  } catch {
    throw new Error(`Claude Code binary missing at ${path}: run \`deno install\` first`);
  }
  return path;
}

/** The variables that send ccproxy's default routes to a fake upstream at `url`, per backend. */
export const BACKEND_ENV: Record<"openai" | "google", (url: string) => Record<string, string>> = {
  openai: (url) => ({ OPENAI_BASE_URL: `${url}/v1` }),
  google: (url) => ({
    PREFERRED_PROVIDER: "google",
    GEMINI_API_KEY: "gm-test",
    GEMINI_BASE_URL: url,
  }),
};

/** What a run of Claude Code (or of `ccproxy code`) printed, and how it exited. */
export interface ClaudeRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** The variables that point Claude Code at the proxy at `baseUrl`, with `key` as its API key. */
export function proxyEnv(baseUrl: string, key = "sk-ant-test"): Record<string, string> {
  return { ANTHROPIC_BASE_URL: baseUrl, ANTHROPIC_API_KEY: key };
}

/**
 * Runs `command` with `args` in `work` the way these tests run Claude Code: a cleared
 * environment holding only PATH, a throwaway HOME (`work`/home, so the user's settings and
 * sessions stay out) and the switch that keeps Claude Code offline, then `env` on top. Stdin is
 * closed (nothing waits for a keyboard); stdout and stderr are captured.
 */
export async function runOffline(
  command: string,
  args: string[],
  work: string,
  env: Record<string, string>,
): Promise<ClaudeRun> {
  const result = await new Deno.Command(command, {
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

/**
 * Runs the real Claude Code with `args` in `work`, offline (see `runOffline`); `env` holds the
 * proxy variables, usually `proxyEnv(baseUrl)` and whatever a test adds to them.
 */
export async function runClaude(
  work: string,
  args: string[],
  env: Record<string, string>,
): Promise<ClaudeRun> {
  return runOffline(await claudeBinary(), args, work, env);
}

/** A ccproxy on a free loopback port in front of a fake upstream, for Claude Code to call. */
export interface LocalProxy {
  /** The proxy's base URL (what `ANTHROPIC_BASE_URL` names). */
  url: string;
  /** The proxy's port. */
  port: number;
  /** The fake upstream's base URL. */
  upstreamUrl: string;
  /** The proxy's log lines so far (with `SHOW_LOG` set, they are printed too). */
  lines: string[];
  /** Stops the proxy, then the fake upstream. */
  close(): Promise<void>;
}

/**
 * Serves `upstream` and, in front of it, a ccproxy configured by `env(upstreamUrl)`, each on a
 * free loopback port. `seen`, when given, sees each request before the proxy does (a test
 * keeping what Claude Code itself sent).
 */
export function serveProxy(
  upstream: FakeUpstream,
  env: (upstreamUrl: string) => Record<string, string>,
  seen?: (request: Request) => Promise<void>,
): LocalProxy {
  const fake = serveFake(upstream);
  const lines: string[] = [];
  const show = Deno.env.get("SHOW_LOG") !== undefined;
  const handler = createHandler(testConfig(env(fake.url)), {
    logger: createLogger({
      write: (line) => {
        lines.push(line);
        if (show) console.log(line);
      },
    }),
  });
  const proxy = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      await seen?.(request);
      return handler(request);
    },
  );
  return {
    url: `http://127.0.0.1:${proxy.addr.port}`,
    port: proxy.addr.port,
    upstreamUrl: fake.url,
    lines,
    async close() {
      await proxy.shutdown();
      await fake.close();
    },
  };
}
