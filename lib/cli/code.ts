/**
 * `ccproxy code [claude arguments…]`: runs Claude Code through ccproxy in one command. It uses a
 * ccproxy already answering on the configured address, or serves one in this process on a free
 * loopback port for as long as Claude Code runs (its log in a file it names); then runs `claude`
 * with the proxy's URL and key, the configured model's window and output cap, and ccproxy's
 * status line. Arguments pass through unchanged; the exit status is Claude Code's.
 *
 * @module
 */
import { type Config, ConfigError, loadConfig } from "../config.ts";
import { createHandler } from "../server/handler.ts";
import { createLogger } from "../server/log.ts";
import { createUsage } from "../usage/open.ts";
import { claudeCodeEnv, claudeCodeLimitsEnv, firstProxyKey, modelWindows } from "./code_env.ts";

/** Options of {@link runCode}. */
export interface CodeOptions {
  /** The proxy's settings: the environment with `.env` underneath. */
  env: Record<string, string>;
  /** The environment Claude Code starts from (default: this process's real environment). */
  clientEnv?: Record<string, string>;
  /** Where messages go (default: standard error). */
  print?: (line: string) => void;
}

/** How to install Claude Code, for when it is not on `PATH`. */
export const INSTALL_HINT =
  "ccproxy: claude not found on PATH: install Claude Code with `npm install -g @anthropic-ai/claude-code` (or set CLAUDE_PATH)";

/** How long a running ccproxy has to answer `/health`. */
const PROBE_MS = 500;

/** Runs Claude Code through ccproxy; resolves with Claude Code's exit status. */
export async function runCode(args: string[], options: CodeOptions): Promise<number> {
  const print = options.print ?? ((line: string) => console.error(line));
  try {
    return await session(args, options, print);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotCapable)) throw error;
    print(
      `ccproxy: code needs more permissions (--allow-run for claude, --allow-write for its log; ` +
        `deno task code grants them): ${error.message}`,
    );
    return 126;
  }
}

async function session(
  args: string[],
  options: CodeOptions,
  print: (line: string) => void,
): Promise<number> {
  const clientEnv = options.clientEnv ?? Deno.env.toObject();
  const claude = findClaude({
    ...clientEnv,
    CLAUDE_PATH: clientEnv.CLAUDE_PATH ?? options.env.CLAUDE_PATH,
  });
  if (!claude) {
    print(INSTALL_HINT);
    return 127;
  }
  const key = firstProxyKey(options.env.PROXY_API_KEY);
  const configured = configuredUrl(options.env);
  let config: Config | undefined;
  let configProblem: string | undefined;
  try {
    config = loadConfig(options.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    configProblem = error.problems.map((p) => `  ${p}`).join("\n");
  }

  let url = configured;
  let local: LocalProxy | undefined;
  if (!await isRunning(configured)) {
    if (!config) {
      print(`ccproxy: cannot start:\n${configProblem}`);
      return 2;
    }
    local = await startLocal(config);
    url = local.url;
    print(`ccproxy: started on ${url} for this session (log: ${local.logPath})`);
  } else if (!await accepts(configured, key)) {
    print(
      `ccproxy: the ccproxy on ${configured} refused the key: set PROXY_API_KEY to one of its keys`,
    );
    return 2;
  }

  const limits = config
    ? claudeCodeLimitsEnv(config, { model: clientEnv.ANTHROPIC_MODEL || undefined })
    : {};
  const windows = config ? modelWindows(config) : undefined;
  const env = claudeCodeEnv(clientEnv, { url, key, limits, windows });
  const settings = JSON.stringify({
    statusLine: { type: "command", command: statusLineCommand() },
  });
  try {
    // `deno task` runs in ccproxy's folder; INIT_CWD is where the user typed the command.
    return await runClaude(claude, ["--settings", settings, ...args], env, clientEnv.INIT_CWD);
  } finally {
    await local?.stop();
  }
}

/** The address the configuration names, as a URL a local client can reach. */
export function configuredUrl(env: Record<string, string | undefined>): string {
  const host = env.HOST || "127.0.0.1";
  const port = env.PORT || "8082";
  const reachable = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host;
  return `http://${reachable.includes(":") ? `[${reachable}]` : reachable}:${port}`;
}

/** True when a ccproxy answers `GET /health` at `url`. */
export async function isRunning(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(PROBE_MS) });
    const body = await response.json().catch(() => undefined);
    return response.ok && body?.status === "ok";
  } catch {
    return false;
  }
}

