/**
 * Upstream redirects are not followed: `fetch` would send the provider's key header
 * (`x-goog-api-key`, Azure's `api-key`, Anthropic's `x-api-key`) to wherever the `Location`
 * points, another origin included (it strips only `Authorization`). Every upstream call passes
 * {@link NO_REDIRECT}, and a 3xx answer becomes a configuration error naming the target.
 *
 * @module
 */
import { ProxyError } from "../anthropic/errors.ts";
import { redact } from "../server/redact.ts";

/** The `redirect` mode of every upstream fetch: the 3xx comes back as it is. */
export const NO_REDIRECT: RequestRedirect = "manual";

/** The longest `Location` quoted in the error, in characters. */
const MAX_LOCATION_CHARS = 300;

/** True for a 3xx answer (a redirect that was not followed). */
export function isRedirect(response: Response): boolean {
  return response.status >= 300 && response.status < 400;
}

/**
 * The error a 3xx answer becomes: a 502 `api_error` naming the provider, the status and the
 * `Location` (credentials in it redacted). Its `upstreamStatus` is the 3xx, which keeps it from
 * being retried: the base URL is wrong, and asking again will not change that.
 */
export function redirectFailure(provider: string, response: Response): ProxyError {
  response.body?.cancel().catch(() => {});
  const raw = response.headers.get("location") ?? "(none)";
  const location = redact(raw, []);
  const shown = location.length > MAX_LOCATION_CHARS
    ? `${location.slice(0, MAX_LOCATION_CHARS)}…`
    : location;
  return new ProxyError(
    "api_error",
    `${provider}: upstream answered ${response.status} redirecting to ${shown}; redirects are not followed (the key would go along): check the ${provider} base URL`,
    { status: 502, upstreamStatus: response.status },
  );
}
