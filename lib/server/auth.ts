/**
 * Client authentication against `PROXY_API_KEY`: the key may come as `x-api-key` (Claude Code)
 * or `Authorization: Bearer` (the SDKs), and is compared in constant time. Keys may be named
 * (`alice=key1,bob=key2`), so the ledger can say who spent what without ever storing a key.
 *
 * @module
 */
import { equalBytes, hex, sha256 } from "../digest.ts";
import { ProxyError } from "../anthropic/errors.ts";

/** One client key and the name the ledger and dashboard show for it. */
export interface ClientKey {
  /** The name (`alice`), or `key-` and the first 8 hex digits of the key's SHA-256. */
  name: string;
  /** The secret. */
  key: string;
}

/** The name used when no key is configured. */
export const ANONYMOUS = "anonymous";

const NAME = /^[A-Za-z0-9_.@-]{1,64}$/;

/**
 * Parses `PROXY_API_KEY`: a comma list of `name=key` or bare keys. A bare key is named by its
 * hash prefix (`key-1a2b3c4d`); an entry whose part before `=` is not a plain name, or whose part
 * after it starts with `=` (base64 padding), is a bare key.
 */
export function parseClientKeys(value: string): ClientKey[] {
  return value.split(",").map((entry) => entry.trim()).filter(Boolean).map((entry) => {
    const at = entry.indexOf("=");
    const name = entry.slice(0, at);
    const key = entry.slice(at + 1);
    if (at > 0 && NAME.test(name) && key && !key.startsWith("=")) return { name, key };
    return {
      name: `key-${hex(sha256(entry)).slice(0, 8)}`,
      key: entry,
    };
  });
}

/** The key a client presented, or undefined. */
export function presentedKey(headers: Headers): string | undefined {
  const key = headers.get("x-api-key");
  if (key) return key.trim();
  const match = /^Bearer\s+(.+)$/i.exec(headers.get("authorization") ?? "");
  return match?.[1].trim();
}

/**
 * Returns the name of the key `headers` carry, or {@link ANONYMOUS} when no key is configured;
 * throws a 401 `authentication_error` otherwise. Every key is compared (as SHA-256 digests, so
 * lengths leak nothing) whatever matched first.
 */
export function authenticate(headers: Headers, keys: readonly ClientKey[]): string {
  if (!keys.length) return ANONYMOUS;
  const given = presentedKey(headers);
  if (!given) {
    throw new ProxyError(
      "authentication_error",
      "authentication: missing API key: send the proxy key as x-api-key or Authorization: Bearer",
    );
  }
  const presented = sha256(given);
  let name: string | undefined;
  for (const key of keys) {
    if (equalBytes(presented, sha256(key.key)) && name === undefined) name = key.name;
  }
  if (name === undefined) {
    throw new ProxyError("authentication_error", "authentication: invalid API key");
  }
  return name;
}
