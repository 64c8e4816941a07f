/**
 * Client authentication against `PROXY_API_KEY`: the key may come as `x-api-key` (Claude Code)
 * or `Authorization: Bearer` (the SDKs), and is compared in constant time.
 *
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { ProxyError } from "../anthropic/errors.ts";

function digest(value: string): Uint8Array {
  return createHash("sha256").update(value).digest();
}

/** The key a client presented, or undefined. */
export function presentedKey(headers: Headers): string | undefined {
  const key = headers.get("x-api-key");
  if (key) return key.trim();
  const match = /^Bearer\s+(.+)$/i.exec(headers.get("authorization") ?? "");
  return match?.[1].trim();
}

/**
 * Throws a 401 `authentication_error` unless `headers` carry one of `keys`. Every key is compared
 * (as SHA-256 digests, so lengths leak nothing) whatever matched first.
 */
export function authenticate(headers: Headers, keys: readonly string[]): void {
  if (!keys.length) return;
  const given = presentedKey(headers);
  if (!given) {
    throw new ProxyError(
      "authentication_error",
      "authentication: missing API key: send the proxy key as x-api-key or Authorization: Bearer",
    );
  }
  const presented = digest(given);
  let ok = false;
  for (const key of keys) ok = timingSafeEqual(presented, digest(key)) || ok;
  if (!ok) throw new ProxyError("authentication_error", "authentication: invalid API key");
}
