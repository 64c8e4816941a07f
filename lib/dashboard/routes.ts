/**
 * `GET /dashboard` and its files: the page and its scripts are static (they hold no data), the
 * feed carries the data. With `PROXY_API_KEY` set the feed requires a key (the page asks for
 * one); without one the dashboard is served only to loopback clients on a loopback `Host`.
 *
 * @module
 */
import { ProxyError } from "../anthropic/errors.ts";
import { authenticate, type ClientKey } from "../server/auth.ts";
import { usageScope } from "../usage/access.ts";
import type { DashboardFeed } from "./feed.ts";

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|::1|\[::1\])$/i;

/** Whether a request comes from this machine, to this machine's name. */
export function isLoopback(request: Request, info?: Deno.ServeHandlerInfo): boolean {
  const host = request.headers.get("host") ?? new URL(request.url).host;
  const hostname = host.replace(/:\d+$/, "");
  const remote = info?.remoteAddr;
  const remoteLocal = !remote || (remote.transport === "tcp" && LOOPBACK.test(remote.hostname));
  return LOOPBACK.test(hostname) && remoteLocal;
}

/** Options of {@link serveDashboard}. */
export interface DashboardOptions {
  /** Client keys; empty: loopback only. */
  keys: readonly ClientKey[];
  /** Names of the keys that see every key's requests (`ADMIN_KEYS`); the others see their own. */
  admins?: readonly string[];
  /** The feed (created on first use). */
  feed: () => DashboardFeed;
  /** Connection facts from `Deno.serve`. */
  info?: Deno.ServeHandlerInfo;
}

const PAGE_HEADERS = {
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  // The page's script and the chart library are files of this server; nothing else loads.
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
};

/** Answers `/dashboard` and `/dashboard/*`. */
export async function serveDashboard(
  request: Request,
  path: string,
  options: DashboardOptions,
): Promise<Response> {
  if (request.method !== "GET" && request.method !== "HEAD") {
    throw new ProxyError("invalid_request_error", `method not allowed: ${request.method} ${path}`, {
      status: 405,
      headers: { allow: "GET, HEAD" },
    });
  }
  if (!options.keys.length && !isLoopback(request, options.info)) {
    throw new ProxyError(
      "permission_error",
      "dashboard: without PROXY_API_KEY the dashboard is served only on loopback (127.0.0.1)",
    );
  }
  if (path === "/dashboard/access") {
    // Tells the page whether to ask for a key before it opens the feed.
    return Response.json({ key_required: options.keys.length > 0 }, {
      headers: { "cache-control": "no-store" },
    });
  }
  if (path === "/dashboard/feed") {
    const name = authenticate(request.headers, options.keys);
    const scope = usageScope({ clientKeys: options.keys, adminKeys: options.admins ?? [] }, name);
    return options.feed().response(scope);
  }
  let assets;
  try {
    ({ ASSETS: assets } = await import("./assets.ts"));
  } catch (error) {
    throw new ProxyError(
      "api_error",
      `dashboard: its files could not be loaded (run with --unstable-raw-imports): ${
        error instanceof Error ? error.message : error
      }`,
    );
  }
  const asset = assets[path];
  if (!asset) throw new ProxyError("not_found_error", `not found: GET ${path}`);
  return new Response(request.method === "HEAD" ? null : asset[1], {
    headers: { "content-type": asset[0], ...PAGE_HEADERS },
  });
}
