/**
 * Retries and fallback, before the first byte: each target is retried on transient failures
 * (refused connection, timeout, 429, 5xx, 529) with jittered backoff that honours
 * `retry-after` up to a cap, then the next target is tried. Any other failure ends at once.
 *
 * @module
 */
import { ProxyError } from "../anthropic/errors.ts";
import type { Target } from "../routing/route.ts";
import type { Attempt } from "../server/request_record.ts";

/** How retries wait. */
export interface RetryOptions {
  /** Retries of one target before moving on. */
  maxRetries: number;
  /** Longest wait in ms. */
  maxDelayMs: number;
  /** Waits `ms` (tests pass one that records instead of waiting). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Source of jitter in [0, 1). */
  random?: () => number;
  /** Stops waiting when the client has gone. */
  signal?: AbortSignal;
}

const BASE_DELAY_MS = 250;

/** True for the failures worth another try: 429 (not quota), 5xx, timeouts, unreachable. */
export function retryable(error: unknown): boolean {
  if (!(error instanceof ProxyError)) return false;
  // A redirect (not followed) is a configuration problem: another try gets the same answer.
  const upstream = error.upstreamStatus ?? 0;
  if (upstream >= 300 && upstream < 400) return false;
  return error.status === 429 || error.status >= 500;
}

/** The wait before retry number `attempt` (0-based): `retry-after` if given, else backoff. */
export function retryDelay(error: unknown, attempt: number, options: RetryOptions): number {
  const headers = error instanceof ProxyError ? error.headers : {};
  const ms = Number(headers["retry-after-ms"]);
  const seconds = Number(headers["retry-after"]);
  let delay: number;
  if (Number.isFinite(ms) && ms >= 0 && headers["retry-after-ms"]) delay = ms;
  else if (Number.isFinite(seconds) && seconds >= 0 && headers["retry-after"]) {
    delay = seconds * 1000;
  } else {
    // Full jitter: anywhere up to the exponential step.
    delay = (options.random ?? Math.random)() * BASE_DELAY_MS * 2 ** attempt;
  }
  return Math.min(Math.round(delay), options.maxDelayMs);
}

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", stop);
      resolve();
    }, ms);
    const stop = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", stop, { once: true });
  });
}

/** How a failed try ended, for the logs: the upstream's own status, not the one the client saw. */
export function attemptResult(error: unknown): Attempt["result"] {
  if (!(error instanceof ProxyError)) return "unreachable";
  if (error.upstreamStatus) return error.upstreamStatus;
  if (error.type === "timeout_error") return "timeout";
  return error.status === 502 ? "unreachable" : error.status;
}

/**
 * Calls `open` for each target in turn until one succeeds. `tried` receives one entry per
 * attempt (target and how it ended), for the request's record.
 */
export async function withFallback<T>(
  targets: Target[],
  open: (target: Target) => Promise<T>,
  options: RetryOptions,
  tried: Attempt[] = [],
): Promise<T> {
  const sleep = options.sleep ?? defaultSleep;
  let last: unknown;
  for (const target of targets) {
    for (let attempt = 0; attempt <= options.maxRetries; attempt++) {
      try {
        const result = await open(target);
        tried.push({ provider: target.provider, model: target.model, result: "ok" });
        return result;
      } catch (error) {
        tried.push({
          provider: target.provider,
          model: target.model,
          result: attemptResult(error),
        });
        if (!retryable(error)) throw error;
        last = error;
        if (attempt < options.maxRetries) {
          await sleep(retryDelay(error, attempt, options), options.signal);
        }
      }
    }
  }
  throw last;
}
