/**
 * Server-sent events towards the client: encoding with keep-alive pings, and the guard that turns
 * a broken upstream into a final `event: error` instead of a torn connection.
 *
 * Each stage costs a promise hop per event, so the per-event work that belongs together is done in
 * one pass: the guard also applies a per-event map (redaction, observation), and the encoder also
 * sends the pings.
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

/** Starts a repeating timer and returns the function that stops it. */
export type Scheduler = (tick: () => void, intervalMs: number) => () => void;

const intervalScheduler: Scheduler = (tick, intervalMs) => {
  const id = setInterval(tick, intervalMs);
  return () => clearInterval(id);
};

/** Keep-alive options of {@link SseEncodeStream}. */
export interface KeepAliveOptions {
  /** Longest silence before a ping, in ms (default 10 000). */
  idleMs?: number;
  /** Timer source; tests pass a manual one. */
  scheduler?: Scheduler;
}

/**
 * Anthropic events → `event: <type>\ndata: <json>\n\n` bytes, one chunk per event. With
 * `keepAlive`, it also sends `ping` events: one right after `message_start`, then one whenever
 * the stream has been silent for about `idleMs` (reasoning models can think for minutes; clients
 * abort silent streams). The timer stops with the stream, however it ends.
 */
export class SseEncodeStream extends TransformStream<StreamEvent, Uint8Array> {
  constructor(keepAlive?: KeepAliveOptions) {
    const encoder = new TextEncoder();
    const encode = (event: StreamEvent) =>
      encoder.encode(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
    const ping = encode({ type: "ping" });
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
        if (!keepAlive) return;
        // Ticking at half the idle time bounds any silence to `idleMs`.
        stop = (keepAlive.scheduler ?? intervalScheduler)(() => {
          if (ended) return;
          if (!busy) controller.enqueue(ping);
          busy = false;
        }, (keepAlive.idleMs ?? 10_000) / 2);
      },
      transform(event, controller) {
        busy = true;
        controller.enqueue(encode(event));
        if (event.type === "message_start" && keepAlive) controller.enqueue(ping);
        if (event.type === "message_stop" || event.type === "error") halt();
      },
      flush: halt,
      cancel: halt,
    } as Transformer<StreamEvent, Uint8Array>);
  }
}

/** Options of {@link guardStream}. */
export interface GuardOptions {
  /** The `error` event a read failure becomes. */
  describe: (error: unknown) => StreamEvent & { type: "error" };
  /** Applied to every event on its way out (error events included). */
  map?: (event: StreamEvent) => StreamEvent;
  /** Called once when the stream has ended (`end`) or the reader gave up (`cancel`). */
  done?: (how: "end" | "cancel") => void;
}

/**
 * Reads `events` and, if reading fails (connection reset, malformed upstream data, a timeout),
 * ends the stream with an `error` event, unless it had already ended.
 */
export function guardStream(
  events: ReadableStream<StreamEvent>,
  options: GuardOptions,
): ReadableStream<StreamEvent> {
  const reader = events.getReader();
  const map = options.map ?? ((event: StreamEvent) => event);
  let ended = false;
  let finished = false;
  const finish = (how: "end" | "cancel") => {
    if (finished) return;
    finished = true;
    options.done?.(how);
  };
  return new ReadableStream<StreamEvent>({
    async pull(controller) {
      try {
        const next = await reader.read();
        if (next.done) {
          controller.close();
          finish("end");
          return;
        }
        const type = next.value.type;
        if (type === "message_stop" || type === "error") ended = true;
        controller.enqueue(map(next.value));
      } catch (error) {
        if (!ended) controller.enqueue(map(options.describe(error)));
        ended = true;
        controller.close();
        finish("end");
      }
    },
    cancel(reason) {
      finish("cancel");
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}
