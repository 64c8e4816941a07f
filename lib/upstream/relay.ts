/**
 * The relay: one pass per upstream chunk. Each chunk the upstream sends is decoded, split into SSE
 * messages, translated by the provider's translator (which drives the `EventWriter`), guarded,
 * redacted, and either encoded straight into the client's stream or folded into the message of a
 * non-streaming answer, all in the same turn; there is no stream stage in between.
 *
 * The guard: every answer ends with `message_stop` or one `error` event (a read failure, a
 * timeout, a translator that throws, or an upstream that stops short becomes the `error`), and
 * nothing follows either.
 *
 * Time limits after the upstream's headers: a read may wait at most `idleMs`, and the answer must
 * be over `totalMs` after it was sent. One timer per answer watches both; it is not re-armed per chunk (a read
 * only notes its start time), so it fires at most once per `idleMs`.
 *
 * @module
 */
import { createParser, type EventSourceParser } from "eventsource-parser";
import { MessageBuilder } from "../anthropic/accumulate.ts";
import { ProxyError } from "../anthropic/errors.ts";
import type { MessageResponse, StreamEvent } from "../anthropic/schema.ts";
import { encodeEvent, intervalScheduler, PING, type Scheduler } from "../anthropic/sse_encode.ts";
import { redactMessage, TextRedactor } from "../server/redact.ts";
import type { Translator } from "./translate.ts";
import { SseSizeGuard } from "./sse_reader.ts";
import type { Answer } from "./answer.ts";

export type { Answer };

/** The `error` event a failure becomes. */
export type ErrorEvent = StreamEvent & { type: "error" };

/** How a relay behaves (the handler fills it in). */
export interface RelayOptions {
  /** Longest wait for one upstream read, in ms. */
  idleMs: number;
  /** Longest time for the whole upstream request, in ms, counted from `startedAt`. */
  totalMs: number;
  /** `performance.now()` when the upstream request was sent. */
  startedAt: number;
  /** Secrets redacted from generated text and error messages. */
  secrets: readonly string[];
  /** Called with each failure (read error, timeout, short stream) before it becomes an event. */
  onFailure?: (error: unknown) => void;
  /** Sees every event on its way out (after redaction). */
  observe?: (event: StreamEvent) => void;
  /** Called once when the answer is over: it ended (`end`) or the client went away (`cancel`). */
  done?: (how: "end" | "cancel") => void;
}

/** Keep-alive pings of a streamed answer. */
export interface PingOptions {
  /** Longest client-side silence before a ping, in ms (default 10 000). */
  idleMs?: number;
  /** Timer source; tests pass a manual one. */
  scheduler?: Scheduler;
}

/**
 * The `error` event a failure while reading becomes: a {@link ProxyError} as it is, a limit that
 * tripped as `timeout_error`, anything else (a reset connection, a translator that threw) as
 * `api_error` naming the provider.
 */
export function failureEvent(provider: string, error: unknown): ErrorEvent {
  if (error instanceof ProxyError) {
    return { type: "error", error: { type: error.type, message: error.message } };
  }
  if (error instanceof DOMException && error.name === "TimeoutError") {
    return {
      type: "error",
      error: { type: "timeout_error", message: `${provider}: ${error.message}` },
    };
  }
  const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return {
    type: "error",
    error: { type: "api_error", message: `${provider}: upstream stream failed: ${detail}` },
  };
}

function timeoutError(message: string): DOMException {
  return new DOMException(message, "TimeoutError");
}

/** Reads one upstream answer and emits its Anthropic events through the guard. */
class Relay {
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  #options: RelayOptions;
  #sink: (event: StreamEvent) => void;
  #provider: string;
  #decoder = new TextDecoder();
  #parser: EventSourceParser;
  #guard: SseSizeGuard;
  #translator: Translator;
  #redactor: TextRedactor;
  #heldIndex = -1;
  #heldKind: "text_delta" | "thinking_delta" = "text_delta";
  #ended = false;
  #finished = false;
  #readStarted = 0;
  #reading = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timedOut: DOMException | undefined;
  #deadline: number;

