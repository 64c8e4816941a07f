/**
 * The HTTP call to an OpenAI-protocol upstream (OpenAI, compatible servers, Azure), made with
 * plain `fetch`. Returns the raw streaming `Response` once the upstream has answered with a
 * success status; every failure becomes a {@link ProxyError}.
 *
 * `npm:openai` is only the source of the wire types (`import type` in the translators): its
 * request building cost about a quarter of the CPU of a request and nothing of it is needed to
 * POST one JSON body.
 *
 * @module
 */
import { fromUpstream, unreachable } from "../anthropic/errors.ts";
import { readErrorBody } from "../upstream/error_body.ts";
import { isRedirect, NO_REDIRECT, redirectFailure } from "../upstream/redirect.ts";

/** A configured OpenAI-protocol upstream. */
export interface OpenAIEndpoint {
  /** Provider name for messages and logs. */
  provider: string;
  /** Base URL including the version path, without a trailing slash. */
  baseURL: string;
  /** Headers on every call (authorization included). */
  headers: Record<string, string>;
  /** `?…` query string on every call, or "". */
  search: string;
  /** The `fetch` every call goes through. */
  fetch: typeof fetch;
}

/** Options of {@link createOpenAIEndpoint}. */
export interface EndpointOptions {
  /** Base URL including the version path, e.g. `https://api.openai.com/v1`. */
  baseURL: string;
  /** API key, sent as `Authorization: Bearer`; empty for servers that need none. */
  apiKey: string;
  /** The `fetch` every call goes through. */
  fetch: typeof fetch;
  /** Provider name. */
  provider: string;
  /** Headers on every call; `null` removes a default (Azure sends `api-key`, no bearer). */
  headers?: Record<string, string | null>;
  /** Query parameters on every call. */
  query?: Record<string, string>;
}

/** Builds an endpoint: the fixed part of every request, computed once. */
export function createOpenAIEndpoint(options: EndpointOptions): OpenAIEndpoint {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    accept: "text/event-stream",
    authorization: `Bearer ${options.apiKey || "none"}`,
  };
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (value === null) delete headers[name.toLowerCase()];
    else headers[name.toLowerCase()] = value;
  }
  const query = new URLSearchParams(options.query).toString();
  return {
    provider: options.provider,
    baseURL: options.baseURL.replace(/\/+$/, ""),
    headers,
    search: query ? `?${query}` : "",
    fetch: options.fetch,
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
  let response: Response;
  try {
    response = await endpoint.fetch(`${endpoint.baseURL}${path}${endpoint.search}`, {
      method: "POST",
      headers: options.headers ? { ...endpoint.headers, ...options.headers } : endpoint.headers,
      body: JSON.stringify(body),
      signal: options.signal,
      redirect: NO_REDIRECT,
    });
  } catch (error) {
    if (options.signal?.aborted) throw error;
    throw unreachable(endpoint.provider, error);
  }
  if (response.ok) return response;
  if (isRedirect(response)) throw redirectFailure(endpoint.provider, response);
  throw await openAIFailure(endpoint.provider, response, options.model);
}

/** Maps a non-2xx OpenAI-protocol response (status, `retry-after`, message, code) onto an error. */
export async function openAIFailure(
  provider: string,
  response: Response,
  model: string,
): Promise<Error> {
  const text = await readErrorBody(response);
  let error: { message?: unknown; code?: unknown; type?: unknown } | undefined;
  try {
    const parsed = JSON.parse(text);
    error = parsed && typeof parsed === "object" ? parsed.error ?? undefined : undefined;
    if (error !== undefined && (typeof error !== "object" || error === null)) {
      error = { message: error };
    }
  } catch {
    // not JSON: the text is the message
  }
  const message = typeof error?.message === "string"
    ? error.message
    : error?.message !== undefined
    ? JSON.stringify(error.message)
    : error
    ? JSON.stringify(error)
    : text.trim();
  const code = typeof error?.code === "string"
    ? error.code
    : typeof error?.type === "string"
    ? error.type
    : undefined;
  const headers: Record<string, string> = {};
  for (const name of ["retry-after", "retry-after-ms"]) {
    const value = response.headers.get(name);
    if (value) headers[name] = value;
  }
  return fromUpstream(provider, { status: response.status, message, code, headers }, model);
}
