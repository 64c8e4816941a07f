/**
 * The ledger's view of one finished request: what was asked, who served it, how it went, what it
 * used and what it cost. Built from the request's log facts when the request ends.
 *
 * @module
 */
import type { ApiName } from "../server/request_record.ts";

/** Token counts of one request, as Anthropic reports them (input excludes the cache). */
export interface TokenUsage {
  /** Uncached input tokens. */
  input_tokens: number;
  /** Output tokens (thinking included). */
  output_tokens: number;
  /** Input tokens read from a prompt cache. */
  cache_read_input_tokens: number;
  /** Input tokens written to a prompt cache. */
  cache_creation_input_tokens: number;
  /** Server-side web searches run for this request (priced per search). */
  web_search_requests: number;
}

/** One finished `/v1/messages` or `count_tokens` request. */
export interface UsageRecord {
  /** When it ended, in ms since the epoch. */
  time: number;
  /** The `req_…` id sent back in the `request-id` header. */
  requestId: string;
  /** Which endpoint. */
  endpoint: "messages" | "count_tokens";
  /** The client key's name, or `anonymous`. */
  key: string;
  /** Claude Code's `x-claude-code-session-id`, or "" when the client sent none. */
  session: string;
  /** The routing rule that chose the backend, when one did. */
  route?: string;
  /** The model the client asked for. */
  model: string;
  /**
   * The provider that served it (`openai`, `google`, `azure`, `anthropic`), `local` (answered by
   * the proxy itself) or `rejected` (refused before routing).
   */
  provider: string;
  /** The backend's model id (an Azure deployment name for `azure`). */
  backendModel: string;
  /** The API it was served with, when known (`local`: answered by the proxy itself). */
  api?: ApiName;
  /** Whether the client asked for a stream. */
  stream: boolean;
  /** The HTTP status the client got (499: the client went away). */
  status: number;
  /** The Anthropic error type, when it failed. */
  errorType?: string;
  /** Upstream attempts (retries and fallbacks included). */
  tries: number;
  /** Milliseconds from the request's arrival to its end. */
  latencyMs: number;
  /** Milliseconds until the first content token, for streams that produced one. */
  ttftMs?: number;
  /** Tokens used. */
  usage: TokenUsage;
  /** Cost in US dollars; null when the price catalog does not know the model. */
  costUsd: number | null;
}

/**
 * The provider of a request the proxy refused before routing it (a malformed body, a budget):
 * no provider served it, and it cost nothing.
 */
export const REJECTED = "rejected";

/** The status of a request the client cancelled (it went away before the answer ended). */
export const CANCELLED_STATUS = 499;

/**
 * Whether a record is a failure. A client's cancel is not: it says nothing of the provider, and
 * is counted apart ({@link cancelled}).
 */
export function failed(record: Pick<UsageRecord, "status" | "errorType">): boolean {
  if (cancelled(record)) return false;
  return record.status >= 400 || record.errorType !== undefined;
}

/** Whether the client cancelled the request. */
export function cancelled(record: Pick<UsageRecord, "status">): boolean {
  return record.status === CANCELLED_STATUS;
}

/** Usage with every count at zero. */
export function noUsage(): TokenUsage {
  return {
    input_tokens: 0,
    output_tokens: 0,
    cache_read_input_tokens: 0,
    cache_creation_input_tokens: 0,
    web_search_requests: 0,
  };
}
