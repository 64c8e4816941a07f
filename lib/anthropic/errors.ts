/**
 * Anthropic-shaped errors: one `ProxyError` class for everything a client may see, and the
 * mapping from upstream failures (status, body) onto Anthropic's status and type.
 *
 * @module
 */
import type { ErrorType } from "./schema.ts";

/** The HTTP status Anthropic uses for each error type. */
export const STATUS_OF: Record<ErrorType, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
};

/** An error a client should see, as `{"type":"error","error":{type,message}}`. */
export class ProxyError extends Error {
  /** HTTP status. */
  readonly status: number;
  /** Anthropic error type. */
  readonly type: ErrorType;
  /** Extra response headers, e.g. `retry-after`. */
  readonly headers: Record<string, string>;
  /** The upstream's own HTTP status, when the error maps an upstream answer (for the logs). */
  readonly upstreamStatus?: number;
  /** The proxy's variable holding the key an upstream refused (`OPENAI_API_KEY`, …). */
  readonly keyVariable?: string;

  constructor(type: ErrorType, message: string, options?: {
    status?: number;
    headers?: Record<string, string>;
    upstreamStatus?: number;
    keyVariable?: string;
  }) {
    super(message);
    this.name = "ProxyError";
    this.type = type;
    this.status = options?.status ?? STATUS_OF[type];
    this.headers = options?.headers ?? {};
    this.upstreamStatus = options?.upstreamStatus;
    this.keyVariable = options?.keyVariable;
  }

  /** The JSON body, with the request id Anthropic also puts there. */
  toBody(requestId: string): Record<string, unknown> {
    return {
      type: "error",
      error: { type: this.type, message: this.message },
      request_id: requestId,
    };
  }
}

/** The Anthropic type for an HTTP status (used for unknown in-stream failures too). */
export function typeForStatus(status: number): ErrorType {
  switch (status) {
    case 401:
      return "authentication_error";
    case 402:
      return "billing_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 503:
    case 529:
      return "overloaded_error";
    case 408:
    case 504:
      return "timeout_error";
  }
  return status >= 500 ? "api_error" : "invalid_request_error";
}

/** What an upstream said about a failure, already parsed from its body. */
export interface UpstreamFailure {
  /** Upstream HTTP status (0 when no status is known, e.g. an in-stream error). */
  status: number;
  /** The upstream's own message. */
  message: string;
  /** The upstream's error code or status word (`context_length_exceeded`, `RESOURCE_EXHAUSTED`). */
  code?: string;
  /** Headers to pass on (`retry-after`, `retry-after-ms`). */
  headers?: Record<string, string>;
}

const CONTEXT_PATTERNS: RegExp[] = [
  // OpenAI: "maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens"
  /maximum context length is (?<max>\d+) tokens.*?resulted in (?<n>\d+) tokens/is,
  // OpenAI-compatible servers: "... (130000) exceeds the maximum context length (128000)" and similar
  /input token count \((?<n>\d+)\) exceeds the maximum number of tokens allowed \((?<max>\d+)\)/i,
  /prompt is too long: (?<n>\d+) tokens > (?<max>\d+) maximum/i,
  /(?<n>\d+) tokens? (?:exceeds?|is greater than|>) (?:the )?(?:maximum|max|limit)[^\d]*(?<max>\d+)/i,
];
const CONTEXT_WORDS =
  /context_length_exceeded|maximum context length|context window|too many tokens|prompt is too long/i;

const OUTPUT_PATTERNS: RegExp[] = [
  // "max_tokens is too large: 128000. This model supports at most 16384 completion tokens"
  /max_(?:completion_)?tokens is too large: (?<n>\d+)\..*?at most (?<max>\d+)/is,
  // Gemini: "maxOutputTokens value of 128000 ... to 65537 (exclusive)"
  /maxOutputTokens.*?value of (?<n>\d+).*?to (?<max>\d+) \(exclusive\)/is,
];

/** The variable that holds the proxy's key for each upstream, by the name errors use. */
const KEY_VARIABLES: Record<string, string> = {
  openai: "OPENAI_API_KEY",
  azure: "AZURE_OPENAI_API_KEY",
  gemini: "GEMINI_API_KEY",
  anthropic: "ANTHROPIC_API_KEY",
};

/**
 * An upstream refused the proxy's own key (its 401 or 403): a 403 `permission_error` naming the
 * variable to fix. Not a 401: the client's credentials were fine, and Claude Code takes a 401 for
 * a stale login and retries it for minutes in silence, while it shows a 403 at once.
 */
export function keyRefused(provider: string, status: number, message: string): ProxyError {
  const variable = KEY_VARIABLES[provider] ?? `the ${provider} API key`;
  return new ProxyError(
    "permission_error",
    `${provider} rejected the proxy's API key (${status}): ${message}; check ${variable}`,
    { upstreamStatus: status, keyVariable: variable },
  );
}

