/**
 * The HTTP call to an OpenAI-protocol upstream (OpenAI, compatible servers, Azure), made with
 * `npm:openai` over the injected `fetch`. Returns the raw streaming `Response` once the upstream
 * has answered with a success status; every failure becomes a {@link ProxyError}.
 *
 * `npm:openai` takes about 100 ms to load, more than the rest of the server together, so it is
 * loaded on first use (or ahead of time with {@link loadOpenAI}) instead of at start-up.
 *
 * @module
 */
import type OpenAIClient from "openai";
import { fromUpstream, ProxyError, unreachable } from "../anthropic/errors.ts";

type OpenAIClass = typeof OpenAIClient;

let loading: Promise<OpenAIClass> | undefined;

/** Loads `npm:openai` once; the server calls it shortly after it starts listening. */
export function loadOpenAI(): Promise<OpenAIClass> {
  loading ??= import("openai").then((module) => module.default);
  return loading;
}

/** A configured OpenAI-protocol upstream. */
export interface OpenAIEndpoint {
  /** The SDK client (no retries of its own: routing decides), created on first use. */
  client: () => Promise<OpenAIClient>;
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
  let client: Promise<OpenAIClient> | undefined;
  return {
    provider: options.provider,
    client: () => {
      client ??= loadOpenAI().then((OpenAI) =>
        new OpenAI({
          apiKey: options.apiKey || "none",
          baseURL: options.baseURL,
          fetch: options.fetch,
          maxRetries: 0,
          timeout: options.timeoutMs ?? 600_000,
          defaultHeaders: options.headers,
          defaultQuery: options.query,
        })
      );
      return client;
    },
  };
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
  const OpenAI = await loadOpenAI();
  const client = await endpoint.client();
  try {
    return await client.post(path, {
      body,
      stream: true,
      signal: options.signal,
      headers: options.headers,
    }).asResponse();
  } catch (error) {
    throw mapOpenAIError(OpenAI, endpoint.provider, error, options.model);
  }
}

/** Maps what `npm:openai` throws onto a {@link ProxyError}. */
export function mapOpenAIError(
  OpenAI: OpenAIClass,
  provider: string,
  error: unknown,
  model: string,
): unknown {
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
