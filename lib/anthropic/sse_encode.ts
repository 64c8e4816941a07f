/**
 * Server-sent events towards the client: the encoding of one event, the keep-alive ping, and an
 * encoder stage with pings for composing whole streams (the proxy's own answers are encoded in the
 * relay's one pass, `lib/upstream/relay.ts`).
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

/** One event as SSE text: `event: <type>\ndata: <json>\n\n`. */
export function encodeEvent(event: StreamEvent): string {
  return `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

/** The keep-alive `ping` event, encoded. */
export const PING: string = encodeEvent({ type: "ping" });

/** Starts a repeating timer and returns the function that stops it. */
export type Scheduler = (tick: () => void, intervalMs: number) => () => void;

/** The default {@link Scheduler}: `setInterval`. */
export const intervalScheduler: Scheduler = (tick, intervalMs) => {
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
    const encode = (event: StreamEvent) => encoder.encode(encodeEvent(event));
    const ping = encoder.encode(PING);
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
