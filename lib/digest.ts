/**
 * SHA-256, HMAC-SHA256 and a constant-time comparison, synchronous, without `node:crypto`:
 * loading Deno's `node:crypto` (and the Node stream and process machinery it pulls in) cost ~15 to
 * 25 ms of every cold start, while `npm:@noble/hashes` (audited, dependency-free) loads in a few.
 * Web Crypto is asynchronous, and these run inside synchronous code (authentication, signatures,
 * tool-name aliases).
 *
 * @module
 */
import { sha256 as sha256Bytes } from "@noble/hashes/sha2.js";
import { hmac } from "@noble/hashes/hmac.js";

const encoder = new TextEncoder();

/** The SHA-256 digest of `text` (UTF-8). */
export function sha256(text: string): Uint8Array {
  return sha256Bytes(encoder.encode(text));
}

/** The HMAC-SHA256 of `text` under `key` (both UTF-8). */
export function hmacSha256(key: string, text: string): Uint8Array {
  return hmac(sha256Bytes, encoder.encode(key), encoder.encode(text));
}

/** Bytes as unpadded base64url (what `node:crypto`'s `digest("base64url")` gives). */
export function base64url(bytes: Uint8Array): string {
  return bytes.toBase64({ alphabet: "base64url", omitPadding: true });
}

/** Bytes as lowercase hex. */
export function hex(bytes: Uint8Array): string {
  return bytes.toHex();
}

/**
 * Whether two byte strings are equal, in time that depends on their length only (as
 * `timingSafeEqual`; a length difference answers false at once: callers compare digests).
 */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i] ^ b[i];
  return difference === 0;
}