  constructor(answer: Answer, options: RelayOptions, sink: (event: StreamEvent) => void) {
    this.#options = options;
    this.#sink = sink;
    this.#provider = answer.provider;
    this.#reader = answer.body?.getReader();
    this.#redactor = new TextRedactor(options.secrets);
    this.#translator = answer.translate((event) => this.#emit(event));
    const guard = this.#guard = new SseSizeGuard(answer.provider);
    this.#parser = createParser({
      onEvent: (message) => {
        guard.dispatched();
        this.#translator.message(message);
      },
      onComment: () => guard.dispatched(),
    });
    this.#deadline = options.startedAt + options.totalMs;
    this.#arm(Math.min(options.idleMs, this.#deadline - performance.now()));
  }

  /** True once the answer is over (its last event was emitted). */
  get finished(): boolean {
    return this.#finished;
  }

  /** Reads and relays one upstream chunk; false once the answer is over. */
  async step(): Promise<boolean> {
    if (this.#finished) return false;
    if (!this.#reader) {
      this.#end();
      return false;
    }
    let next: ReadableStreamReadResult<Uint8Array>;
    this.#readStarted = performance.now();
    this.#reading = true;
    try {
      next = await this.#reader.read();
    } catch (error) {
      this.#reading = false;
      this.#fail(this.#timedOut ?? error);
      return false;
    }
    this.#reading = false;
    if (this.#finished) return false; // cancelled meanwhile
    if (this.#timedOut) {
      this.#fail(this.#timedOut);
      return false;
    }
    try {
      if (next.done) {
        const rest = this.#decoder.decode();
        if (rest) this.#parser.feed(rest);
        this.#translator.end();
        this.#end();
        return false;
      }
      const text = this.#decoder.decode(next.value, { stream: true });
      this.#parser.feed(text);
      // An event that never ends (no line break for megabytes) fails the answer.
      this.#guard.fed(text.length);
    } catch (error) {
      // A translator that throws (a bug, or data it did not expect) ends the answer cleanly.
      this.#fail(error);
      return false;
    }
    if (this.#ended) {
      // The message is complete; whatever the upstream still sends is not needed.
      this.#end();
      return false;
    }
    if (performance.now() > this.#deadline) {
      this.#fail(this.#totalExceeded());
      return false;
    }
    return true;
  }

  /** The client went away: stop reading and cancel the upstream request. */
  cancel(reason?: unknown): void {
    if (this.#finished) return;
    this.#finished = true;
    clearTimeout(this.#timer);
    this.#reader?.cancel(reason).catch(() => {});
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => this.#watch(), Math.max(0, ms));
  }

  /** The one timer: fires at most once per `idleMs`, and re-arms itself only then. */
  #watch(): void {
    if (this.#finished) return;
    const now = performance.now();
    const { idleMs } = this.#options;
    const deadline = this.#deadline;
    if (now >= deadline) {
      this.#timedOut = this.#totalExceeded();
    } else if (this.#reading && now - this.#readStarted >= idleMs) {
      this.#timedOut = timeoutError(`upstream was silent for ${idleMs} ms`);
    }
    if (this.#timedOut) {
      // Settles the pending read; `step` then fails the answer with the timeout.
      this.#reader?.cancel(this.#timedOut).catch(() => {});
      return;
    }
    const idleDue = this.#reading ? this.#readStarted + idleMs : now + idleMs;
    this.#arm(Math.min(idleDue, deadline) - now);
  }

  #totalExceeded(): DOMException {
    return timeoutError(`upstream request exceeded ${this.#options.totalMs} ms`);
  }

  #fail(error: unknown): void {
    if (!this.#ended) {
      this.#options.onFailure?.(error);
      this.#emit(failureEvent(this.#provider, error));
    }
    this.#end();
  }

  #end(): void {
    if (!this.#ended) {
      this.#fail(
        new ProxyError(
          "api_error",
          `${this.#provider}: upstream stream ended before the message was complete`,
        ),
      );
    }
    if (this.#finished) return;
    this.#finished = true;
    clearTimeout(this.#timer);
    this.#reader?.cancel().catch(() => {});
  }

  /** The guard: nothing after the end; generated text and errors redacted. */
  #emit(event: StreamEvent): void {
    if (this.#ended) return;
    if (event.type === "content_block_delta") {
      const delta = event.delta;
      if (delta.type === "text_delta" || delta.type === "thinking_delta") {
        const text = this.#redactor.push(delta.type === "text_delta" ? delta.text : delta.thinking);
        if (this.#redactor.holding) {
          this.#heldIndex = event.index;
          this.#heldKind = delta.type;
        }
        if (!text) return;
        if (text !== (delta.type === "text_delta" ? delta.text : delta.thinking)) {
          event = {
            type: "content_block_delta",
            index: event.index,
            delta: delta.type === "text_delta"
              ? { type: "text_delta", text }
              : { type: "thinking_delta", thinking: text },
          };
        }
        this.#out(event);
        return;
      }
    }
    if (this.#redactor.holding) this.#releaseHeld();
    if (event.type === "message_stop") this.#ended = true;
    else if (event.type === "error") {
      this.#ended = true;
      event = {
        type: "error",
        error: {
          ...event.error,
          message: redactMessage(event.error.message, this.#options.secrets),
        },
      };
    }
    this.#out(event);
  }

  #releaseHeld(): void {
    const text = this.#redactor.flush();
    if (!text) return;
    this.#out({
      type: "content_block_delta",
      index: this.#heldIndex,
      delta: this.#heldKind === "text_delta"
        ? { type: "text_delta", text }
        : { type: "thinking_delta", thinking: text },
    });
  }

  #out(event: StreamEvent): void {
    this.#options.observe?.(event);
    this.#sink(event);
  }
}

