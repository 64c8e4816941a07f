/**
 * The environment `ccproxy code` gives Claude Code so it behaves right on the configured backend:
 * where the proxy is, the key to send, and the main model's context window and output cap.
 *
 * The variables were found in Claude Code 2.1.332's own behaviour, not guessed:
 * - `CLAUDE_CODE_MAX_OUTPUT_TOKENS` becomes the `max_tokens` of its requests (128000 without it);
 * - `CLAUDE_CODE_AUTO_COMPACT_WINDOW` lowers the window it compacts at (it takes the smaller of
 *   this and the Claude model's own window; 100k is its minimum), which `/context` then shows
 *   (`lib/routing/client_env.ts` has the details, and the percentage for smaller windows);
 * - `CLAUDE_CODE_MAX_CONTEXT_TOKENS` is the window of a model name it does not know (such as
 *   `ANTHROPIC_MODEL=gpt-4.1`); Claude names ignore it.
 * - `ANTHROPIC_AUTH_TOKEN` (sent as `Authorization: Bearer`) rather than `ANTHROPIC_API_KEY`:
 *   an API key in the environment makes the interactive CLI stop and ask whether to use it.
 *
 * @module
 */
import type { Config } from "../config.ts";
import { claudeCodeWindow, compactEnv } from "../routing/client_env.ts";
import { limitsOf, route, type Target, targetsOf } from "../routing/route.ts";

/** The name Claude Code asks for by default: its main loop runs on an opus-class model. */
const MAIN_MODEL = "claude-opus-5-5";

/**
 * The window and output-cap variables for Claude Code on `config`'s models: the compact window
 * routing computes for them all (`claudeCodeWindow`, the same as `ccproxy env` prints), and the
 * output cap of the model serving the main loop. When the user names a model (`ANTHROPIC_MODEL`),
 * that model's own window and cap. Empty for the Anthropic passthrough, whose defaults are right.
 *
 * @example
 * ```ts
 * import { loadConfig } from "../config.ts";
 * import { claudeCodeLimitsEnv } from "./code_env.ts";
 * import { loadCatalog } from "../routing/catalog.ts";
 * await loadCatalog(); // lookups need the model catalog loaded
 * const env = claudeCodeLimitsEnv(
 *   loadConfig({ OPENAI_API_KEY: "sk-test", BIG_MODEL: "gpt-4o", SMALL_MODEL: "gpt-4o-mini" }),
 * );
 * console.log(env.CLAUDE_CODE_MAX_OUTPUT_TOKENS); // "16384"
 * ```
 */
export function claudeCodeLimitsEnv(
  config: Config,
  options: { model?: string } = {},
): Record<string, string> {
  const main = route(options.model ?? MAIN_MODEL, config)[0];
  const limits = main ? limitsOf(main, config) : undefined;
  if (!limits) return {};
  const window = options.model
    ? limits.context
    : claudeCodeWindow(config)?.window ?? limits.context;
  return {
    // Windows under Claude Code's 100k minimum need its percentage override too.
    ...compactEnv(window),
    // For a model name Claude Code does not know (`ANTHROPIC_MODEL=openai/o3`).
    CLAUDE_CODE_MAX_CONTEXT_TOKENS: String(window),
    CLAUDE_CODE_MAX_OUTPUT_TOKENS: String(limits.maxOutput),
  };
}

/** The Claude names whose backends `ccproxy statusline` may see serve a turn. */
const FAMILIES = ["claude-opus-5-5", "claude-sonnet-5-5", "claude-haiku-5-5"];

/**
 * The context window of every backend model the configuration may send a turn to (each Claude
 * family with its fallbacks, and every task route), for the status line: `{"gpt-4.1": 1047576}`.
 */
export function modelWindows(config: Config): Record<string, number> {
  const targets: Target[] = [
    ...FAMILIES.flatMap((family) => route(family, config)),
    ...Object.values(config.routes).flatMap((models) => targetsOf(models ?? [], config)),
  ];
  const windows: Record<string, number> = {};
  for (const target of targets) {
    const context = limitsOf(target, config)?.context;
    if (context !== undefined) windows[target.model] ??= context;
  }
  return windows;
}

/**
 * The first key of `PROXY_API_KEY` (a comma list of `key` or `name=key` entries), or undefined.
 */
export function firstProxyKey(value: string | undefined): string | undefined {
  const first = (value ?? "").split(",").map((k) => k.trim()).find(Boolean);
  if (!first) return undefined;
  // A bare key may end in base64 padding (`abc==`), which is no name.
  const named = /^[\w.@-]+=([^=].*)$/.exec(first);
  return named ? named[1].trim() : first;
}

/** Sent when the proxy wants no key: Claude Code needs some credential to start. */
export const PLACEHOLDER_KEY = "ccproxy";

/**
 * The whole environment for Claude Code: `base` (the user's environment) with the proxy's URL and
 * key, and the limits, which a variable the user set already overrides.
 */
export function claudeCodeEnv(
  base: Record<string, string>,
  options: {
    url: string;
    key?: string;
    limits?: Record<string, string>;
    windows?: Record<string, number>;
  },
): Record<string, string> {
  const env: Record<string, string> = { ...options.limits, ...base };
  if (options.windows) env.CCPROXY_MODEL_WINDOWS = JSON.stringify(options.windows);
  // The proxy reads its own ANTHROPIC_API_KEY (passthrough); Claude Code must not send it here.
  delete env.ANTHROPIC_API_KEY;
  env.ANTHROPIC_BASE_URL = options.url;
  env.ANTHROPIC_AUTH_TOKEN = options.key ?? PLACEHOLDER_KEY;
  return env;
}
