/**
 * ccproxy's entry point for `deno serve` and Deno Deploy, and the command line's code.
 *
 * - `deno serve main.ts` and Deno Deploy use the default export's `fetch`, configured from the
 *   environment (and `.env` when readable) on the first request.
 * - The command line (`deno task start`, the binaries, `deno run jsr:@x/ccproxy`) runs `cli.ts`,
 *   which calls {@link main}. Deno warns "Detected export default { fetch }, did you mean to run
 *   deno serve?" after `deno run` evaluates any main module whose default export has a `fetch`;
 *   `cli.ts` has no default export, so the command line prints only ccproxy's own lines.
 *   (`deno run main.ts` still works, with that warning.)
 *
 * @module
 */
import { parseArgs } from "node:util";
import { describeConfig, pingProviders } from "./lib/cli/check.ts";
import {
  listenProblem,
  modelWarnings,
  placeholderWarnings,
  readEnvFile,
  StartupError,
} from "./lib/cli/startup.ts";
import { runCode } from "./lib/cli/code.ts";
import { runStatusLine } from "./lib/cli/statusline.ts";
import { type Config, ConfigError, exposureProblem, loadConfig } from "./lib/config.ts";
import { createHandler, type Handler } from "./lib/server/handler.ts";
import { fromLoopback } from "./lib/server/exposure.ts";
import { type Gate, serveGated } from "./lib/server/gate.ts";
import { createLogger } from "./lib/server/log.ts";
import { createUsage } from "./lib/usage/open.ts";
import { runUsage } from "./lib/cli/usage.ts";
import { claudeCodeWindow, exportLines } from "./lib/routing/client_env.ts";
import { catalogReady, loadCatalog } from "./lib/routing/catalog.ts";
import { loadRouterScript, type RouterScript } from "./lib/routing/router_script.ts";
import { VERSION } from "./lib/version.ts";

export * from "./mod.ts";

