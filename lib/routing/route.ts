/**
 * Model routing: the model name a client asks for → the ordered list of backends and models
 * that may serve it (the preferred provider first, then the fallbacks).
 *
 * @module
 */
import {
  type Config,
  KEY_VARIABLE,
  type ModelSet,
  OPENAI_DEFAULT_BASE_URL,
  type Provider,
  providerKey,
} from "../config.ts";
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

/**
 * Why a name a client pins (`/model gemini/…`, a `<ccproxy-model>` marker) cannot be served, or
 * undefined when it can (or pins nothing): no model after the prefix, nothing before a leading
 * `/`, or a provider this configuration has no key (or Azure endpoint) for. Checked before any
 * upstream call, so the client gets a 400 naming what to set, not retries of a keyless request
 * to the provider's public URL.
 */
export function pinProblem(name: string, config: Config): string | undefined {
  const trimmed = name.trim();
  if (trimmed.startsWith("/")) {
    return `model ${trimmed}: no provider before "/" (write provider/model, e.g. openai/gpt-4.1)`;
  }
  const target = pinned(trimmed);
  if (!target) return undefined;
  if (!target.model.trim()) return `model ${trimmed}: no model name after the provider prefix`;
  const missing: string[] = [];
  // A local OpenAI-compatible server (a custom OPENAI_BASE_URL) needs no key, as at start.
  const keyOptional = target.provider === "openai" &&
    config.openaiBaseUrl !== OPENAI_DEFAULT_BASE_URL;
  if (!keyOptional && !providerKey(config, target.provider)) {
    missing.push(KEY_VARIABLE[target.provider]);
  }
  if (target.provider === "azure" && !config.azureEndpoint) missing.push("AZURE_OPENAI_ENDPOINT");
  if (!missing.length) return undefined;
  return `model ${trimmed}: provider ${target.provider} is not configured (set ${
    missing.join(" and ")
  })`;
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
