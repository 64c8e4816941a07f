/**
 * Server-sent events towards the client: encoding, keep-alive pings, and the guard that turns
 * a broken upstream into a final `event: error` instead of a torn connection.
 *
 * @module
 */
import type { StreamEvent } from "./schema.ts";

/** Response headers of an Anthropic event stream. */
export const SSE_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
  "x-accel-buffering": "no",
};

/** Anthropic events → `event: <type>\ndata: <json>\n\n` bytes, one chunk per event. */
export class SseEncodeStream extends TransformStream<StreamEvent, Uint8Array> {
  constructor() {
    const encoder = new TextEncoder();
    super({
      transform(event, controller) {
        controller.enqueue(
          encoder.encode(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`),
        );
      },
    });
  }
}

/** Starts a repeating timer and returns the function that stops it. */
export type Scheduler = (tick: () => void, intervalMs: number) => () => void;

const intervalScheduler: Scheduler = (tick, intervalMs) => {
  const id = setInterval(tick, intervalMs);
  return () => clearInterval(id);
};

/** Options of {@link KeepAliveStream}. */
export interface KeepAliveOptions {
  /** Longest silence before a ping, in ms (default 10 000). */
  idleMs?: number;
  /** Timer source; tests pass a manual one. */
  scheduler?: Scheduler;
}

/**
 * Passes events through and adds `ping` events: one right after `message_start`, then one
 * whenever the stream has been silent for about `idleMs` (reasoning models can think for
 * minutes; clients abort silent streams).
 */
export class KeepAliveStream extends TransformStream<StreamEvent, StreamEvent> {
  constructor(options: KeepAliveOptions = {}) {
    const idleMs = options.idleMs ?? 10_000;
    const schedule = options.scheduler ?? intervalScheduler;
    let stop: (() => void) | undefined;
    let busy = false;
    let ended = false;
    const halt = () => {
      ended = true;
      stop?.();
      stop = undefined;
    };
    super({
      start(controller) {
        // Ticking at half the idle time bounds any silence to `idleMs`.
        stop = schedule(() => {
          if (ended) return;
          if (!busy) controller.enqueue({ type: "ping" });
          busy = false;
        }, idleMs / 2);
      },
      transform(event, controller) {
        busy = true;
        controller.enqueue(event);
        if (event.type === "message_start") controller.enqueue({ type: "ping" });
        if (event.type === "message_stop" || event.type === "error") halt();
      },
      flush: halt,
      cancel: halt,
    } as Transformer<StreamEvent, StreamEvent>);
  }
}

/**
 * Reads `events` and, if reading fails (connection reset, malformed upstream data), ends the
 * stream with an `error` event, unless it had already ended.
 */
export function guardStream(
  events: ReadableStream<StreamEvent>,
  describe: (error: unknown) => StreamEvent & { type: "error" },
): ReadableStream<StreamEvent> {
  const reader = events.getReader();
  let done = false;
  return new ReadableStream<StreamEvent>({
    async pull(controller) {
      try {
        const next = await reader.read();
        if (next.done) {
          controller.close();
          return;
        }
        const type = next.value.type;
        if (type === "message_stop" || type === "error") done = true;
        controller.enqueue(next.value);
      } catch (error) {
        if (!done) controller.enqueue(describe(error));
        done = true;
        controller.close();
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}