const HELP =
  `ccproxy ${VERSION}: serve the Anthropic Messages API on OpenAI, Gemini or Azure OpenAI.

Usage: deno run --allow-net --allow-env --allow-read=.env,.ccproxy --allow-write=.ccproxy cli.ts
         [check [--ping]] [options]

Commands:
  (none)            serve
  check             validate the configuration and print the model mapping; with --ping, send
                    one tiny request to every configured model (big, middle, small, per
                    provider) and report success or the error
  code [args…]      run Claude Code through ccproxy (the one running on HOST:PORT, else one
                    started for the session); args go to claude unchanged; CLAUDE_PATH overrides
                    which claude runs
  usage [--from D] [--to D] [--group-by model|key|session|provider|day] [--session ID] [--json]
                    the usage ledger's totals as a table (default: today)
  statusline        Claude Code's status line: reads its JSON on stdin, prints backend model,
                    context, tokens and cost from the ledger (ccproxy code sets it up)
  env               print the shell lines that point Claude Code at this proxy and make it
                    compact at the backend's context window: eval "$(ccproxy env)"

Options:
  --port <n>        listen port (env PORT, default 8082)
  --host <addr>     listen address (env HOST, default 127.0.0.1)
  --env-file <path> file of KEY=value lines to load (default .env; the environment wins)
  --log-format <f>  text | json: one JSON object per log line (env LOG_FORMAT, default text)
  --help            show this help
  --version         print the version
  --ping            with check: ping every configured model
  --route-background, --route-think, --route-long-context, --route-image, --route-web-search,
  --route-subagent <provider/model>, --long-context-threshold <tokens>, --router-script <path>
                    the same as the environment variables below

Environment (see .env.example; defaults in brackets):
  PREFERRED_PROVIDER     openai | google | azure | anthropic [openai]
  FALLBACK_PROVIDERS     comma list tried after the preferred one []
  BIG_MODEL              opus and unknown claude-* names [gpt-4.1 | gemini-2.5-pro]
  MIDDLE_MODEL           sonnet names [BIG_MODEL]
  SMALL_MODEL            haiku names [gpt-4.1-mini | gemini-2.5-flash]
  OPENAI_API_KEY         OpenAI key (optional when OPENAI_BASE_URL is a local server)
  OPENAI_BASE_URL        [https://api.openai.com/v1]
  OPENAI_API_MODE        auto | chat | responses [auto]
  GEMINI_API_KEY         Gemini key
  GEMINI_BASE_URL        [https://generativelanguage.googleapis.com]
  AZURE_OPENAI_API_KEY   Azure key
  AZURE_OPENAI_ENDPOINT  https://<resource>.openai.azure.com
  AZURE_OPENAI_API_VERSION  api-version or v1 [2024-10-21]
  AZURE_OPENAI_RESPONSES_API_VERSION  [2025-04-01-preview]
  ANTHROPIC_API_KEY      key for the anthropic passthrough
  ANTHROPIC_UPSTREAM_URL [https://api.anthropic.com]
  <P>_BIG_MODEL, <P>_MIDDLE_MODEL, <P>_SMALL_MODEL  per provider (P = OPENAI, GEMINI, AZURE, ANTHROPIC)
  MAX_RETRIES            retries per provider before falling back [2]
  MAX_RETRY_DELAY_MS     cap on one retry wait, retry-after included [10000]
  PROXY_API_KEY          key(s) clients must send (x-api-key or Bearer): key1,key2 or alice=key1,bob=key2
  BUDGET_USD_PER_DAY     spending limit of each key per UTC day []
  BUDGET_USD_PER_MONTH   spending limit of each key per UTC month []
  ALLOW_UNAUTHENTICATED  serve a non-loopback HOST without PROXY_API_KEY [false]
  MAX_BODY_BYTES         largest request body [33554432]
  CORS_ORIGINS           origins whose web pages may call the API, comma list []
  ALLOWED_HOSTS          Host names accepted besides the loopback ones []
  MAX_CONNECTIONS        client connections held at once [1000]
  CLIENT_TIMEOUT_MS      time to send a request head and its body, at most 30000 [30000]
  SHUTDOWN_GRACE_MS      time open answers get at SIGINT/SIGTERM [10000]
  UPSTREAM_CONNECT_TIMEOUT_MS  until the upstream answers [60000]
  UPSTREAM_IDLE_TIMEOUT_MS     silence between upstream chunks [300000]
  UPSTREAM_TOTAL_TIMEOUT_MS    one upstream request in all [3600000]
  USAGE_DB               ledger: SQLite path, KV Connect URL, or off [.ccproxy/usage]
  USAGE_RETENTION_DAYS   days the ledger keeps records and totals [30]
  ROUTE_BACKGROUND, ROUTE_THINK, ROUTE_LONG_CONTEXT, ROUTE_IMAGE, ROUTE_WEB_SEARCH,
  ROUTE_SUBAGENT         task routes, each provider/model[,fallback…] (or --route-think etc.)
  LONG_CONTEXT_THRESHOLD tokens above which ROUTE_LONG_CONTEXT serves [only when too long]
  MODEL_LIMITS           model=context[/output],… for models no catalog knows
  AZURE_DEPLOYMENT_MODELS  deployment=model,… the model each Azure deployment runs
  ROUTER_SCRIPT          a module exporting route(request, context) [none]
  ROUTER_TIMEOUT_MS      longest a router script may take per request [1000]
  HOST [127.0.0.1]  PORT [8082]  DEBUG [false]  SIGNATURE_SECRET [derived from the keys]
  LOG_FORMAT             text | json [text]
`;

/** How long after listening the model catalog loads when no request asked for it first. */
const CATALOG_WARM_UP_MS = 100;

/** Command-line flags that set a task route (`--route-think openai/o3`). */
const ROUTE_FLAGS: Record<string, string> = {
  "route-background": "ROUTE_BACKGROUND",
  "route-think": "ROUTE_THINK",
  "route-long-context": "ROUTE_LONG_CONTEXT",
  "route-image": "ROUTE_IMAGE",
  "route-web-search": "ROUTE_WEB_SEARCH",
  "route-subagent": "ROUTE_SUBAGENT",
  "long-context-threshold": "LONG_CONTEXT_THRESHOLD",
  "router-script": "ROUTER_SCRIPT",
};

export { readEnvFile };

/**
 * The environment with `.env` underneath it: a real variable always wins over the file. A file
 * named with `--env-file` (`required`) that cannot be read throws a {@link StartupError}.
 */
