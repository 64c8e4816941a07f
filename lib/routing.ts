/**
 * Model routing: the model name a client asks for → the backend and model that serve it.
 *
 * @module
 */
import type { Config, Provider } from "./config.ts";

/** Where one request goes. */
export interface Target {
  /** The backend. */
  provider: Provider;
  /** The backend's model id (an Azure deployment name for `azure`). */
  model: string;
}

const PREFIXES: Record<string, Provider> = {
  "openai/": "openai",
  "gemini/": "google",
  "google/": "google",
  "azure/": "azure",
};

/**
 * Routes a requested model name. `claude*` names containing `haiku` go to the small model,
 * `sonnet` to the middle (else big) model, every other `claude*` name to the big model; an
 * `openai/`, `gemini/` or `azure/` prefix pins a provider; any other name goes to the
 * preferred provider unchanged.
 */
export function route(requested: string, config: Config): Target {
  const name = requested.trim();
  for (const [prefix, provider] of Object.entries(PREFIXES)) {
    if (name.toLowerCase().startsWith(prefix)) {
      return { provider, model: name.slice(prefix.length) };
    }
  }
  const lower = name.toLowerCase();
  if (lower.startsWith("claude")) {
    const model = lower.includes("haiku")
      ? config.smallModel
      : lower.includes("sonnet")
      ? config.middleModel ?? config.bigModel
      : config.bigModel;
    return withPrefix(model, config.preferredProvider);
  }
  return { provider: config.preferredProvider, model: name };
}

/** A configured model may itself carry a provider prefix (`BIG_MODEL=gemini/gemini-2.5-pro`). */
function withPrefix(model: string, fallback: Provider): Target {
  for (const [prefix, provider] of Object.entries(PREFIXES)) {
    if (model.toLowerCase().startsWith(prefix)) {
      return { provider, model: model.slice(prefix.length) };
    }
  }
  return { provider: fallback, model };
}

/** The Claude names `/v1/models` advertises, with the model each maps to. */
export const ADVERTISED_MODELS: ReadonlyArray<{ id: string; display_name: string }> = [
  { id: "claude-opus-5-5", display_name: "Claude Opus 5.5" },
  { id: "claude-sonnet-5-5", display_name: "Claude Sonnet 5.5" },
  { id: "claude-haiku-5-5", display_name: "Claude Haiku 5.5" },
  { id: "claude-opus-4-1", display_name: "Claude Opus 4.1" },
  { id: "claude-sonnet-4-5", display_name: "Claude Sonnet 4.5" },
  { id: "claude-haiku-4-5", display_name: "Claude Haiku 4.5" },
];