/**
 * Maps an upstream failure onto an Anthropic error. Context-length and output-cap errors are
 * rewritten into the exact texts Claude Code parses to heal itself.
 */
export function fromUpstream(
  provider: string,
  failure: UpstreamFailure,
  model: string,
): ProxyError {
  const { status, message, code } = failure;
  const detail = message || `HTTP ${status}`;
  if (status === 401 || status === 403) return keyRefused(provider, status, detail);
  const upstreamStatus = status || undefined;
  const headers: Record<string, string> = {};
  for (const name of ["retry-after", "retry-after-ms"]) {
    const value = failure.headers?.[name];
    if (value) headers[name] = value;
  }

  if (status === 400 || status === 413 || status === 422 || status === 0) {
    const context = matchNumbers(CONTEXT_PATTERNS, message);
    if (context || code === "context_length_exceeded" || CONTEXT_WORDS.test(message)) {
      const text = context
        ? `prompt is too long: ${context.n} tokens > ${context.max} maximum`
        : `prompt is too long: ${detail}`;
      return new ProxyError("invalid_request_error", text, { status: 400, upstreamStatus });
    }
    const output = matchNumbers(OUTPUT_PATTERNS, message);
    if (output) {
      return new ProxyError(
        "invalid_request_error",
        `max_tokens: ${output.n} > ${output.max}, which is the maximum allowed number of output tokens for ${model}`,
        { upstreamStatus },
      );
    }
  }
  if (code === "insufficient_quota") {
    return new ProxyError("billing_error", `${provider}: ${detail}`, { upstreamStatus });
  }
  if (status === 0) {
    return new ProxyError(typeForCode(code), `${provider}: ${detail}`);
  }
  const type = typeForStatus(status);
  return new ProxyError(type, `${provider} returned ${status}: ${detail}`, {
    status: STATUS_OF[type],
    headers,
    upstreamStatus,
  });
}

/** Statuses that, reported mid-answer, mean "try the turn again": Claude Code retries those. */
const RETRY_THE_TURN = new Set([429, 502, 503, 529]);

/**
 * Maps an error object an upstream sent inside a 200 event stream (`{"error":{message, code}}`,
 * OpenRouter's way to pass on its provider's 429 or 502; Responses' `error` event). A numeric
 * `code` is the HTTP status it stands for. Before the answer `started` it is mapped exactly like
 * that HTTP error (so it is retried and falls back like one); once the answer has started, a
 * 429/502/503/529 becomes `overloaded_error`, the in-stream type Claude Code retries the turn on.
 */
export function streamFailure(
  provider: string,
  error: { message?: unknown; code?: unknown; type?: unknown },
  model: string,
  started: boolean,
): ProxyError {
  const numeric = typeof error.code === "number" || typeof error.code === "string"
    ? Number(error.code)
    : NaN;
  const status = Number.isInteger(numeric) && numeric >= 400 && numeric <= 599 ? numeric : 0;
  const word = [error.code, error.type].find((c) => typeof c === "string" && !/^\d+$/.test(c));
  const message = typeof error.message === "string"
    ? error.message
    : error.message === undefined
    ? "upstream error"
    : JSON.stringify(error.message);
  const mapped = fromUpstream(
    provider,
    { status, message, code: word as string | undefined },
    model,
  );
  if (!started || !RETRY_THE_TURN.has(status)) return mapped;
  return new ProxyError("overloaded_error", mapped.message, { upstreamStatus: status });
}

function typeForCode(code: string | undefined): ErrorType {
  if (!code) return "api_error";
  if (/rate_limit|RESOURCE_EXHAUSTED/i.test(code)) return "rate_limit_error";
  if (/overloaded|UNAVAILABLE/i.test(code)) return "overloaded_error";
  if (/timeout|DEADLINE/i.test(code)) return "timeout_error";
  if (/invalid_request|INVALID_ARGUMENT/i.test(code)) return "invalid_request_error";
  return "api_error";
}

function matchNumbers(patterns: RegExp[], text: string): { n: string; max: string } | undefined {
  for (const pattern of patterns) {
    const groups = pattern.exec(text)?.groups;
    if (groups?.n && groups.max) return { n: groups.n, max: groups.max };
  }
  return undefined;
}

/** The failure an unreachable or timed-out upstream becomes. */
export function unreachable(provider: string, cause: unknown): ProxyError {
  const timedOut = cause instanceof DOMException && cause.name === "TimeoutError";
  if (timedOut) return new ProxyError("timeout_error", `${provider}: upstream timed out`);
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new ProxyError("api_error", `${provider}: upstream unreachable: ${reason}`, {
    status: 502,
  });
}
