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
  /** Stream chunks, each sent as one `data:` event (objects are JSON-encoded; a function is
   * called when its chunk is sent, so the chunk can carry its send time). */
  chunks?: Array<unknown>;
  /** End with `data: [DONE]` (default true). */
  done?: boolean;
  /** Pause between chunks in ms (benchmarks only; default 0). */
  intervalMs?: number;
  /** A plain JSON body instead of a stream (Gemini `countTokens`, …). */
  json?: unknown;
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
  if (reply.json !== undefined) {
    return new Response(JSON.stringify(reply.json), {
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
        const next = chunks[i++];
        const chunk = typeof next === "function" ? next() : next;
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

/** One step of a {@link scripted} conversation. */
export interface ScriptStep {
  /** Whether a request is the one this step answers (default: any). */
  when?: (request: Recorded) => boolean;
  /** The reply, or a function of the request that builds it. */
  reply: Reply | ((request: Recorded) => Reply);
}

/**
 * Scripted mode: a responder that walks `steps` in order. A request the current step accepts gets
 * that step's reply and moves the script on; any other request (a client's side queries, token
 * counts) is answered by `otherwise`. `done()` tells whether every step was played.
 */
export function scripted(
  steps: ScriptStep[],
  otherwise: Responder,
): Responder & { done: () => boolean } {
  let next = 0;
  const responder = (request: Recorded, index: number): Reply => {
    const step = steps[next];
    if (!step || (step.when && !step.when(request))) return otherwise(request, index);
    next++;
    return typeof step.reply === "function" ? step.reply(request) : step.reply;
  };
  return Object.assign(responder, { done: () => next === steps.length });
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

/** A tool call in a scripted reply. */
export interface FakeCall {
  /** Call id (OpenAI) — Gemini mints none. */
  id: string;
  /** Function name. */
  name: string;
  /** Arguments object. */
  args: unknown;
  /** Gemini thought signature on this call's part. */
  signature?: string;
}

/** Builds replies in one upstream protocol. */
export interface Dialect {
  /** A text answer in pieces. */
  text(pieces: string[], usage?: { prompt: number; completion: number }): Reply;
  /** Tool calls, optionally after some text. */
  tools(calls: FakeCall[], text?: string): Reply;
  /** Reasoning then an answer. */
  thinking(thought: string, answer: string): Reply;
  /** An error with the upstream's own body shape. */
  error(status: number, message: string): Reply;
}

const chatDialect: Dialect = {
  text: textReply,
  tools: (calls, text) => toolReply(calls, text),
  thinking: (thought, answer) => ({
    chunks: [
      chunk({ role: "assistant", reasoning_content: thought }),
      chunk({ content: answer }),
      chunk({}, "stop"),
      usageChunk(20, 30),
    ],
  }),
  error: (status, message) => ({
    status,
    error: { error: { message, type: "error", code: null } },
  }),
};

const GEMINI_STATUS: Record<number, string> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  429: "RESOURCE_EXHAUSTED",
  500: "INTERNAL",
  503: "UNAVAILABLE",
  504: "DEADLINE_EXCEEDED",
};

function geminiChunk(
  parts: unknown[],
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    candidates: [{ content: { role: "model", parts }, index: 0, ...extra }],
    modelVersion: "gemini-fake",
  };
}

/** Gemini usage metadata as a running total. */
export function geminiUsage(prompt: number, output: number, thoughts = 0): Record<string, unknown> {
  return {
    promptTokenCount: prompt,
    candidatesTokenCount: output,
    thoughtsTokenCount: thoughts,
    totalTokenCount: prompt + output + thoughts,
  };
}

const geminiDialect: Dialect = {
  text: (pieces, usage = { prompt: 12, completion: 5 }) => ({
    done: false,
    chunks: pieces.map((text, i) => ({
      ...geminiChunk([{ text }], i === pieces.length - 1 ? { finishReason: "STOP" } : {}),
      usageMetadata: geminiUsage(usage.prompt, i === pieces.length - 1 ? usage.completion : 1),
    })),
  }),
  tools: (calls, text) => ({
    done: false,
    chunks: [
      ...(text ? [geminiChunk([{ text }])] : []),
      {
        ...geminiChunk(
          calls.map((call) => ({
            functionCall: { name: call.name, args: call.args },
            ...(call.signature ? { thoughtSignature: call.signature } : {}),
          })),
          { finishReason: "STOP" },
        ),
        usageMetadata: geminiUsage(40, 20),
      },
    ],
  }),
  thinking: (thought, answer) => ({
    done: false,
    chunks: [
      geminiChunk([{ text: thought, thought: true }]),
      {
        ...geminiChunk([{ text: answer }], { finishReason: "STOP" }),
        usageMetadata: geminiUsage(20, 10, 20),
      },
    ],
  }),
  error: (status, message) => ({
    status,
    error: { error: { code: status, message, status: GEMINI_STATUS[status] ?? "UNKNOWN" } },
  }),
};

/** The names of the function tools a recorded request declares, per request format. */
export const TOOL_NAMES: Record<
  "chat" | "responses" | "gemini",
  (body: Record<string, unknown>) => string[]
> = {
  chat: (body) =>
    ((body.tools ?? []) as Array<{ function: { name: string } }>).map((t) => t.function.name),
  // Hosted tools (`web_search`) have no name.
  responses: (body) =>
    ((body.tools ?? []) as Array<{ type: string; name?: string }>)
      .filter((t) => t.type === "function").map((t) => t.name!),
  // `googleSearch` sits beside `functionDeclarations`.
  gemini: (body) =>
    ((body.tools ?? []) as Array<{ functionDeclarations?: Array<{ name: string }> }>)
      .flatMap((t) => (t.functionDeclarations ?? []).map((d) => d.name)),
};

/** Reply builders per upstream protocol (Azure speaks Chat Completions). */
export const DIALECTS: Record<"openai" | "azure" | "google", Dialect> = {
  openai: chatDialect,
  azure: chatDialect,
  google: geminiDialect,
};

/** One Responses stream: `response.created`, the given output events, then a terminal event. */
function responsesStream(
  output: unknown[],
  terminal: { type?: string; usage?: Record<string, unknown>; extra?: Record<string, unknown> } =
    {},
): Reply {
  const response = { id: "resp_fake", object: "response", status: "in_progress", output: [] };
  return {
    done: false,
    chunks: [
      { type: "response.created", response },
      ...output,
      {
        type: terminal.type ?? "response.completed",
        response: {
          ...response,
          status: terminal.type === "response.incomplete" ? "incomplete" : "completed",
          usage: terminal.usage ?? {
            input_tokens: 12,
            input_tokens_details: { cached_tokens: 0 },
            output_tokens: 5,
            output_tokens_details: { reasoning_tokens: 0 },
            total_tokens: 17,
          },
          ...terminal.extra,
        },
      },
    ],
  };
}

/** Responses events of one reasoning item with a summary and encrypted content. */
export function reasoningEvents(
  index: number,
  id: string,
  summary: string,
  encrypted: string,
): unknown[] {
  return [
    {
      type: "response.output_item.added",
      output_index: index,
      item: { type: "reasoning", id, summary: [] },
    },
    {
      type: "response.reasoning_summary_part.added",
      item_id: id,
      output_index: index,
      summary_index: 0,
    },
    {
      type: "response.reasoning_summary_text.delta",
      item_id: id,
      output_index: index,
      summary_index: 0,
      delta: summary,
    },
    {
      type: "response.output_item.done",
      output_index: index,
      item: {
        type: "reasoning",
        id,
        summary: [{ type: "summary_text", text: summary }],
        encrypted_content: encrypted,
      },
    },
  ];
}

function messageEvents(index: number, pieces: string[]): unknown[] {
  const id = `msg_fake${index}`;
  return [
    {
      type: "response.output_item.added",
      output_index: index,
      item: { type: "message", id, role: "assistant", content: [] },
    },
    ...pieces.map((delta) => ({
      type: "response.output_text.delta",
      item_id: id,
      output_index: index,
      content_index: 0,
      delta,
    })),
    {
      type: "response.output_item.done",
      output_index: index,
      item: { type: "message", id, role: "assistant" },
    },
  ];
}

function callEvents(index: number, call: FakeCall): unknown[] {
  const id = `fc_${call.id}`;
  const json = JSON.stringify(call.args);
  const half = Math.floor(json.length / 2);
  return [
    {
      type: "response.output_item.added",
      output_index: index,
      item: { type: "function_call", id, call_id: call.id, name: call.name, arguments: "" },
    },
    {
      type: "response.function_call_arguments.delta",
      item_id: id,
      output_index: index,
      delta: json.slice(0, half),
    },
    {
      type: "response.function_call_arguments.delta",
      item_id: id,
      output_index: index,
      delta: json.slice(half),
    },
    {
      type: "response.output_item.done",
      output_index: index,
      item: { type: "function_call", id, call_id: call.id, name: call.name, arguments: json },
    },
  ];
}

/** Builds Responses API replies; `reasoning` puts an encrypted reasoning item first. */
export function responsesDialect(
  reasoning?: { id: string; summary: string; encrypted: string },
): Dialect {
  const lead = () =>
    reasoning ? reasoningEvents(0, reasoning.id, reasoning.summary, reasoning.encrypted) : [];
  const offset = reasoning ? 1 : 0;
  return {
    text: (pieces, usage = { prompt: 12, completion: 5 }) =>
      responsesStream([...lead(), ...messageEvents(offset, pieces)], {
        usage: {
          input_tokens: usage.prompt,
          input_tokens_details: { cached_tokens: 0 },
          output_tokens: usage.completion,
          total_tokens: usage.prompt + usage.completion,
        },
      }),
    tools: (calls, text) =>
      responsesStream([
        ...lead(),
        ...(text ? messageEvents(offset, [text]) : []),
        ...calls.flatMap((call, i) => callEvents(offset + (text ? 1 : 0) + i, call)),
      ]),
    thinking: (thought, answer) =>
      responsesStream([
        ...reasoningEvents(0, "rs_think", thought, "ENC_think"),
        ...messageEvents(1, [answer]),
      ]),
    error: (status, message) => ({
      status,
      error: { error: { message, type: "error", code: null } },
    }),
  };
}

/**
 * An OpenAI Chat upstream that numbers its tool calls afresh in every answer, as llama.cpp and
 * vLLM do: while the conversation's last message is not a tool result it asks for `call` with
 * the id `call_0`; after a tool result it answers `text`. A proxy that passes that id through
 * gives a client the same tool_use id twice in one conversation.
 */
export function repeatingCallIds(
  call: { name: string; args: unknown },
  text: string[],
): Responder {
  return (request) => {
    const messages = (request.body.messages ?? []) as Array<{ role: string }>;
    const tools = (request.body.tools ?? []) as Array<{ function: { name: string } }>;
    if (messages.at(-1)?.role === "tool" || !tools.some((t) => t.function.name === call.name)) {
      return textReply(text);
    }
    return toolReply([{ id: "call_0", ...call }]);
  };
}

/** A page a fake search finds. */
export interface FakePage {
  /** Its url. */
  url: string;
  /** Its title. */
  title: string;
}

/** A scripted web search answer: the searches, the answer text, and what it cites. */
export interface FakeSearchAnswer {
  /** Each search's query and the pages it found. */
  searches: Array<{ query: string; pages: FakePage[] }>;
  /** The answer text, in streamed pieces. */
  pieces: string[];
  /** Cited stretches: `text` occurs in the answer and is supported by the pages given. */
  cites: Array<{ text: string; pages: FakePage[] }>;
  /** Client tool calls after the answer text (search beside client tools). */
  calls?: FakeCall[];
}

/**
 * One OpenAI `url_citation` per page of each cited stretch: the page, and where the stretch
 * stands in the answer by code point offsets (Responses and Chat count alike).
 */
function urlCitations(answer: FakeSearchAnswer) {
  const text = answer.pieces.join("");
  const codePoints = (at: number) => [...text.slice(0, at)].length;
  return answer.cites.flatMap((cite) => {
    const at = text.indexOf(cite.text);
    if (at < 0) throw new Error(`cited text not in the answer: ${cite.text}`);
    return cite.pages.map((page) => ({
      url: page.url,
      title: page.title,
      start_index: codePoints(at),
      end_index: codePoints(at + cite.text.length),
    }));
  });
}

/**
 * The Responses stream of a hosted web search: a `web_search_call` item per search (with its
 * sources, as `include: ["web_search_call.action.sources"]` asks), then a message whose text
 * carries `url_citation` annotations over each cited stretch (code point offsets).
 */
export function responsesSearchReply(answer: FakeSearchAnswer): Reply {
  const text = answer.pieces.join("");
  const annotations = urlCitations(answer).map((cited) => ({ type: "url_citation", ...cited }));
  const searchEvents = answer.searches.flatMap((search, i) => {
    const id = `ws_fake${i}`;
    const item = { type: "web_search_call", id, status: "in_progress" };
    return [
      { type: "response.output_item.added", output_index: i, item },
      { type: "response.web_search_call.in_progress", output_index: i, item_id: id },
      { type: "response.web_search_call.searching", output_index: i, item_id: id },
      { type: "response.web_search_call.completed", output_index: i, item_id: id },
      {
        type: "response.output_item.done",
        output_index: i,
        item: {
          ...item,
          status: "completed",
          action: {
            type: "search",
            query: search.query,
            sources: search.pages.map((p) => ({ type: "url", url: p.url })),
          },
        },
      },
    ];
  });
  const index = answer.searches.length;
  const id = "msg_fake_search";
  const message = { type: "message", id, role: "assistant", status: "in_progress", content: [] };
  return responsesStream([
    ...searchEvents,
    { type: "response.output_item.added", output_index: index, item: message },
    ...answer.pieces.map((delta) => ({
      type: "response.output_text.delta",
      item_id: id,
      output_index: index,
      content_index: 0,
      delta,
    })),
    ...annotations.map((annotation, i) => ({
      type: "response.output_text.annotation.added",
      item_id: id,
      output_index: index,
      content_index: 0,
      annotation_index: i,
      annotation,
    })),
    {
      type: "response.output_item.done",
      output_index: index,
      item: {
        ...message,
        status: "completed",
        content: [{ type: "output_text", text, annotations }],
      },
    },
    ...(answer.calls ?? []).flatMap((call, i) => callEvents(index + 1 + i, call)),
  ]);
}

/**
 * The Gemini stream of a grounded answer: the text in chunks, the last one with `finishReason`
 * and `groundingMetadata` (queries, chunks with redirect uris and the site as title, supports
 * by UTF-8 byte offsets).
 */
export function geminiSearchReply(answer: FakeSearchAnswer): Reply {
  const text = answer.pieces.join("");
  const bytes = (s: string) => new TextEncoder().encode(s).length;
  const pages = answer.searches.flatMap((s) => s.pages);
  const redirect = (page: FakePage) =>
    `https://vertexaisearch.cloud.google.com/grounding-api-redirect/${
      encodeURIComponent(page.url)
    }`;
  const site = (page: FakePage) => new URL(page.url).hostname.replace(/^www\./, "");
  const groundingMetadata = {
    webSearchQueries: answer.searches.map((s) => s.query),
    groundingChunks: pages.map((page) => ({ web: { uri: redirect(page), title: site(page) } })),
    groundingSupports: answer.cites.map((cite) => {
      const at = text.indexOf(cite.text);
      if (at < 0) throw new Error(`cited text not in the answer: ${cite.text}`);
      const start = bytes(text.slice(0, at));
      return {
        // Zero is left out of the JSON, as Gemini does.
        segment: {
          ...(start ? { startIndex: start } : {}),
          endIndex: start + bytes(cite.text),
          text: cite.text,
        },
        groundingChunkIndices: cite.pages.map((p) => pages.indexOf(p)),
      };
    }),
    searchEntryPoint: { renderedContent: "<div>…</div>" },
  };
  const last = answer.pieces.length - 1;
  const calls = (answer.calls ?? []).map((call) => ({
    functionCall: { name: call.name, args: call.args },
    ...(call.signature ? { thoughtSignature: call.signature } : {}),
  }));
  return {
    done: false,
    chunks: answer.pieces.map((piece, i) => ({
      ...geminiChunk(
        [{ text: piece }, ...(i === last ? calls : [])],
        i === last ? { finishReason: "STOP", groundingMetadata } : {},
      ),
      usageMetadata: geminiUsage(30, i === last ? 40 : 1),
    })),
  };
}

/**
 * The Chat Completions stream of a search model (`gpt-4o-search-preview`): the text, then a chunk
 * with only `delta.annotations` (`url_citation`s by code point offsets) and the finish reason.
 */
export function chatSearchReply(answer: FakeSearchAnswer): Reply {
  const annotations = urlCitations(answer).map((cited) => ({
    type: "url_citation",
    url_citation: cited,
  }));
  return {
    chunks: [
      chunk({ role: "assistant", content: "" }),
      ...answer.pieces.map((content) => chunk({ content })),
      chunk({ annotations }, "stop"),
      usageChunk(30, 40),
    ],
  };
}

/** `chunks` of SSE text as an upstream's `text/event-stream` answer, one read each. */
export function sseResponse(...chunks: string[]): Response {
  const encoder = new TextEncoder();
  return new Response(ReadableStream.from(chunks.map((c) => encoder.encode(c))), {
    headers: { "content-type": "text/event-stream" },
  });
}

/** One event of an Anthropic Messages stream, as an Anthropic-compatible upstream sends it. */
export function anthropicEvent(event: { type: string } & Record<string, unknown>): string {
  return `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

/** The `message_start` an Anthropic-compatible upstream sends first: no content, 3 input tokens. */
export const ANTHROPIC_START = anthropicEvent({
  type: "message_start",
  message: {
    id: "msg_up",
    type: "message",
    role: "assistant",
    model: "claude",
    content: [],
    stop_reason: null,
    stop_sequence: null,
    usage: { input_tokens: 3, output_tokens: 0 },
  },
});
