/**
 * Reading an upstream's error body: only up to a bound, so a huge (or endless) error answer costs
 * a bounded amount of memory and time, and the rest of it is cancelled.
 *
 * @module
 */

/** The most of an upstream error body that is read (64 KiB). */
export const MAX_ERROR_BODY_BYTES = 64 * 1024;

/**
 * The body of `response` as text, at most `maxBytes` of it (UTF-8, a character cut at the bound
 * is dropped); the rest is cancelled, so the upstream connection is released at once.
 */
export async function readErrorBody(
  response: Response,
  maxBytes: number = MAX_ERROR_BODY_BYTES,
): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < maxBytes) {
      const next = await reader.read();
      if (next.done) break;
      chunks.push(next.value);
      size += next.value.byteLength;
    }
  } catch {
    // A body that breaks off is read as far as it came.
  } finally {
    reader.cancel().catch(() => {});
  }
  const bytes = new Uint8Array(Math.min(size, maxBytes));
  let offset = 0;
  for (const chunk of chunks) {
    const part = chunk.subarray(0, bytes.length - offset);
    bytes.set(part, offset);
    offset += part.byteLength;
    if (offset === bytes.length) break;
  }
  // A trailing partial character becomes one U+FFFD; drop it.
  return new TextDecoder().decode(bytes).replace(/\uFFFD$/, "");
}
