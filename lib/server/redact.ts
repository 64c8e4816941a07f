/**
 * Keeping secrets in: every configured key (and anything key-shaped) is replaced with
 * `[redacted]` in log lines, error messages, and the text an upstream sends back.
 *
 * @module
 */

// Key-like strings even when they are not ours (an upstream echoing some other key back).
const KEY_PATTERNS = [/\bsk-[A-Za-z0-9_-]{8,}/g, /\bAIza[0-9A-Za-z_-]{20,}/g];

// The `user:pass@` of a URL (a USAGE_DB or base URL with credentials in it).
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]+@/gi;
// A URL query parameter whose name says it holds a credential (`?access_token=…`, `&key=…`).
const URL_SECRET_PARAM =
  /([?&](?:[\w.-]*(?:key|token|secret|password|passwd|pass|sig|signature|auth|credential)[\w.-]*)=)[^\s&#"']+/gi;

/**
 * Replaces every secret (and key-shaped string) in `text` with `[redacted]`, and so the
 * credentials a URL may carry: its userinfo and credential-named query parameters.
 */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (secret) out = out.replaceAll(secret, "[redacted]");
  for (const pattern of KEY_PATTERNS) out = out.replace(pattern, "[redacted]");
  if (out.includes("://")) {
    out = out.replace(URL_USERINFO, "$1[redacted]@").replace(URL_SECRET_PARAM, "$1[redacted]");
  }
  return out;
}

/** The longest error message a client or a log line gets from an upstream, in characters. */
export const MAX_MESSAGE_CHARS = 2000;

/**
 * An error message fit to pass on: secrets redacted first, then cut to
 * {@link MAX_MESSAGE_CHARS} (cutting first could split a key and leave its start unredacted).
 */
export function redactMessage(text: string, secrets: readonly string[]): string {
  const out = redact(text, secrets);
  return out.length > MAX_MESSAGE_CHARS ? `${out.slice(0, MAX_MESSAGE_CHARS)}…` : out;
}

/**
 * Redacts configured secrets from generated text that arrives in pieces (the deltas of one
 * block), even when a secret is split across pieces: a piece's tail that could be the start of a
 * secret is held back until the next piece shows whether it is one. Only such a tail waits; all
 * other text goes out as it came.
 */
export class TextRedactor {
  #secrets: readonly string[];
  #held = "";
  #before = 0;

  constructor(secrets: readonly string[]) {
    this.#secrets = secrets.filter((secret) => secret.length >= 4);
  }

  /** True while some text is held back. */
  get holding(): boolean {
    return this.#held.length > 0;
  }

  /** The text of `piece` (with what was held) that can go out now, redacted; may be "". */
  push(piece: string): string {
    if (this.#secrets.length === 0) return piece;
    const text = this.#held + piece;
    const cut = this.#holdFrom(text);
    this.#held = text.slice(cut);
    const out = cut === text.length ? text : text.slice(0, cut);
    if (out) this.#before = out.charCodeAt(out.length - 1);
    return present(out, this.#secrets) ? redact(out, this.#secrets) : out;
  }

  /** What is held, redacted, and forgets it (the block ends). */
  flush(): string {
    const out = this.#held;
    this.#held = "";
    this.#before = 0;
    return present(out, this.#secrets) ? redact(out, this.#secrets) : out;
  }

  /** Where the longest tail of `text` that may begin a secret starts (text.length if none). */
  #holdFrom(text: string): number {
    let from = text.length;
    for (const secret of this.#secrets) {
      const first = secret.charCodeAt(0);
      for (let i = Math.max(0, text.length - secret.length + 1); i < from; i++) {
        if (text.charCodeAt(i) !== first) continue;
        const before = i > 0 ? text.charCodeAt(i - 1) : this.#before;
        // A secret usually stands apart (after a space, quote or `=`); inside a word only a
        // longer match is worth the wait.
        if (isWordChar(before) && text.length - i < 4) continue;
        if (secret.startsWith(text.slice(i))) {
          from = i;
          break;
        }
      }
    }
    return from;
  }
}

function isWordChar(code: number): boolean {
  return (code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122);
}

function present(text: string, secrets: readonly string[]): boolean {
  for (const secret of secrets) if (text.includes(secret)) return true;
  return false;
}
