/**
 * Identifiers: Anthropic-style random ids and short deterministic aliases.
 *
 * @module
 */
import { base64url, sha256 } from "./digest.ts";

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** `prefix` + 24 random base62 characters, e.g. `msg_…`, `toolu_…`, `req_…`. */
export function randomId(prefix: string, length = 24): string {
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  let id = prefix;
  for (const byte of bytes) id += BASE62[byte % 62];
  return id;
}

/** A short, stable, URL-safe digest of `text` (`length` characters). */
export function shortHash(text: string, length = 12): string {
  return base64url(sha256(text)).slice(0, length);
}
