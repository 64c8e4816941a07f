/**
 * Model routing: the model name a client asks for → the ordered list of backends and models
 * that may serve it (the preferred provider first, then the fallbacks).
 *
 * @module
 */
import type { Config, ModelSet, Provider } from "../config.ts";
import {
  geminiModelInfo,
  modelBehindDeployment,
  type ModelInfo,
  openaiModelInfo,
} from "./models.ts";

/** Where one request may go. */
export interface Target {
  /** The backend. */
  provider: Provider;
  /** The backend's model id (an Azure deployment name for `azure`). */
  model: string;
  /** OpenAI-family limits and reasoning facts resolved with the configuration (the model behind
   * an Azure deployment, `MODEL_LIMITS`); looked up from `model` when absent. */
  info?: ModelInfo;
}

/** A model's window and output cap as routing sees them. */
export interface Limits {
  /** Context window in tokens. */
  context: number;
  /** Output cap in tokens. */
  maxOutput: number;
  /** Accepts images (undefined: not known). */
  vision?: boolean;
  /** Where the numbers come from (`override`, `models.dev`, `genai-prices`, `table`, `default`). */
  source: string;
}

/**
 * The window and output cap of a target, or undefined for the Anthropic passthrough (Anthropic
 * checks its own window and answers with its own exact error).
 */
export function limitsOf(target: Target, config: Config): Limits | undefined {
  if (target.provider === "anthropic") return undefined;
  if (target.provider === "google") {
    const info = geminiModelInfo(target.model, override(config, target));
    return {
      context: info.context ?? 1_048_576,
      maxOutput: info.maxOutput,
      vision: true,
      source: (info as { source?: string }).source ?? "catalog",
    };
  }
  const info = target.info ?? resolveInfo(target, config);
  return {
    context: info.context,
    maxOutput: info.maxOutput,
    vision: info.vision,
    source: info.source ?? "table",
  };
}

function override(config: Config, target: Target) {
  const limits = config.modelLimits;
  const model = target.model.toLowerCase();
  return limits[`${target.provider}/${model}`] ?? limits[model] ??
    (target.provider === "google" ? limits[`gemini/${model}`] : undefined);
}

/** OpenAI-family facts of a target: Azure deployments take their model's, overrides win. */
function resolveInfo(target: Target, config: Config): ModelInfo {
  const azure = target.provider === "azure";
  const model = azure ? modelBehindDeployment(config, target.model) : target.model;
  const own = override(config, target) ??
    (model !== target.model ? override(config, { ...target, model }) : undefined);
  return openaiModelInfo(model, { family: azure ? "azure" : "openai", override: own });
}

/** Attaches the resolved limits to OpenAI-family targets. */
function resolved(target: Target, config: Config): Target {
  if (target.provider !== "openai" && target.provider !== "azure") return target;
  return { ...target, info: resolveInfo(target, config) };
}

/**
 * The targets of a configured model list (`ROUTE_THINK=openai/o3,gemini/gemini-2.5-pro`): a
 * known `provider/` prefix picks the provider, any other name goes to the preferred provider.
 */
export function targetsOf(models: string[], config: Config): Target[] {
  return models.map((name) =>
    resolved(pinned(name) ?? { provider: config.preferredProvider, model: name }, config)
  );
}

const PREFIXES: Record<string, Provider> = {
  "openai/": "openai",
  "gemini/": "google",
  "google/": "google",
  "azure/": "azure",
  "anthropic/": "anthropic",
};

function pinned(name: string): Target | undefined {
  const lower = name.toLowerCase();
  for (const [prefix, provider] of Object.entries(PREFIXES)) {
    if (lower.startsWith(prefix)) return { provider, model: name.slice(prefix.length) };
  }
  return undefined;
}

/** Which of a provider's models serves a Claude name (undefined: pass the name on). */
function sized(models: ModelSet, lower: string): string | undefined {
  if (lower.includes("haiku")) return models.small;
  if (lower.includes("sonnet")) return models.middle ?? models.big;
  return models.big;
}

/**
 * Routes a requested model name. `claude*` names containing `haiku` go to each provider's small
 * model, `sonnet` to its middle (else big) model, every other `claude*` name to its big model;
 * the preferred provider comes first, then `FALLBACK_PROVIDERS` in order. An `openai/`,
 * `gemini/`, `azure/` or `anthropic/` prefix pins one provider (no fallback); any other name
 * goes to the preferred provider unchanged.
 */
export function route(requested: string, config: Config): Target[] {
  const name = requested.trim();
  const explicit = pinned(name);
  if (explicit) return [resolved(explicit, config)];
  const lower = name.toLowerCase();
  if (!lower.startsWith("claude")) {
    return [resolved({ provider: config.preferredProvider, model: name }, config)];
  }
  return [config.preferredProvider, ...config.fallbackProviders].map((provider) => {
    const model = sized(config.models[provider], lower) ?? name;
    // A configured model may carry a prefix of its own (`BIG_MODEL=gemini/gemini-2.5-pro`).
    return resolved(pinned(model) ?? { provider, model }, config);
  });
}

/** True when `name` names a provider explicitly (`openai/gpt-5`, `gemini/…`). */
export function isPinned(name: string): boolean {
  return pinned(name.trim()) !== undefined;
}

/** The Claude names `/v1/models` advertises. */
export const ADVERTISED_MODELS: ReadonlyArray<{ id: string; display_name: string }> = [
  { id: "claude-opus-5-5", display_name: "Claude Opus 5.5" },
  { id: "claude-sonnet-5-5", display_name: "Claude Sonnet 5.5" },
  { id: "claude-haiku-5-5", display_name: "Claude Haiku 5.5" },
  { id: "claude-opus-4-1", display_name: "Claude Opus 4.1" },
  { id: "claude-sonnet-4-5", display_name: "Claude Sonnet 4.5" },
  { id: "claude-haiku-4-5", display_name: "Claude Haiku 4.5" },
];
