/**
 * Upstream server-sent events: bytes → `{event, data}` messages, decoding and parsing in one
 * stream stage (the parsing itself is eventsource-parser's, spec-complete: CR, LF and CRLF line
 * ends, comments, multi-line data, a BOM).
 *
 * @module
 */
import { createParser, type EventSourceMessage } from "eventsource-parser";
import { ProxyError } from "../anthropic/errors.ts";

export type { EventSourceMessage };

/**
 * The most characters one upstream SSE event (or one line) may take before its end arrives:
 * 8 MiB. The parser holds a pending event whole; without a cap an upstream that never sends a
 * line break makes the proxy buffer all of it.
 */
export const MAX_SSE_EVENT_CHARS = 8 * 1024 * 1024;

/**
 * Counts the characters fed to a parser since it last dispatched an event (or a comment) and
 * throws an `api_error` once they pass {@link MAX_SSE_EVENT_CHARS}. The count is per fed piece,
 * so it may be off by one network read: a bound, not an exact size.
 */
export class SseSizeGuard {
  #pending = 0;
  #dispatched = false;
  #provider: string;
  #limit: number;

  constructor(provider: string, limit = MAX_SSE_EVENT_CHARS) {
    this.#provider = provider;
    this.#limit = limit;
  }

  /** The parser dispatched an event or a comment. */
  dispatched(): void {
    this.#dispatched = true;
  }

  /** `chars` more were fed; throws past the limit. */
  fed(chars: number): void {
    this.#pending = this.#dispatched ? 0 : this.#pending + chars;
    this.#dispatched = false;
    if (this.#pending > this.#limit) {
      throw new ProxyError(
        "api_error",
        `${this.#provider}: upstream sent more than ${this.#limit} characters without ending an event (MAX_SSE_EVENT_CHARS); stream stopped`,
      );
    }
  }
}

/** UTF-8 bytes of an event stream → its messages, one stage instead of two. */
export class SseParseStream extends TransformStream<Uint8Array, EventSourceMessage> {
  constructor(provider = "upstream") {
    const decoder = new TextDecoder();
    let emit: (message: EventSourceMessage) => void = () => {};
    const guard = new SseSizeGuard(provider);
    const parser = createParser({
      onEvent: (message) => {
        guard.dispatched();
        emit(message);
      },
      onComment: () => guard.dispatched(),
    });
    super({
      start(controller) {
        emit = (message) => controller.enqueue(message);
      },
      transform(chunk) {
        const text = decoder.decode(chunk, { stream: true });
        parser.feed(text);
        guard.fed(text.length);
      },
      flush() {
        // As the spec says, a last event without its blank line is incomplete and dropped.
        const rest = decoder.decode();
        if (rest) parser.feed(rest);
      },
    });
  }
}
