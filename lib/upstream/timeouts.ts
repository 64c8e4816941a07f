/**
 * Upstream time limits. `timedFetch` wraps the `fetch` every provider uses with the limits that
 * apply until the upstream has answered with headers (`connectMs`, and `totalMs` so far); the
 * limits on the body (`idleMs` per read, `totalMs` in all) are kept by the relay, which reads it
 * (`relay.ts`), without a wrapper stream or a timer per chunk. A limit that trips becomes a
 * `TimeoutError`: a 504 before the first byte, an `error` event after it.
 *
 * @module
 */

/** The three limits, in ms. */
export interface Timeouts {
  /** Until the upstream has answered with status and headers. */
  connectMs: number;
  /** Longest silence between two body chunks. */
  idleMs: number;
  /** The whole request, body included. */
  totalMs: number;
}

function timeout(message: string): DOMException {
  return new DOMException(message, "TimeoutError");
}

/** True for an error (or abort reason) caused by one of these limits. */
export function isTimeout(error: unknown): boolean {
  return error instanceof DOMException && error.name === "TimeoutError";
}

/** Wraps `fetchFn` so every call gets its headers within `limits`; one timer per call. */
export function timedFetch(fetchFn: typeof fetch, limits: Timeouts): typeof fetch {
  const connectFirst = limits.connectMs <= limits.totalMs;
  const message = connectFirst
    ? `upstream did not answer within ${limits.connectMs} ms`
    : `upstream request exceeded ${limits.totalMs} ms`;
  return async (input, init) => {
    const controller = new AbortController();
    // A listener on the caller's signal, not `AbortSignal.any`: a combined signal is held weakly
    // by its sources, and a garbage collection could drop it and with it the client's hang-up.
    const caller = init?.signal;
    if (caller?.aborted) controller.abort(caller.reason);
    else caller?.addEventListener("abort", () => controller.abort(caller.reason), { once: true });
    const timer = setTimeout(
      () => controller.abort(timeout(message)),
      connectFirst ? limits.connectMs : limits.totalMs,
    );
    try {
      return await fetchFn(input, { ...init, signal: controller.signal });
    } catch (error) {
      throw controller.signal.aborted ? controller.signal.reason : error;
    } finally {
      clearTimeout(timer);
    }
  };
}
