/**
 * Anthropic passthrough: the request goes to an Anthropic API (`ANTHROPIC_UPSTREAM_URL`)
 * unchanged but for the model name, and its event stream comes back as is.
 *
 * @module
 */
import { TranslateStream, type Translator } from "../upstream/translate.ts";
import { readErrorBody } from "../upstream/error_body.ts";
import { isRedirect, NO_REDIRECT, redirectFailure } from "../upstream/redirect.ts";
import {
  keyRefused,
  ProxyError,
  STATUS_OF,
  typeForStatus,
  unreachable,
} from "../anthropic/errors.ts";
import type { ErrorType, StreamEvent } from "../anthropic/schema.ts";
import { randomId } from "../ids.ts";

/** Where and how to call the Anthropic API. */
export interface AnthropicEndpoint {
  /** Base URL, e.g. `https://api.anthropic.com`. */
  baseUrl: string;
  /** The key sent as `x-api-key`. */
  apiKey: string;
  /** The `fetch` to use. */
  fetch: typeof fetch;
}

const FORWARDED = ["anthropic-version", "anthropic-beta"];

/**
 * POSTs `body` (always streaming) to `path` and returns the response after a 2xx status. The
 * client's `anthropic-version` and `anthropic-beta` headers go along; its key does not.
 */
export async function postAnthropic(
  endpoint: AnthropicEndpoint,
  path: string,
  body: Record<string, unknown>,
  options: { signal?: AbortSignal; clientHeaders?: Headers },
): Promise<Response> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "x-api-key": endpoint.apiKey,
    "anthropic-version": "2023-06-01",
  };
  for (const name of FORWARDED) {
    const value = options.clientHeaders?.get(name);
    if (value) headers[name] = value;
  }
  let response: Response;
  try {
    response = await endpoint.fetch(`${endpoint.baseUrl}${path}`, {
      method: "POST",
      headers,
      body: JSON.stringify(body),
      signal: options.signal,
      redirect: NO_REDIRECT,
    });
  } catch (error) {
    if (options.signal?.aborted) throw error;
    throw unreachable("anthropic", error);
  }
  if (response.ok) return response;
  if (isRedirect(response)) throw redirectFailure("anthropic", response);
  throw await anthropicFailure(response);
}

/**
 * Maps a non-2xx Anthropic answer onto an error of Anthropic's own types and statuses: a type
 * Anthropic does not define (or a status it does not use, e.g. 418) is mapped from the status.
 * The body is read only up to a bound, and cut only after redaction (by the handler).
 */
export async function anthropicFailure(response: Response): Promise<ProxyError> {
  const text = await readErrorBody(response);
  let type: ErrorType = typeForStatus(response.status);
  let message = text;
  try {
    const parsed = JSON.parse(text)?.error;
    if (anthropicType(parsed?.type)) type = parsed.type;
    if (typeof parsed?.message === "string") message = parsed.message;
  } catch {
    // not JSON: keep the text
  }
  const passed: Record<string, string> = {};
  for (const name of ["retry-after", "retry-after-ms"]) {
    const value = response.headers.get(name);
    if (value) passed[name] = value;
  }
  if (response.status === 401 || response.status === 403) {
    return keyRefused("anthropic", response.status, message || `HTTP ${response.status}`);
  }
  return new ProxyError(type, `anthropic: ${message || `HTTP ${response.status}`}`, {
    status: STATUS_OF[type],
    headers: passed,
    upstreamStatus: response.status,
  });
}

/** True for one of Anthropic's error types (own keys only: `constructor` is not one). */
export function anthropicType(type: unknown): type is ErrorType {
  return typeof type === "string" && Object.hasOwn(STATUS_OF, type);
}

/**
 * Anthropic SSE messages → the same events, parsed (unknown event types pass through); an
 * in-stream error keeps to Anthropic's error types. The relay's guard ends a stream that stops
 * short with an `error` event.
 */
export function anthropicTranslator(emit: (event: StreamEvent) => void): Translator {
  return {
    message(message) {
      let event: StreamEvent;
      try {
        event = JSON.parse(message.data);
      } catch {
        emit({
          type: "error",
          error: {
            type: "api_error",
            message: "anthropic: upstream sent an event that is not JSON",
          },
        });
        return;
      }
      if (!event || typeof event !== "object" || typeof event.type !== "string") {
        emit({
          type: "error",
          error: { type: "api_error", message: "anthropic: upstream sent an event without a type" },
        });
        return;
      }
      if (event.type === "error") {
        const error = (event as { error?: { type?: unknown; message?: unknown } }).error;
        event = {
          type: "error",
          error: {
            type: anthropicType(error?.type) ? error.type : "api_error",
            message: typeof error?.message === "string"
              ? error.message
              : "anthropic: upstream error",
          },
        };
      }
      emit(ownToolId(event));
    },
    end() {},
  };
}

/** {@link anthropicTranslator} as a stream stage. */
export class AnthropicEventStream extends TranslateStream {
  constructor() {
    super(anthropicTranslator);
  }
}

/** An id Anthropic itself minted: `toolu_` and at least 20 random characters. */
const ANTHROPIC_TOOL_ID = /^toolu_[A-Za-z0-9]{20,}$/;

/**
 * A tool_use block keeps Anthropic's own id (unique, and the key a server-side container may be
 * waiting on); any other id (an Anthropic-compatible server's `call_0`, repeated every answer)
 * is replaced by a fresh one, as on every other backend: Claude Code loops on a repeated id.
 */
function ownToolId(event: StreamEvent): StreamEvent {
  if (
    event.type !== "content_block_start" || event.content_block.type !== "tool_use" ||
    ANTHROPIC_TOOL_ID.test(event.content_block.id)
  ) return event;
  return { ...event, content_block: { ...event.content_block, id: randomId("toolu_") } };
}
