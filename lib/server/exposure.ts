/**
 * Exposure rules against browsers (CSRF and DNS rebinding). Claude Code and the SDKs send no
 * `Origin`, a loopback `Host` and JSON bodies, so they never meet these rules; a web page does:
 * - an `Origin` that is neither `CORS_ORIGINS` nor the proxy's own origin is refused (403), and
 *   preflights (`OPTIONS`) are answered only for allowed origins;
 * - while the proxy listens on loopback, a `Host` that is not a loopback name (`localhost`,
 *   `127.x.x.x`, `[::1]`, any port) or one of `ALLOWED_HOSTS` is refused (403): that is what a
 *   page on a rebound `attacker.example` sends;
 * - a POST body must be `application/json` (415): the body types a page may send without a
 *   preflight (`text/plain`, forms, none) are not.
 *
 * @module
 */
import { ProxyError } from "../anthropic/errors.ts";

/** What the rules need to know. */
export interface ExposureRules {
  /** Origins allowed to call the API from a browser (`CORS_ORIGINS`), e.g. `https://app.example`. */
  corsOrigins: readonly string[];
  /** Host names accepted besides the loopback ones (`ALLOWED_HOSTS`). */
  allowedHosts: readonly string[];
  /** Check `Host`: true when the server listens on a loopback address. */
  checkHost: boolean;
}

const LOOPBACK_HOST = /^(localhost|127(\.\d{1,3}){3}|\[::1\])(:\d{1,5})?$/i;

const CORS_ALLOW_HEADERS =
  "content-type, x-api-key, authorization, anthropic-version, anthropic-beta, " +
  "anthropic-dangerous-direct-browser-access, x-stainless-*";

/**
 * Applies the rules to a request. Returns the answer to an allowed preflight, or undefined when
 * the request may go on; throws a {@link ProxyError} when it is refused.
 *
 * @example
 * ```ts
 * import { checkExposure } from "./exposure.ts";
 * const rules = { corsOrigins: [], allowedHosts: [], checkHost: true };
 * const request = new Request("http://localhost:8082/health", { headers: { host: "localhost:8082" } });
 * console.log(checkExposure(request, rules)); // undefined: served
 * ```
 */
export function checkExposure(request: Request, rules: ExposureRules): Response | undefined {
  const host = request.headers.get("host");
  // A Request built in code has no Host header; every HTTP/1.1 client sends one.
  if (rules.checkHost && host !== null && !hostAllowed(host, rules)) {
    throw new ProxyError(
      "permission_error",
      `host: ${JSON.stringify(host.slice(0, 100))} is not a name of this proxy; ` +
        "add it to ALLOWED_HOSTS if it should be",
    );
  }
  const origin = request.headers.get("origin");
  if (origin !== null && !originAllowed(origin, host, rules)) {
    throw new ProxyError(
      "permission_error",
      `origin: ${JSON.stringify(origin.slice(0, 100))} may not call this proxy; ` +
        "add it to CORS_ORIGINS if it should",
    );
  }
  if (request.method === "OPTIONS") {
    if (origin === null) {
      return new Response(null, { status: 204, headers: { allow: "GET, HEAD, POST, OPTIONS" } });
    }
    return new Response(null, {
      status: 204,
      headers: {
        ...corsHeaders(origin),
        "access-control-allow-methods": "GET, HEAD, POST, OPTIONS",
        "access-control-allow-headers": request.headers.get("access-control-request-headers") ??
          CORS_ALLOW_HEADERS,
        "access-control-max-age": "600",
      },
    });
  }
  if (request.method === "POST" && !isJson(request.headers.get("content-type"))) {
    throw new ProxyError(
      "invalid_request_error",
      "content-type: a request body must be sent as application/json",
      { status: 415 },
    );
  }
  return undefined;
}

const LOOPBACK_PEER = /^(127(\.\d{1,3}){3}|::1|::ffff:127(\.\d{1,3}){3})$/i;

/**
 * True when a connection comes from this machine: a loopback TCP peer (IPv4, IPv6, or IPv4
 * mapped into IPv6) or a Unix socket. Without `remoteAddr` it is not known, so false.
 *
 * @example
 * ```ts
 * import { fromLoopback } from "./exposure.ts";
 * const info = { remoteAddr: { transport: "tcp", hostname: "192.0.2.7", port: 5000 } };
 * console.log(fromLoopback(info as Deno.ServeHandlerInfo)); // false
 * ```
 */
export function fromLoopback(info: Deno.ServeHandlerInfo | undefined): boolean {
  const addr = info?.remoteAddr;
  if (!addr) return false;
  if (addr.transport === "unix" || addr.transport === "unixpacket") return true;
  return "hostname" in addr && LOOPBACK_PEER.test(addr.hostname);
}

/** Adds the CORS headers an allowed cross-origin caller needs to read `response`. */
export function allowOrigin(request: Request, response: Response, rules: ExposureRules): void {
  const origin = request.headers.get("origin");
  if (origin === null || !originAllowed(origin, request.headers.get("host"), rules)) return;
  for (const [name, value] of Object.entries(corsHeaders(origin))) {
    response.headers.set(name, value);
  }
}

function corsHeaders(origin: string): Record<string, string> {
  return {
    "access-control-allow-origin": origin,
    "access-control-expose-headers": "request-id, retry-after",
    vary: "origin",
  };
}

function hostAllowed(host: string, rules: ExposureRules): boolean {
  if (LOOPBACK_HOST.test(host)) return true;
  const name = host.replace(/:\d{1,5}$/, "").toLowerCase();
  return rules.allowedHosts.some((allowed) => allowed.toLowerCase() === name);
}

function originAllowed(origin: string, host: string | null, rules: ExposureRules): boolean {
  const normalized = origin.replace(/\/+$/, "").toLowerCase();
  if (
    rules.corsOrigins.some((allowed) => allowed.replace(/\/+$/, "").toLowerCase() === normalized)
  ) {
    return true;
  }
  // The proxy's own pages (a dashboard) call it from its own origin, whose Host passed above.
  return rules.checkHost && host !== null && (normalized === `http://${host.toLowerCase()}` ||
    normalized === `https://${host.toLowerCase()}`);
}

function isJson(contentType: string | null): boolean {
  return contentType !== null && /^application\/json\s*(;|$)/i.test(contentType.trim());
}
