/**
 * Anthropic passthrough: the request goes to an Anthropic API (`ANTHROPIC_UPSTREAM_URL`)
 * unchanged but for the model name, and its event stream comes back as is.
 *
 * @module
 */
import type { EventSourceMessage } from "../upstream/sse_reader.ts";
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
    });
  } catch (error) {
    if (options.signal?.aborted) throw error;
    throw unreachable("anthropic", error);
  }
  if (response.ok) return response;
  const text = await response.text();
  let type: ErrorType = typeForStatus(response.status);
  let message = text.slice(0, 500);
  try {
    const parsed = JSON.parse(text).error;
    if (parsed?.type in STATUS_OF) type = parsed.type;
    if (parsed?.message) message = parsed.message;
  } catch {
    // not JSON: keep the text
  }
  const passed: Record<string, string> = {};
  for (const name of ["retry-after", "retry-after-ms"]) {
    const value = response.headers.get(name);
    if (value) passed[name] = value;
  }
  if (response.status === 401 || response.status === 403) {
    throw keyRefused("anthropic", response.status, message);
  }
  const status = response.status === 503 ? 529 : response.status;
  throw new ProxyError(type, `anthropic: ${message}`, {
    status,
    headers: passed,
    upstreamStatus: response.status,
  });
}

/** Anthropic SSE messages → the same events, parsed (unknown event types pass through). */
export class AnthropicEventStream extends TransformStream<EventSourceMessage, StreamEvent> {
  constructor() {
    super({
      transform(message, controller) {
        let event: StreamEvent;
        try {
          event = JSON.parse(message.data);
        } catch {
          controller.enqueue({
            type: "error",
            error: {
              type: "api_error",
              message: "anthropic: upstream sent an event that is not JSON",
            },
          });
          return;
        }
        controller.enqueue(ownToolId(event));
      },
    });
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
