/**
 * Prices from the maintained catalog `npm:@pydantic/genai-prices` (OpenAI, Azure, Google and
 * Anthropic models, cache and web-search prices). Only its bundled data is used: the catalog's
 * remote update (`updatePrices`) is never called, so pricing never touches the network.
 *
 * @module
 */
import type { TokenUsage } from "./record.ts";

type Catalog = typeof import("@pydantic/genai-prices");
type Provider = import("@pydantic/genai-prices").Provider;
type ModelInfo = import("@pydantic/genai-prices").ModelInfo;

let catalog: Promise<Catalog> | undefined;
let loaded: Catalog | undefined;

/** Loads the catalog (about 800 kB of data) on first use instead of at start-up. */
export function loadPrices(): Promise<Catalog> {
  return catalog ??= import("@pydantic/genai-prices").then((module) => loaded = module);
}

/** The catalog's provider id of each ccproxy provider. */
const CATALOG_PROVIDER: Record<string, string> = {
  openai: "openai",
  azure: "azure",
  google: "google",
  anthropic: "anthropic",
};

/** Costs are kept in whole nano-dollars so sums stay exact (1 USD = 1e9). */
export const NANOS_PER_USD = 1e9;

/** What to price. */
export interface PriceQuery {
  /** The ccproxy provider (`local`: answered by the proxy, free). */
  provider: string;
  /** The backend model id; for `azure` a deployment name. */
  model: string;
  /** Tokens and searches used. */
  usage: TokenUsage;
  /** Azure deployment name → the model it runs (`AZURE_DEPLOYMENT_MODELS`). */
  azureModels?: Readonly<Record<string, string>>;
  /** When the request ran (a Date or ms since the epoch; the catalog has dated prices). */
  at?: Date | number;
  /** Configured prices (`MODEL_PRICES`), by lower-case `provider/model` or `model`; they win. */
  prices?: Readonly<Record<string, ModelPrice>>;
}

/** A configured price: USD per million input tokens (cache reads and writes too) and output. */
export interface ModelPrice {
  /** USD per million input tokens. */
  input: number;
  /** USD per million output tokens. */
  output: number;
}

/** The configured price of a query's model, if any. */
function configuredPrice(query: PriceQuery, model: string): ModelPrice | undefined {
  const prices = query.prices;
  if (!prices) return undefined;
  const name = model.toLowerCase();
  return prices[`${query.provider}/${name}`] ?? prices[name] ??
    (query.model !== model ? prices[query.model.toLowerCase()] : undefined);
}

/**
 * The cost of one request in nano-dollars, or null when the catalog does not know the model:
 * an unknown price is not a zero price.
 */
export async function priceNanos(query: PriceQuery): Promise<number | null> {
  await loadPrices();
  return priceNanosNow(query)!;
}

/**
 * {@link priceNanos} without waiting: undefined while the catalog is still loading. The first
 * price of a model matches it in the catalog (~60 µs); later ones reuse the match, and a model
 * with flat per-token prices is priced with them directly (a linear sum, the catalog's numbers).
 */
export function priceNanosNow(query: PriceQuery): number | null | undefined {
  // Answered or refused by the proxy itself: no provider was paid.
  if (query.provider === "local" || query.provider === "rejected") return 0;
  const model = query.provider === "azure"
    ? query.azureModels?.[query.model] ?? query.model
    : query.model;
  const u = query.usage;
  const own = configuredPrice(query, model);
  if (own) {
    // Cache reads and writes are priced as input: a configured price errs on the high side.
    const input = u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens;
    return Math.round((input * own.input + u.output_tokens * own.output) * 1000);
  }
  const providerId = CATALOG_PROVIDER[query.provider];
  if (!providerId) return null;
  if (!loaded) return undefined;
  const id = `${providerId}\0${model}`;
  let known = matched.get(id);
  if (known === null) return null;
  const flat = known?.flat;
  if (
    flat && (!u.cache_read_input_tokens || flat.cacheRead !== undefined) &&
    (!u.cache_creation_input_tokens || flat.cacheWrite !== undefined) &&
    (!u.web_search_requests || flat.search !== undefined)
  ) {
    // Per-million-token prices × tokens × 1000 = nano-dollars; per-thousand searches × 10⁶.
    return Math.round(
      (u.input_tokens * flat.input + u.output_tokens * flat.output +
            u.cache_read_input_tokens * (flat.cacheRead ?? 0) +
            u.cache_creation_input_tokens * (flat.cacheWrite ?? 0)) * 1000 +
        u.web_search_requests * (flat.search ?? 0) * 1e6,
    );
  }
  const cacheRead = u.cache_read_input_tokens;
  const cacheWrite = u.cache_creation_input_tokens;
  // The catalog's input_tokens is the whole prompt, cache reads and writes included.
  const result = loaded.calcPrice(
    {
      input_tokens: u.input_tokens + cacheRead + cacheWrite,
      output_tokens: u.output_tokens,
      cache_read_tokens: cacheRead || undefined,
      cache_write_tokens: cacheWrite || undefined,
      web_searches: u.web_search_requests || undefined,
    },
    model,
    {
      ...(known ? { provider: known.provider } : { providerId }),
      timestamp: query.at === undefined ? undefined : new Date(query.at),
    },
  );
  if (known === undefined && matched.size < 1000) {
    known = result
      ? { provider: { ...result.provider, models: [result.model] }, flat: flatPrices(result.model) }
      : null;
    matched.set(id, known);
  }
  return result ? Math.round(result.total_price * NANOS_PER_USD) : null;
}

/** Flat prices: USD per million tokens (per thousand searches). */
interface FlatPrices {
  input: number;
  output: number;
  cacheRead?: number;
  cacheWrite?: number;
  search?: number;
}

/** A model's prices when they are plain numbers, undated and untiered; else undefined. */
function flatPrices(model: ModelInfo): FlatPrices | undefined {
  const prices = model.prices;
  if (Array.isArray(prices)) return undefined;
  const number = (key: string) => {
    const value = prices[key];
    return typeof value === "number" ? value : undefined;
  };
  const input = number("input_mtok");
  const output = number("output_mtok");
  if (input === undefined || output === undefined) return undefined;
  // Any other priced unit (tiers, audio, long-context surcharges) goes through the catalog.
  const plain = ["input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok"];
  for (const [key, value] of Object.entries(prices)) {
    if (value !== undefined && typeof value !== "number") return undefined;
    if (!plain.includes(key) && !key.endsWith("_kcount") && key !== "cache_write_1h_mtok") {
      return undefined;
    }
  }
  return {
    input,
    output,
    cacheRead: number("cache_read_mtok"),
    cacheWrite: number("cache_write_mtok"),
    search: number("web_searches_kcount"),
  };
}

/** Each priced provider and model's catalog entry alone, and its flat prices (null: unknown). */
const matched = new Map<string, { provider: Provider; flat?: FlatPrices } | null>();
