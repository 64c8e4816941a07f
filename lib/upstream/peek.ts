/**
 * Before the client is told anything, the upstream's first meaningful event is read: an upstream
 * that answers 200 and then reports an error as that event (OpenRouter's 200 +
 * `{"error":{"code":429}}`, Responses' `error` or `response.failed` right after
 * `response.created`) fails like the HTTP error it stands for, so it is retried and falls back,
 * and a streaming client gets a real status instead of a committed 200. The bytes read on the way
 * are replayed to the relay, unchanged.
 *
 * The peek is patient for a moment only ({@link FIRST_EVENT_PATIENCE_MS}): DESIGN holds the status
 * line until the upstream's headers, not its first token, because a reasoning model can think for
 * minutes before it says anything and the client should get pings meanwhile. An upstream whose
 * first event takes longer is taken as answered, and the relay reads on as before.
 *
 * @module
 */
import { createParser } from "eventsource-parser";
import { ProxyError } from "../anthropic/errors.ts";
import { type EventSourceMessage, MAX_SSE_EVENT_CHARS } from "./sse_reader.ts";

/**
 * What one upstream event says: the upstream answered (`"answered"`), it failed (the error),
 * or nothing yet (`undefined`: a prelude such as `response.created`; read on).
 */
export type FirstVerdict = ProxyError | "answered" | undefined;

/** How to peek at a body. */
export interface Peek {
  /** Judges each event until one decides. */
  first: (message: EventSourceMessage) => FirstVerdict;
  /** Longest wait for one read, in ms (the relay's idle limit). */
  idleMs: number;
  /** Longest wait for a deciding event before it is taken as answered (default below). */
  patienceMs?: number;
}

/** How long the first event may take before the upstream is taken as answered, in ms. */
export const FIRST_EVENT_PATIENCE_MS = 2_000;

/**
 * Reads `body` until `peek.first` decides. Resolves with a body that replays what was read and
 * then goes on with the rest; throws the error if the first meaningful event was one, or a
 * `timeout_error` if the upstream stayed silent for `idleMs`. A read that fails, an upstream
 * that ends, or an event past the size cap are left to the relay, which reports them as before.
 */
export async function peekBody(
  body: ReadableStream<Uint8Array>,
  peek: Peek,
  provider: string,
): Promise<ReadableStream<Uint8Array>> {
  const reader = body.getReader();
  const held: Uint8Array[] = [];
  const decoder = new TextDecoder();
  let verdict: FirstVerdict;
  const parser = createParser({
    onEvent: (message) => {
      if (verdict === undefined) verdict = peek.first(message);
    },
  });
  let failed = false;
  let failure: unknown;
  let ended = false;
  let chars = 0;
  /** A read still under way when patience ran out: the replay takes it over. */
  let pending: Promise<ReadableStreamReadResult<Uint8Array>> | undefined;
  const patience = Math.min(peek.patienceMs ?? FIRST_EVENT_PATIENCE_MS, peek.idleMs);
  const deadline = performance.now() + patience;
  while (verdict === undefined) {
    let silent = false;
    const idle = setTimeout(() => {
      silent = true;
      reader.cancel().catch(() => {});
    }, peek.idleMs);
    const read = reader.read();
    let late: ReturnType<typeof setTimeout> | undefined;
    const waited = new Promise<"late">((resolve) => {
      late = setTimeout(() => resolve("late"), Math.max(0, deadline - performance.now()));
    });
    let next: ReadableStreamReadResult<Uint8Array> | "late";
    try {
      next = await Promise.race([read, waited]);
    } catch (error) {
      failed = true;
      failure = error;
      break;
    } finally {
      clearTimeout(idle);
      clearTimeout(late);
    }
    if (next === "late") {
      pending = read;
      break;
    }
    if (silent) {
      throw new ProxyError(
        "timeout_error",
        `${provider}: upstream was silent for ${peek.idleMs} ms before its first event`,
      );
    }
    if (next.done) {
      ended = true;
      break;
    }
    held.push(next.value);
    const text = decoder.decode(next.value, { stream: true });
    parser.feed(text);
    chars += text.length;
    if (chars > MAX_SSE_EVENT_CHARS) break;
  }
  if (verdict instanceof ProxyError) {
    reader.cancel().catch(() => {});
    throw verdict;
  }
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const first = held.shift();
        if (first) return controller.enqueue(first);
        if (failed) return controller.error(failure);
        if (ended) return controller.close();
        const next = await (pending ?? reader.read());
        pending = undefined;
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      } catch (error) {
        // A read that failed is the relay's to report; a cancel meanwhile leaves nothing to do.
        try {
          controller.error(error);
        } catch {
          // already closed by the cancel
        }
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}
