/**
 * Thinking-block signatures the proxy issues: a versioned envelope naming the provider and
 * model, authenticated with an HMAC so a forged or foreign signature is recognised.
 *
 * Format: `ccp1.<base64url(JSON payload)>.<base64url(HMAC-SHA256)>`.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { base64url, equalBytes, hmacSha256 } from "../digest.ts";

/** What a signature carries. */
export interface SignaturePayload {
  /** The provider protocol that produced the thinking (`openai_chat`, `gemini`, …). */
  p: string;
  /** The backend model. */
  m: string;
  /** Provider data to replay (an encrypted reasoning item, a thought signature). */
  d?: unknown;
}

const PREFIX = "ccp1.";

/** Signs and verifies envelopes with one secret. */
export class Signer {
  #secret: string;

  constructor(secret: string) {
    this.#secret = secret;
  }

  /** Wraps `payload` into a signed envelope. */
  sign(payload: SignaturePayload): string {
    const body = Buffer.from(JSON.stringify(payload)).toString("base64url");
    return `${PREFIX}${body}.${this.#mac(body)}`;
  }

  /** The payload of a genuine envelope, or undefined for a foreign or tampered one. */
  verify(signature: string): SignaturePayload | undefined {
    if (!signature.startsWith(PREFIX)) return undefined;
    const [body, mac] = signature.slice(PREFIX.length).split(".");
    if (!body || !mac) return undefined;
    if (!equalBytes(Buffer.from(mac), Buffer.from(this.#mac(body)))) return undefined;
    try {
      return JSON.parse(Buffer.from(body, "base64url").toString());
    } catch {
      return undefined;
    }
  }

  /** A short MAC of `text` (`length` base64url characters), for compact authenticated ids. */
  tag(text: string, length = 12): string {
    return this.#mac(text).slice(0, length);
  }

  #mac(body: string): string {
    return base64url(hmacSha256(this.#secret, body));
  }
}