/** False only when the proxy at `url` says the key is wrong (401). */
async function accepts(url: string, key: string | undefined): Promise<boolean> {
  try {
    const response = await fetch(`${url}/v1/models`, {
      headers: key ? { authorization: `Bearer ${key}` } : {},
      signal: AbortSignal.timeout(PROBE_MS),
    });
    await response.body?.cancel();
    return response.status !== 401;
  } catch {
    return true;
  }
}

/** `CLAUDE_PATH`, else the first `claude` on `PATH`, else undefined. */
export function findClaude(env: Record<string, string | undefined>): string | undefined {
  if (env.CLAUDE_PATH) return isFile(env.CLAUDE_PATH) ? env.CLAUDE_PATH : undefined;
  const windows = Deno.build.os === "windows";
  const names = windows ? ["claude.exe", "claude.cmd", "claude"] : ["claude"];
  for (const dir of (env.PATH ?? "").split(windows ? ";" : ":")) {
    if (!dir) continue;
    for (const name of names) {
      const path = `${dir}/${name}`;
      if (isFile(path)) return path;
    }
  }
  return undefined;
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** A ccproxy served by this process for one Claude Code session. */
interface LocalProxy {
  url: string;
  logPath: string;
  stop(): Promise<void>;
}

/** Serves `config` on a free loopback port, logging to a new file. */
async function startLocal(config: Config): Promise<LocalProxy> {
  const logPath = await Deno.makeTempFile({ prefix: "ccproxy-code-", suffix: ".log" });
  const log = await Deno.open(logPath, { write: true, append: true });
  const encoder = new TextEncoder();
  const logger = createLogger({
    debug: config.debug,
    write: (line) => void log.write(encoder.encode(`${line}\n`)).catch(() => {}),
  });
  const usage = createUsage(config, { log: logger });
  const handler = createHandler({ ...config, host: "127.0.0.1", port: 0 }, { logger, usage });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    logPath,
    async stop() {
      await server.shutdown();
      // The ledger gets what it still has queued before the process goes.
      await usage.close();
      log.close();
    },
  };
}

/** The shell command Claude Code runs for its status line: this program's `statusline`. */
export function statusLineCommand(): string {
  const exe = Deno.execPath();
  const compiled = !/^deno(\.exe)?$/i.test(exe.split(/[\\/]/).at(-1) ?? "");
  if (compiled) return `${quote(exe)} statusline`;
  const script = new URL("./statusline.ts", import.meta.url);
  const target = script.protocol === "file:" ? decodeURIComponent(script.pathname) : script.href;
  return `${quote(exe)} run --quiet --no-config --allow-net --allow-env --allow-read ${
    quote(target)
  }`;
}

/** POSIX shell quoting (Claude Code runs the command with a shell). */
function quote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}

/** Runs Claude Code with inherited stdio; Ctrl-C belongs to it, not to this process. */
async function runClaude(
  path: string,
  args: string[],
  env: Record<string, string>,
  cwd?: string,
): Promise<number> {
  const child = new Deno.Command(path, {
    args,
    env,
    cwd: cwd || undefined,
    clearEnv: true,
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const forward: Array<[Deno.Signal, () => void]> = Deno.build.os === "windows"
    ? []
    : (["SIGINT", "SIGTERM", "SIGHUP"] as const).map((signal) => [
      signal,
      // The terminal sends Ctrl-C to both processes; Claude Code decides what it means.
      signal === "SIGINT" ? () => {} : () => {
        try {
          child.kill(signal);
        } catch { /* already gone */ }
      },
    ]);
  for (const [signal, handler] of forward) Deno.addSignalListener(signal, handler);
  try {
    const status = await child.status;
    return status.code;
  } finally {
    for (const [signal, handler] of forward) Deno.removeSignalListener(signal, handler);
  }
}