export function environment(envFile = ".env", required = false): Record<string, string> {
  return { ...readEnvFile(envFile, required), ...Deno.env.toObject() };
}

/** The banner's first line. */
function listeningLine(address: string): string {
  return `ccproxy ${VERSION} listening on http://${address}`;
}

/** The startup banner (it needs the model catalog: {@link loadCatalog}). */
export function banner(config: Config, address: string): string {
  const shown = address.replace("0.0.0.0", "127.0.0.1").replace("[::]", "[::1]");
  return [
    listeningLine(address),
    `  provider: ${config.preferredProvider}`,
    `  models:   haiku → ${config.smallModel}, sonnet → ${
      config.middleModel ?? config.bigModel
    }, opus → ${config.bigModel}`,
    // A command that works as printed: Claude Code with a fresh HOME will not start without a
    // key. ANTHROPIC_AUTH_TOKEN like `ccproxy env`: with ANTHROPIC_API_KEY an interactive Claude
    // Code stops at "Detected a custom API key", defaulting to "No". The proxy's own key is not
    // printed (banners end up in logs).
    `  use it:   ANTHROPIC_BASE_URL=http://${shown} ANTHROPIC_AUTH_TOKEN=${
      config.proxyApiKeys.length ? "<your PROXY_API_KEY>" : "ccproxy"
    }${windowAssignments(config)} claude`,
    ...windowLines(config),
  ].join("\n");
}

/** ` NAME=value…`: what makes Claude Code compact at the backend's window (see client_env.ts). */
function windowAssignments(config: Config): string {
  const known = claudeCodeWindow(config);
  return known
    ? Object.entries(known.env).map(([name, value]) => ` ${name}=${value}`).join("")
    : "";
}

/** The banner's window line: what to tell Claude Code so it compacts in time. */
function windowLines(config: Config): string[] {
  const known = claudeCodeWindow(config);
  if (!known) return [];
  const env = Object.entries(known.env).map(([name, value]) => `${name}=${value}`).join(" ");
  return [
    `  window:   ${known.model} holds ${known.window} tokens: ${env} makes Claude Code compact in time`,
  ];
}

/** `ccproxy env`: the lines that point Claude Code at this proxy (for `eval "$(…)"`). */
export function envCommand(config: Config): string {
  const host = config.host === "0.0.0.0" ? "127.0.0.1" : config.host;
  const known = claudeCodeWindow(config);
  return [
    `# Claude Code through ccproxy${
      known ? ` (compacting at ${known.model}'s ${known.window}-token window)` : ""
    }`,
    ...exportLines({
      ANTHROPIC_BASE_URL: `http://${host}:${config.port}`,
      // A bearer token: an API key in the environment makes interactive Claude Code ask first.
      ANTHROPIC_AUTH_TOKEN: config.proxyApiKeys[0] ?? "ccproxy",
      ...known?.env,
    }),
  ].join("\n");
}

/** `host:port` as a URL authority: an IPv6 address goes in brackets (`[::1]:8082`). */
export function hostPort(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}

