/**
 * An upstream's successful answer, checked before the client is told anything: a 200 whose body
 * is not an event stream (an error object, an HTML page from a proxy or captive portal) is a
 * failure, so it still reaches the client as a real HTTP error (and can be retried or fall back)
 * instead of an empty or broken success.
 *
 * @module
 */
import { fromUpstream, ProxyError } from "../anthropic/errors.ts";
import { readErrorBody } from "./error_body.ts";
import type { TranslatorFactory } from "./translate.ts";
import { type Peek, peekBody } from "./peek.ts";

/** An upstream answer, ready to be relayed. */
export interface Answer {
  /** The upstream's SSE body (null: it sent none). */
  body: ReadableStream<Uint8Array> | null;
  /** Builds the provider's translator. */
  translate: TranslatorFactory;
  /** Provider name, for messages. */
  provider: string;
}

/**
 * The answer of a 2xx `response`. A JSON body is read (up to a bound) as the error it carries,
 * keeping its type (`rate_limit_error`, `RESOURCE_EXHAUSTED`, … stay rate limits); an HTML body
 * is an `api_error` (502). With `peek`, the first meaningful event is read too, and an error
 * there fails like the HTTP error it stands for (see `peek.ts`).
 */
export async function answerOf(
  response: Response,
  provider: string,
  model: string,
  translate: TranslatorFactory,
  peek?: Peek,
): Promise<Answer> {
  const type = response.headers.get("content-type") ?? "";
  if (/\bjson\b/i.test(type) && response.body) {
    // Some servers label their event stream as JSON: the first bytes tell.
    const reader = response.body.getReader();
    const first = await reader.read().catch(() => ({ done: true, value: undefined }));
    const head = first.value ? new TextDecoder().decode(first.value.subarray(0, 64)) : "";
    const body = replay(first.value, reader);
    if (!/^\s*[\[{]/.test(head) && head.trim()) return { body, translate, provider };
    throw await jsonFailure(new Response(body, response), provider, model);
  }
  if (/\bhtml\b/i.test(type)) {
    await response.body?.cancel();
    throw new ProxyError(
      "api_error",
      `${provider}: upstream answered ${response.status} with an HTML page, not an event stream`,
      { status: 502 },
    );
  }
  const body = peek && response.body
    ? await peekBody(response.body, peek, provider)
    : response.body;
  return { body, translate, provider };
}

/** `first`, then the rest of `reader`, as one stream again. */
function replay(
  first: Uint8Array | undefined,
  reader: ReadableStreamDefaultReader<Uint8Array>,
): ReadableStream<Uint8Array> {
  let pending = first;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (pending) {
        controller.enqueue(pending);
        pending = undefined;
        return;
      }
      const next = await reader.read();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
}

async function jsonFailure(response: Response, provider: string, model: string) {
  const text = await readErrorBody(response);
  let error: { message?: unknown; code?: unknown; type?: unknown; status?: unknown } | undefined;
  try {
    const parsed = JSON.parse(text);
    const found = Array.isArray(parsed) ? parsed[0]?.error : parsed?.error;
    if (found && typeof found === "object") error = found;
    else if (typeof found === "string") error = { message: found };
  } catch {
    // not JSON after all
  }
  if (!error) {
    return new ProxyError(
      "api_error",
      `${provider}: upstream answered ${response.status} with JSON, not an event stream`,
      { status: 502 },
    );
  }
  // Anthropic names the type, OpenAI the code, Gemini the status word.
  const code =
    [error.type, error.code, error.status].find((c) =>
      typeof c === "string" && /rate_limit|RESOURCE_EXHAUSTED|overloaded|UNAVAILABLE|quota/i.test(c)
    ) ?? [error.code, error.type, error.status].find((c) => typeof c === "string");
  const message = typeof error.message === "string" ? error.message : JSON.stringify(error);
  return fromUpstream(provider, { status: 0, message, code: code as string | undefined }, model);
}
