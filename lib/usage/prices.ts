/**
 * Prices from the maintained catalog `npm:@pydantic/genai-prices` (OpenAI, Azure, Google and
 * Anthropic models, cache and web-search prices). Only its bundled data is used: the catalog's
 * remote update (`updatePrices`) is never called, so pricing never touches the network.
 *
 * @module
 */
import type { TokenUsage } from "./record.ts";

type Catalog = typeof import("@pydantic/genai-prices");

let catalog: Promise<Catalog> | undefined;

/** Loads the catalog (about 800 kB of data) on first use instead of at start-up. */
export function loadPrices(): Promise<Catalog> {
  return catalog ??= import("@pydantic/genai-prices");
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
  /** When the request ran (the catalog has dated prices). */
  at?: Date;
}

/**
 * The cost of one request in nano-dollars, or null when the catalog does not know the model:
 * an unknown price is not a zero price.
 */
export async function priceNanos(query: PriceQuery): Promise<number | null> {
  if (query.provider === "local") return 0;
  const providerId = CATALOG_PROVIDER[query.provider];
  if (!providerId) return null;
  const model = query.provider === "azure"
    ? query.azureModels?.[query.model] ?? query.model
    : query.model;
  const { calcPrice } = await loadPrices();
  const u = query.usage;
  const cacheRead = u.cache_read_input_tokens;
  const cacheWrite = u.cache_creation_input_tokens;
  // The catalog's input_tokens is the whole prompt, cache reads and writes included.
  const result = calcPrice(
    {
      input_tokens: u.input_tokens + cacheRead + cacheWrite,
      output_tokens: u.output_tokens,
      cache_read_tokens: cacheRead || undefined,
      cache_write_tokens: cacheWrite || undefined,
      web_searches: u.web_search_requests || undefined,
    },
    model,
    { providerId, timestamp: query.at },
  );
  return result ? Math.round(result.total_price * NANOS_PER_USD) : null;
}