/** Runs the command line; returns the process exit code. */
export async function main(args: string[]): Promise<number> {
  // Everything after `code` belongs to Claude Code, so it is not parsed here.
  if (args[0] === "code") {
    await loadCatalog();
    return await runCode(args.slice(1), { env: environment() });
  }
  if (args[0] === "usage") return await runUsage(args.slice(1), environment());
  if (args[0] === "statusline") {
    console.log(await runStatusLine());
    return 0;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        port: { type: "string" },
        host: { type: "string" },
        "env-file": { type: "string" },
        "log-format": { type: "string" },
        help: { type: "boolean" },
        version: { type: "boolean" },
        ping: { type: "boolean" },
        ...Object.fromEntries(Object.keys(ROUTE_FLAGS).map((flag) => [flag, { type: "string" }])),
      },
      allowPositionals: true,
    });
  } catch (error) {
    console.error(`ccproxy: ${error instanceof Error ? error.message : error}\n\n${HELP}`);
    return 2;
  }
  const flags = parsed.values;
  const command = parsed.positionals[0];
  if (command !== undefined && command !== "check" && command !== "env") {
    console.error(`ccproxy: unknown command: ${command}\n\n${HELP}`);
    return 2;
  }
  if (flags.help) {
    console.log(HELP);
    return 0;
  }
  if (flags.version) {
    console.log(VERSION);
    return 0;
  }
  let env: Record<string, string>;
  try {
    env = environment(flags["env-file"] ?? ".env", flags["env-file"] !== undefined);
  } catch (error) {
    if (!(error instanceof StartupError)) throw error;
    console.error(`ccproxy: cannot start:\n  ${error.message}`);
    return 2;
  }
  if (flags.port !== undefined) env.PORT = flags.port;
  if (flags.host !== undefined) env.HOST = flags.host;
  if (flags["log-format"] !== undefined) env.LOG_FORMAT = flags["log-format"];
  for (const [flag, name] of Object.entries(ROUTE_FLAGS)) {
    const value = (flags as Record<string, unknown>)[flag];
    if (typeof value === "string") env[name] = value;
  }
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`ccproxy: cannot start:\n${error.problems.map((p) => `  ${p}`).join("\n")}`);
    return 2;
  }
  for (const warning of [...placeholderWarnings(config), ...modelWarnings(config)]) {
    console.error(`ccproxy: ${warning}`);
  }
  if (command === "check" || command === "env") await loadCatalog();
  if (command === "check") return await check(config, flags.ping === true);
  if (command === "env") {
    console.log(envCommand(config));
    return 0;
  }
  const exposed = exposureProblem(config);
  if (exposed) {
    console.error(`ccproxy: cannot start:\n  ${exposed}`);
    return 2;
  }
  let routerScript: RouterScript | undefined;
  if (config.routerScript) {
    try {
      routerScript = await loadRouterScript(config.routerScript);
    } catch (error) {
      console.error(
        `ccproxy: cannot start:\n  ROUTER_SCRIPT: ${
          error instanceof Error ? error.message : error
        }`,
      );
      return 2;
    }
  }
  const usage = createUsage(config, { log: createLogger() });
  const shutdown = new AbortController();
  const handler = createHandler(config, { usage, routerScript, shutdown: shutdown.signal });
  const stopSignal = nextStopSignal();
  let gate: Gate;
  try {
    gate = serveGated(handler, {
      hostname: config.host,
      port: config.port,
      maxConnections: config.maxConnections,
      headerTimeoutMs: config.clientTimeoutMs,
      onListen: ({ hostname, port }) => {
        // The first line at once (the server already answers); the rest names model windows,
        // which come from the catalog: it loads on the first request that routes, else once
        // the start is over, so that it never delays the first answer (cold start).
        const address = hostPort(hostname, port);
        console.error(listeningLine(address));
        catalogReady().then(() =>
          console.error(banner(config, address).split("\n").slice(1).join("\n"))
        );
        setTimeout(loadCatalog, CATALOG_WARM_UP_MS);
      },
      log: (line) => console.error(line),
    });
  } catch (error) {
    const problem = listenProblem(error, config.host, config.port);
    if (!problem) throw error;
    console.error(`ccproxy: ${problem}`);
    await usage.close();
    return 2;
  }
  const signal = await stopSignal;
  const line = await stopGracefully(gate, {
    graceMs: config.shutdownGraceMs,
    cutOff: () => shutdown.abort(),
    beforeExit: () => usage.close(),
  });
  console.error(`ccproxy: stopped on ${signal}: ${line}`);
  return 0;
}

/** Resolves with the name of the first SIGINT or SIGTERM. */
function nextStopSignal(): Promise<string> {
  return new Promise((resolve) => {
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      try {
        Deno.addSignalListener(signal, () => resolve(signal));
      } catch {
        // Windows has no SIGTERM listener: the process ends the default way there.
      }
    }
  });
}

/**
 * A clean stop: accept no more connections, let the answers in flight finish for `graceMs`,
 * then cut off the rest (each ends with an `event: error` and its log line), then close.
 * Returns what happened, for the one closing line.
 */
export async function stopGracefully(
  gate: Gate,
  options: { graceMs: number; cutOff: () => void; beforeExit: () => Promise<void> },
): Promise<string> {
  await gate.stopAccepting();
  const open = gate.inFlight;
  const within = (ms: number) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const elapsed = new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), ms));
    return Promise.race([gate.idle().then(() => true), elapsed]).finally(() => clearTimeout(timer));
  };
  let cut = 0;
  if (!await within(options.graceMs)) {
    cut = gate.inFlight;
    options.cutOff();
    // The cut answers write their error event and log line at once; a moment for them to go out.
    await within(1_000);
  }
  await options.beforeExit();
  await gate.close();
  return `${open} answer(s) open, ${
    open - cut
  } finished, ${cut} cut off after ${options.graceMs} ms`;
}

