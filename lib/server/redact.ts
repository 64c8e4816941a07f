/**
 * Keeping secrets in: every configured key (and anything key-shaped) is replaced with
 * `[redacted]` in log lines, error messages, and the text an upstream sends back.
 *
 * @module
 */
import type { StreamEvent } from "../anthropic/schema.ts";

// Key-like strings even when they are not ours (an upstream echoing some other key back).
const KEY_PATTERNS = [/\bsk-[A-Za-z0-9_-]{8,}/g, /\bAIza[0-9A-Za-z_-]{20,}/g];

/** Replaces every secret (and key-shaped string) in `text` with `[redacted]`. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (secret) out = out.replaceAll(secret, "[redacted]");
  for (const pattern of KEY_PATTERNS) out = out.replace(pattern, "[redacted]");
  return out;
}

/**
 * An event with configured secrets redacted from generated text, thinking and error messages, so
 * an upstream that echoes its credentials back cannot hand them to the client. (A secret split
 * across two deltas is not caught; error messages are always caught.)
 */
export function redactEvent(event: StreamEvent, secrets: readonly string[]): StreamEvent {
  if (event.type === "content_block_delta") {
    const delta = event.delta;
    if (delta.type === "text_delta" && present(delta.text, secrets)) {
      return { ...event, delta: { type: "text_delta", text: redact(delta.text, secrets) } };
    }
    if (delta.type === "thinking_delta" && present(delta.thinking, secrets)) {
      return {
        ...event,
        delta: { type: "thinking_delta", thinking: redact(delta.thinking, secrets) },
      };
    }
  } else if (event.type === "error") {
    return {
      type: "error",
      error: { ...event.error, message: redact(event.error.message, secrets) },
    };
  }
  return event;
}

function present(text: string, secrets: readonly string[]): boolean {
  for (const secret of secrets) if (text.includes(secret)) return true;
  return false;
}
