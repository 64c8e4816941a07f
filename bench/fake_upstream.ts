/**
 * A deterministic fake OpenAI Chat Completions upstream, shared by the end-to-end tests and the
 * benchmarks. Use it as an injected `fetch` (no port) or serve it on loopback.
 *
 * A reply is described by a {@link Reply}; helpers build the common ones.
 *
 * @module
 */

/** What the fake sends back for one request. */
export interface Reply {
  /** HTTP status (default 200). */
  status?: number;
  /** Extra response headers. */
  headers?: Record<string, string>;
  /** JSON error body for a non-2xx status. */
  error?: unknown;
  /** Stream chunks, each sent as one `data:` event (objects are JSON-encoded). */
  chunks?: Array<unknown>;
  /** End with `data: [DONE]` (default true). */
  done?: boolean;
  /** Pause between chunks in ms (benchmarks only; default 0). */
  intervalMs?: number;
}

/** A recorded upstream request. */
export interface Recorded {
  /** Full URL. */
  url: string;
  /** Request headers. */
  headers: Headers;
  /** Parsed JSON body. */
  body: Record<string, unknown>;
}

/** Decides the reply for a request (the recorded request is passed in). */
export type Responder = (request: Recorded, index: number) => Reply;

/** A fake upstream: a handler plus what it has seen. */
export interface FakeUpstream {
  /** Handles one request. Also usable as `fetch`. */
  fetch: (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;
  /** Every request received, in order. */
  requests: Recorded[];
}

const encoder = new TextEncoder();

/** Creates a fake upstream answering with `responder` (or a fixed list of replies, in turn). */
export function createFakeUpstream(responder: Responder | Reply[]): FakeUpstream {
  const requests: Recorded[] = [];
  const pick: Responder = Array.isArray(responder)
    ? (_, i) => responder[Math.min(i, responder.length - 1)]
    : responder;
  const fetchFn = async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    const text = await request.text();
    const recorded: Recorded = {
      url: request.url,
      headers: request.headers,
      body: text ? JSON.parse(text) : {},
    };
    requests.push(recorded);
    return respond(pick(recorded, requests.length - 1), request.signal);
  };
  return { fetch: fetchFn, requests };
}

function respond(reply: Reply, signal: AbortSignal): Response {
  const status = reply.status ?? 200;
  if (status >= 300 || reply.error) {
    return new Response(JSON.stringify(reply.error ?? { error: { message: "error" } }), {
      status,
      headers: { "content-type": "application/json", ...reply.headers },
    });
  }
  const chunks = reply.chunks ?? [];
  const interval = reply.intervalMs ?? 0;
  let i = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (signal.aborted) return controller.close();
      if (interval > 0 && i > 0) await new Promise((r) => setTimeout(r, interval));
      if (i < chunks.length) {
        const chunk = chunks[i++];
        const data = typeof chunk === "string" ? chunk : JSON.stringify(chunk);
        controller.enqueue(encoder.encode(`data: ${data}\n\n`));
        return;
      }
      if (reply.done !== false) controller.enqueue(encoder.encode("data: [DONE]\n\n"));
      controller.close();
    },
  });
  return new Response(body, {
    status,
    headers: { "content-type": "text/event-stream", ...reply.headers },
  });
}

const ENVELOPE = {
  id: "chatcmpl-fake",
  object: "chat.completion.chunk",
  created: 1_700_000_000,
  model: "fake",
};

/** One Chat Completions chunk with a delta (and optionally a finish reason). */
export function chunk(
  delta: Record<string, unknown>,
  finish: string | null = null,
): Record<string, unknown> {
  return { ...ENVELOPE, choices: [{ index: 0, delta, finish_reason: finish }] };
}

/** The usage chunk that `stream_options.include_usage` adds. */
export function usageChunk(
  prompt: number,
  completion: number,
  cached = 0,
): Record<string, unknown> {
  return {
    ...ENVELOPE,
    choices: [],
    usage: {
      prompt_tokens: prompt,
      completion_tokens: completion,
      total_tokens: prompt + completion,
      prompt_tokens_details: { cached_tokens: cached },
    },
  };
}

/** A text answer split into `pieces`. */
export function textReply(pieces: string[], usage = { prompt: 12, completion: 5 }): Reply {
  return {
    chunks: [
      chunk({ role: "assistant", content: "" }),
      ...pieces.map((content) => chunk({ content })),
      chunk({}, "stop"),
      usageChunk(usage.prompt, usage.completion),
    ],
  };
}

/** A tool-calling answer: optional text, then each call's arguments split in two fragments. */
export function toolReply(
  calls: Array<{ id: string; name: string; args: unknown }>,
  text?: string,
): Reply {
  const chunks: unknown[] = [chunk({ role: "assistant", content: null })];
  if (text) chunks.push(chunk({ content: text }));
  calls.forEach((call, index) => {
    const json = JSON.stringify(call.args);
    const half = Math.floor(json.length / 2);
    chunks.push(chunk({
      tool_calls: [{
        index,
        id: call.id,
        type: "function",
        function: { name: call.name, arguments: "" },
      }],
    }));
    chunks.push(chunk({ tool_calls: [{ index, function: { arguments: json.slice(0, half) } }] }));
    chunks.push(chunk({ tool_calls: [{ index, function: { arguments: json.slice(half) } }] }));
  });
  chunks.push(chunk({}, "tool_calls"), usageChunk(40, 20));
  return { chunks };
}

/** Serves a fake upstream on loopback; returns its base URL and a close function. */
export function serveFake(
  upstream: FakeUpstream,
): { url: string; close: () => Promise<void> } {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request) => upstream.fetch(request),
  );
  return { url: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() };
}