/** `ccproxy check [--ping]`: prints the resolved configuration; exit 1 if a ping failed. */
async function check(config: Config, ping: boolean): Promise<number> {
  console.log(`ccproxy ${VERSION}: configuration is valid`);
  for (const line of describeConfig(config)) console.log(`  ${line}`);
  const exposed = exposureProblem(config);
  if (exposed) console.log(`  warning: ${exposed}`);
  if (!ping) return 0;
  let failed = false;
  for (const result of await pingProviders(config)) {
    failed ||= !result.ok;
    console.log(
      `  ping ${result.provider}/${result.model} (${result.sizes}): ${
        result.ok ? "ok" : "FAILED"
      } (${result.detail})`,
    );
  }
  return failed ? 1 : 0;
}

let deployed: Handler | undefined;

/**
 * The handler for `deno serve` and Deno Deploy, configured from the environment. On Deploy the
 * exposure rule applies too: without `PROXY_API_KEY` (or `ALLOW_UNAUTHENTICATED=true`) every
 * request gets a 500 that says what to set, and nothing goes upstream. Under `deno serve`
 * without them, only loopback peers are served (others get a 403).
 */
function serveHandler(): Handler {
  let config: Config;
  try {
    config = loadConfig(environment());
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return refuse(`ccproxy is not configured: ${error.problems.join("; ")}`);
  }
  const deployed = Boolean(Deno.env.get("DENO_DEPLOYMENT_ID"));
  const problem = exposureProblem(config, deployed);
  if (problem) return refuse(`ccproxy ${problem}`);
  // The address `deno serve` or Deploy listens on is not in the configuration: no Host rule.
  const handler = createHandler(config, {
    usage: createUsage(config, { deployed, log: createLogger() }),
    checkHost: false,
  });
  if (deployed || config.proxyApiKeys.length || config.allowUnauthenticated) return handler;
  // `deno serve` listens on 0.0.0.0 unless given `--host`, whatever HOST says: without a key,
  // only this machine may call.
  return (request, info) =>
    fromLoopback(info) ? handler(request, info) : Promise.resolve(
      new Response(
        JSON.stringify({
          type: "error",
          error: {
            type: "permission_error",
            message: "ccproxy serves only this machine without PROXY_API_KEY (deno serve listens " +
              "on every interface unless given --host 127.0.0.1). Set PROXY_API_KEY=<a long " +
              "random key> (clients send it as ANTHROPIC_API_KEY), or ALLOW_UNAUTHENTICATED=true " +
              "if another layer already authenticates.",
          },
        }),
        { status: 403, headers: { "content-type": "application/json" } },
      ),
    );
}

function refuse(message: string): Handler {
  return () =>
    Promise.resolve(
      new Response(
        JSON.stringify({ type: "error", error: { type: "api_error", message } }),
        { status: 500, headers: { "content-type": "application/json" } },
      ),
    );
}

/** The `deno serve` / Deno Deploy entry: configured from the environment on first use. */
const entry: Deno.ServeDefaultExport = {
  fetch(request: Request, info: Deno.ServeHandlerInfo): Promise<Response> {
    deployed ??= serveHandler();
    return deployed(request, info);
  },
};
export default entry;

if (import.meta.main) {
  // `deno serve` and Deno Deploy serve the default export by calling `Deno.serve` right after
  // this module has been evaluated, before any timer fires. Watch for that call; only when it
  // does not come is this a `deno run`, and the command line starts its own server.
  const serve = Deno.serve;
  let servedByRuntime = false;
  Deno.serve = ((...args: Parameters<typeof Deno.serve>) => {
    servedByRuntime = true;
    Deno.serve = serve;
    return serve(...args);
  }) as typeof Deno.serve;
  setTimeout(async () => {
    Deno.serve = serve;
    if (!servedByRuntime) Deno.exit(await main(Deno.args));
  }, 0);
}
