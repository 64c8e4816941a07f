/**
 * Running the real Claude Code CLI in tests: the binary from the pinned
 * `npm:@anthropic-ai/claude-code-linux-x64` package (`deno install` puts it in Deno's npm cache)
 * and the environment that keeps it offline. Other platforms skip these tests.
 */
import meta from "../deno.json" with { type: "json" };

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

/** The environment for an offline Claude Code run against the proxy at `baseUrl`. */
export function claudeEnv(home: string, baseUrl: string): Record<string, string> {
  return {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: home,
    ANTHROPIC_BASE_URL: baseUrl,
    ANTHROPIC_API_KEY: "sk-ant-test",
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
  };
}
