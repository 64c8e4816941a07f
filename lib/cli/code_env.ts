/**
 * The environment `ccproxy code` gives Claude Code so it behaves right on the configured backend:
 * where the proxy is, the key to send, and the main model's context window and output cap.
 *
 * The variables were found in Claude Code 2.1.332's own behaviour, not guessed:
 * - `CLAUDE_CODE_MAX_OUTPUT_TOKENS` becomes the `max_tokens` of its requests (128000 without it);
 * - `CLAUDE_CODE_AUTO_COMPACT_WINDOW` lowers the window it compacts at (it takes the smaller of
 *   this and the Claude model's own window; 100k is its minimum), which `/context` then shows;
 * - `CLAUDE_CODE_MAX_CONTEXT_TOKENS` is the window of a model name it does not know (such as
 *   `ANTHROPIC_MODEL=gpt-4.1`); Claude names ignore it.
 * - `ANTHROPIC_AUTH_TOKEN` (sent as `Authorization: Bearer`) rather than `ANTHROPIC_API_KEY`:
 *   an API key in the environment makes the interactive CLI stop and ask whether to use it.
 *
 * @module
 */
import type { Config, Provider } from "../config.ts";
import { geminiModelInfo, openaiModelInfo } from "../routing/models.ts";
import { limitsOf, route } from "../routing/route.ts";
import { compactEnv } from "../routing/client_env.ts";

/** Context window and output cap of one backend model. */
export interface ModelLimits {
  /** Context window in tokens. */
  context: number;
  /** Largest `max_tokens`. */
  maxOutput: number;
}

/** Gemini 2.5 and 3 models take about a million tokens; older ones are assumed smaller. */
const GEMINI_WINDOW = 1_048_576;

/** The limits of a backend model as ccproxy knows them. */
export function modelLimits(provider: Provider | string, model: string): ModelLimits {
  if (provider === "google") {
    const info = geminiModelInfo(model);
    return {
      context: /gemini-(2\.5|3)/.test(model) ? GEMINI_WINDOW : 128_000,
      maxOutput: info.maxOutput,
    };
  }
  if (provider === "anthropic") return { context: 200_000, maxOutput: 64_000 };
  const info = openaiModelInfo(model);
  return { context: info.context, maxOutput: info.maxOutput };
}

/** The name Claude Code asks for by default: its main loop runs on an opus-class model. */
const MAIN_MODEL = "claude-opus-5-5";

/**
 * The window and output-cap variables for the model that serves Claude Code's main loop
 * (`ANTHROPIC_MODEL` when the user names one, else the opus-class default).
 *
 * @example
 * ```ts
 * import { loadConfig } from "../config.ts";
 * import { claudeCodeLimitsEnv } from "./code_env.ts";
 * const env = claudeCodeLimitsEnv(loadConfig({ OPENAI_API_KEY: "sk", BIG_MODEL: "gpt-4o" }));
 * console.log(env.CLAUDE_CODE_MAX_OUTPUT_TOKENS); // "16384"
 * ```
 */
export function claudeCodeLimitsEnv(
  config: Config,
  options: { model?: string } = {},
): Record<string, string> {
  const target = route(options.model ?? MAIN_MODEL, config)[0];
  if (!target) return {};
  // Routing's limits follow Azure deployments (AZURE_DEPLOYMENT_MODELS) and MODEL_LIMITS.
  const limits = limitsOf(target, config) ?? modelLimits(target.provider, target.model);
  return {
    // Windows under Claude Code's 100k minimum need its percentage override too.
    ...compactEnv(limits.context),
    CLAUDE_CODE_MAX_CONTEXT_TOKENS: String(limits.context),
    CLAUDE_CODE_MAX_OUTPUT_TOKENS: String(limits.maxOutput),
  };
}

/** The Claude names whose backends `ccproxy statusline` may see serve a turn. */
const FAMILIES = ["claude-opus-5-5", "claude-sonnet-5-5", "claude-haiku-5-5"];

/**
 * The context window of every backend model the configuration routes Claude names to (fallbacks
 * included), for the status line: `{"gpt-4.1": 1047576, …}`.
 */
export function modelWindows(config: Config): Record<string, number> {
  const windows: Record<string, number> = {};
  for (const family of FAMILIES) {
    for (const target of route(family, config)) {
      windows[target.model] ??= (limitsOf(target, config) ??
        modelLimits(target.provider, target.model)).context;
    }
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
