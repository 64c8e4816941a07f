/**
 * Model routing: the model name a client asks for → the ordered list of backends and models
 * that may serve it (the preferred provider first, then the fallbacks).
 *
 * @module
 */
import type { Config, ModelSet, Provider } from "../config.ts";

/** Where one request may go. */
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
  if (explicit) return [explicit];
  const lower = name.toLowerCase();
  if (!lower.startsWith("claude")) return [{ provider: config.preferredProvider, model: name }];
  return [config.preferredProvider, ...config.fallbackProviders].map((provider) => {
    const model = sized(config.models[provider], lower) ?? name;
    // A configured model may carry a prefix of its own (`BIG_MODEL=gemini/gemini-2.5-pro`).
    return pinned(model) ?? { provider, model };
  });
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
