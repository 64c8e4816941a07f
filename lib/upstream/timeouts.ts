/**
 * Upstream time limits, applied by wrapping the `fetch` every provider uses: how long the
 * upstream may take to answer with headers, how long it may stay silent between body chunks,
 * and how long one request may take in all. A limit that trips aborts the upstream request with
 * a `TimeoutError`, which becomes a 504 before the first byte and an `error` event after it.
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

/** Wraps `fetchFn` so every call obeys `limits`; timers end with the response body. */
export function timedFetch(fetchFn: typeof fetch, limits: Timeouts): typeof fetch {
  return async (input, init) => {
    const controller = new AbortController();
    const signal = init?.signal
      ? AbortSignal.any([controller.signal, init.signal])
      : controller.signal;
    const total = setTimeout(
      () => controller.abort(timeout(`upstream request exceeded ${limits.totalMs} ms`)),
      limits.totalMs,
    );
    const connect = setTimeout(
      () => controller.abort(timeout(`upstream did not answer within ${limits.connectMs} ms`)),
      limits.connectMs,
    );
    let response: Response;
    try {
      response = await fetchFn(input, { ...init, signal });
    } catch (error) {
      clearTimeout(total);
      throw controller.signal.aborted ? controller.signal.reason : error;
    } finally {
      clearTimeout(connect);
    }
    if (!response.body) {
      clearTimeout(total);
      return response;
    }
    let idle: ReturnType<typeof setTimeout> | undefined;
    const stop = () => {
      clearTimeout(idle);
      clearTimeout(total);
    };
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(
        () => controller.abort(timeout(`upstream was silent for ${limits.idleMs} ms`)),
        limits.idleMs,
      );
    };
    const reader = response.body.getReader();
    // A read must end when a limit trips, even if the upstream body ignores the abort:
    // cancelling the reader settles it. (Racing each read against one long-lived promise would
    // keep every chunk alive until the request ends.)
    controller.signal.addEventListener(
      "abort",
      () => reader.cancel(controller.signal.reason).catch(() => {}),
      { once: true },
    );
    arm();
    const body = new ReadableStream<Uint8Array>({
      async pull(out) {
        try {
          const next = await reader.read();
          if (controller.signal.aborted) throw controller.signal.reason;
          if (next.done) {
            stop();
            out.close();
            return;
          }
          arm();
          out.enqueue(next.value);
        } catch (error) {
          stop();
          reader.cancel(error).catch(() => {});
          out.error(controller.signal.aborted ? controller.signal.reason : error);
        }
      },
      cancel(reason) {
        stop();
        controller.abort(reason);
        return reader.cancel(reason);
      },
    }, { highWaterMark: 0 });
    return new Response(body, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
}
