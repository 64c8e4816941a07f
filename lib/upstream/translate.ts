/**
 * The shape every provider's answer translator has: it is fed the upstream's SSE messages one by
 * one and drives an emit function (through the `EventWriter`), with no stream stage of its own.
 * The relay (`relay.ts`) calls it inside its one pass per upstream chunk; {@link TranslateStream}
 * wraps it as a `TransformStream` for tests and for composing whole streams.
 *
 * @module
 */
import type { EventSourceMessage } from "./sse_reader.ts";
import type { StreamEvent } from "../anthropic/schema.ts";

/** Turns upstream SSE messages into Anthropic events, calling the emit it was built with. */
export interface Translator {
  /** One upstream SSE message. */
  message(message: EventSourceMessage): void;
  /** The upstream body ended (cleanly): finish the message, or fail it. */
  end(): void;
}

/** Builds a translator that emits to `emit`. */
export type TranslatorFactory = (emit: (event: StreamEvent) => void) => Translator;

/** A translator as one stream stage: SSE messages → Anthropic events. */
export class TranslateStream extends TransformStream<EventSourceMessage, StreamEvent> {
  constructor(factory: TranslatorFactory) {
    let translator!: Translator;
    super({
      start(controller) {
        translator = factory((event) => controller.enqueue(event));
      },
      transform(message) {
        translator.message(message);
      },
      flush() {
        translator.end();
      },
    });
  }
}
