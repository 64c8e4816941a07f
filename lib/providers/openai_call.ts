/**
 * The HTTP call to an OpenAI-protocol upstream (OpenAI, compatible servers, Azure), made with
 * `npm:openai` over the injected `fetch`. Returns the raw streaming `Response` once the upstream
 * has answered with a success status; every failure becomes a {@link ProxyError}.
 *
 * @module
 */
import OpenAI from "openai";
import { fromUpstream, ProxyError, unreachable } from "../anthropic/errors.ts";

/** A configured OpenAI-protocol upstream. */
export interface OpenAIEndpoint {
  /** The SDK client (no retries of its own: routing decides). */
  client: OpenAI;
  /** Provider name for messages and logs. */
  provider: string;
}

/** Options of {@link createOpenAIEndpoint}. */
export interface EndpointOptions {
  /** Base URL including the version path, e.g. `https://api.openai.com/v1`. */
  baseURL: string;
  /** API key; empty for servers that need none. */
  apiKey: string;
  /** The `fetch` every call goes through. */
  fetch: typeof fetch;
  /** Provider name. */
  provider: string;
  /** Headers on every call. */
  headers?: Record<string, string | null>;
  /** Query parameters on every call. */
  query?: Record<string, string>;
  /** Upstream timeout in ms (default 10 minutes: reasoning runs are long). */
  timeoutMs?: number;
}

/** Builds an endpoint around an `npm:openai` client. */
export function createOpenAIEndpoint(options: EndpointOptions): OpenAIEndpoint {
  const client = new OpenAI({
    apiKey: options.apiKey || "none",
    baseURL: options.baseURL,
    fetch: options.fetch,
    maxRetries: 0,
    timeout: options.timeoutMs ?? 600_000,
    defaultHeaders: options.headers,
    defaultQuery: options.query,
  });
  return { client, provider: options.provider };
}

/**
 * POSTs a streaming request to `path` and returns the upstream response after a 2xx status.
 * A client abort is rethrown as is (there is no one left to answer).
 */
export async function postStream(
  endpoint: OpenAIEndpoint,
  path: string,
  body: unknown,
  options: { signal?: AbortSignal; model: string; headers?: Record<string, string> },
): Promise<Response> {
  try {
    return await endpoint.client.post(path, {
      body,
      stream: true,
      signal: options.signal,
      headers: options.headers,
    }).asResponse();
  } catch (error) {
    throw mapOpenAIError(endpoint.provider, error, options.model);
  }
}

/** Maps what `npm:openai` throws onto a {@link ProxyError}. */
export function mapOpenAIError(provider: string, error: unknown, model: string): unknown {
  if (error instanceof OpenAI.APIUserAbortError) return error;
  if (error instanceof OpenAI.APIConnectionTimeoutError) {
    return new ProxyError("timeout_error", `${provider}: upstream timed out`);
  }
  if (error instanceof OpenAI.APIConnectionError) {
    return unreachable(provider, error.cause ?? error);
  }
  if (error instanceof OpenAI.APIError && typeof error.status === "number") {
    const body = error.error as { message?: string; code?: string; type?: string } | undefined;
    const headers: Record<string, string> = {};
    for (const name of ["retry-after", "retry-after-ms"]) {
      const value = error.headers?.get(name);
      if (value) headers[name] = value;
    }
    return fromUpstream(provider, {
      status: error.status,
      message: body?.message ?? error.message,
      code: body?.code ?? body?.type ?? undefined,
      headers,
    }, model);
  }
  return error;
}
