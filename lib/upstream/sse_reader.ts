/**
 * Upstream server-sent events: bytes → `{event, data}` messages, decoding and parsing in one
 * stream stage (the parsing itself is eventsource-parser's, spec-complete: CR, LF and CRLF line
 * ends, comments, multi-line data, a BOM).
 *
 * @module
 */
import { createParser, type EventSourceMessage } from "eventsource-parser";

export type { EventSourceMessage };

/** UTF-8 bytes of an event stream → its messages, one stage instead of two. */
export class SseParseStream extends TransformStream<Uint8Array, EventSourceMessage> {
  constructor() {
    const decoder = new TextDecoder();
    let emit: (message: EventSourceMessage) => void = () => {};
    const parser = createParser({ onEvent: (message) => emit(message) });
    super({
      start(controller) {
        emit = (message) => controller.enqueue(message);
      },
      transform(chunk) {
        parser.feed(decoder.decode(chunk, { stream: true }));
      },
      flush() {
        // As the spec says, a last event without its blank line is incomplete and dropped.
        const rest = decoder.decode();
        if (rest) parser.feed(rest);
      },
    });
  }
}