/**
 * A streamed answer: the client's SSE bytes, pulled one upstream chunk at a time (each chunk's
 * events leave together, as soon as they are made; chunks are never merged). With `pings`, a
 * `ping` goes out right after `message_start` and whenever the client has heard nothing for about
 * `idleMs`. Cancelling the stream cancels the upstream request at once.
 */
export function relayStream(
  answer: Answer,
  options: RelayOptions,
  pings?: PingOptions,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let text = "";
  const relay = new Relay(answer, options, (event) => {
    text += encodeEvent(event);
    if (pings && event.type === "message_start") text += PING;
  });
  let stopPings: (() => void) | undefined;
  let busy = false;
  let over = false;
  const finish = (how: "end" | "cancel") => {
    if (over) return;
    over = true;
    stopPings?.();
    options.done?.(how);
  };
  return new ReadableStream<Uint8Array>({
    start(controller) {
      if (!pings) return;
      // Ticking at half the idle time bounds any silence to `idleMs`.
      stopPings = (pings.scheduler ?? intervalScheduler)(() => {
        if (over) return;
        if (!busy) controller.enqueue(encoder.encode(PING));
        busy = false;
      }, (pings.idleMs ?? 10_000) / 2);
    },
    async pull(controller) {
      let more = !relay.finished;
      while (!text && more) more = await relay.step();
      if (text) {
        busy = true;
        controller.enqueue(encoder.encode(text));
        text = "";
      }
      if (!more || relay.finished) {
        controller.close();
        finish("end");
      }
    },
    cancel(reason) {
      relay.cancel(reason);
      finish("cancel");
    },
  }, { highWaterMark: 0 });
}

/**
 * A non-streaming answer: the same events folded into the message as they are made. `signal`
 * (the client's) cancels the upstream request the moment it aborts.
 */
export async function relayMessage(
  answer: Answer,
  options: RelayOptions,
  signal?: AbortSignal,
): Promise<MessageResponse> {
  const builder = new MessageBuilder();
  const relay = new Relay(answer, options, (event) => builder.add(event));
  const hangUp = () => relay.cancel(signal?.reason);
  if (signal?.aborted) hangUp();
  signal?.addEventListener("abort", hangUp, { once: true });
  try {
    while (await relay.step());
  } finally {
    signal?.removeEventListener("abort", hangUp);
  }
  if (signal?.aborted) {
    options.done?.("cancel");
    throw signal.reason ?? new DOMException("the client went away", "AbortError");
  }
  options.done?.("end");
  return builder.result();
}
