/**
 * OpenAI Chat Completions (and every OpenAI-compatible server): Anthropic request →
 * `chat/completions` body, and the upstream SSE stream → Anthropic events.
 *
 * @module
 */
import { TranslateStream, type Translator } from "../upstream/translate.ts";
import type OpenAI from "openai";
import {
  type Conversation,
  normalize,
  type Part,
  singleToolCall,
} from "../anthropic/conversation.ts";
import { type ProxyError, streamFailure } from "../anthropic/errors.ts";
import type { FirstVerdict } from "../upstream/peek.ts";
import type { EventSourceMessage } from "../upstream/sse_reader.ts";
import { estimatedUsage, EventWriter, type MessageInit } from "../anthropic/events.ts";
import type {
  MessagesRequest,
  StopReason,
  StreamEvent,
  ToolChoice,
  Usage,
} from "../anthropic/schema.ts";
import { decideEffort, openaiEffort } from "./effort.ts";
import { ChatSearch, chatSearchOf, type ChatSearchSpec, webSearchOptions } from "./chat_search.ts";
import { randomId, shortHash } from "../ids.ts";
import { parses } from "../anthropic/json_complete.ts";
import { type ModelInfo, openaiModelInfo } from "../routing/models.ts";
import { fitToolName, OPENAI_TOOL_LIMITS, type ToolCount, upstreamTools } from "./tools.ts";

type ChatBody = OpenAI.Chat.ChatCompletionCreateParamsStreaming;
type ChatMessage = OpenAI.Chat.ChatCompletionMessageParam;
type ChatPart = OpenAI.Chat.ChatCompletionContentPart;
type ChatChunk = OpenAI.Chat.ChatCompletionChunk;

/** A translated request and what is needed to translate the answer back. */
export interface ChatTranslation {
  /** The `chat/completions` body. */
  body: ChatBody;
  /** Upstream tool name → the name the client declared (for aliased long names). */
  toolNames: Map<string, string>;
  /** Blocks and fields left out, for the debug log. */
  dropped: string[];
  /** `display: "omitted"`: thinking blocks (from `reasoning_content`) keep no text. */
  omitThinkingText: boolean;
  /** Tools declared upstream and client tools held back (deferred, not loaded), for the log. */
  toolCount: ToolCount;
  /** A search model's search (the model searches by itself). */
  webSearch?: ChatSearchSpec;
}

/** Options of {@link toChatRequest}. */
export interface ChatOptions {
  /** Model limits; looked up from the model name when absent. */
  info?: ModelInfo;
  /** Send `max_tokens` instead of `max_completion_tokens` even for new models (old servers). */
  legacyMaxTokens?: boolean;
  /** The backend named in limit errors (default `openai`). */
  provider?: string;
  /** `search_context_size` for a search model. */
  searchContextSize?: "low" | "medium" | "high";
}

const ID_PATTERN = /^[a-zA-Z0-9_-]{1,40}$/;
const BILLING_HEADER = /^x-anthropic-billing-header:/;

/** Translates an Anthropic request into a streaming Chat Completions request. */
export function toChatRequest(
  request: MessagesRequest,
  model: string,
  options: ChatOptions = {},
): ChatTranslation {
  const info = options.info ?? openaiModelInfo(model);
  const conversation = normalize(request);
  const { tools, held, toolNames, alias } = upstreamTools(
    request,
    options.provider ?? "openai",
    OPENAI_TOOL_LIMITS,
  );

  const body: ChatBody = {
    model,
    messages: chatMessages(conversation, alias),
    stream: true,
    stream_options: { include_usage: true },
  };
  const maxTokens = Math.max(1, Math.min(request.max_tokens, info.maxOutput));
  if (info.reasoning && !options.legacyMaxTokens) body.max_completion_tokens = maxTokens;
  else body.max_tokens = maxTokens;

  const webSearch = chatSearchOf(request, model);
  if (webSearch) {
    (body as { web_search_options?: unknown }).web_search_options = webSearchOptions(
      webSearch.spec,
      options.searchContextSize,
    );
  } else if (!info.reasoning) {
    // (Search models take no sampling parameters.)
    if (request.temperature != null) body.temperature = request.temperature;
    if (request.top_p != null) body.top_p = request.top_p;
  }
  if (request.stop_sequences?.length && !info.noStop) {
    body.stop = request.stop_sequences.slice(0, 4);
  }
  if (tools.length) {
    body.tools = tools.map((tool) => ({
      type: "function",
      function: {
        name: alias(tool.name),
        description: tool.description ?? "",
        parameters: cleanSchema(tool.input_schema),
      },
    }));
    const choice = openaiToolChoice(
      request.tool_choice,
      (name) => ({ type: "function" as const, function: { name: alias(name) } }),
    );
    if (choice) body.tool_choice = choice;
    if (singleToolCall(request.tool_choice)) body.parallel_tool_calls = false;
  }
  const intent = decideEffort(request.thinking, request.output_config?.effort);
  if (info.reasoning && intent.effort) {
    body.reasoning_effort = openaiEffort(intent.effort, info.minEffort);
  }
  const format = request.output_config?.format ?? request.output_format;
  if (format) {
    body.response_format = {
      type: "json_schema",
      json_schema: { name: "output", schema: format.schema, strict: false },
    };
  }
  return {
    body,
    toolNames,
    dropped: conversation.dropped,
    omitThinkingText: intent.omitText,
    toolCount: { sent: tools.length, held },
    webSearch,
  };
}

/** A tool's `input_schema` for OpenAI: `$schema` removed, a root `type` guaranteed. */
export function cleanSchema(schema: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!schema) return { type: "object", properties: {} };
  const { $schema: _, ...rest } = schema;
  if (rest.type === undefined) rest.type = "object";
  return rest;
}

/** Valid OpenAI function names: long or unusual names get a stable alias. */
export function toolAlias(name: string): string {
  return fitToolName(name, OPENAI_TOOL_LIMITS);
}

/** Valid OpenAI tool-call ids: long or unusual ids (Gemini-carried signatures) get an alias. */
export function callIdAlias(id: string): string {
  return ID_PATTERN.test(id) ? id : `call_${shortHash(id, 24).replace(/[^a-zA-Z0-9_-]/g, "_")}`;
}

/**
 * `tool_choice` for OpenAI's APIs: `any` is `required`; a named tool takes the shape `named`
 * gives (Chat and Responses spell it differently); no choice sends nothing.
 */
export function openaiToolChoice<Named>(
  choice: ToolChoice | undefined,
  named: (name: string) => Named,
): "auto" | "required" | "none" | Named | undefined {
  switch (choice?.type) {
    case "any":
      return "required";
    case "tool":
      return named(choice.name);
    case "none":
      return "none";
    case "auto":
      return "auto";
  }
  return undefined;
}

function chatMessages(conversation: Conversation, alias: (name: string) => string): ChatMessage[] {
  const messages: ChatMessage[] = [];
  const system = conversation.system.filter((text) => !BILLING_HEADER.test(text));
  if (system.length) messages.push({ role: "system", content: system.join("\n\n") });
  for (const turn of conversation.turns) {
    if (turn.role === "system") {
      messages.push({ role: "system", content: turn.text });
    } else if (turn.role === "user") {
      pushUser(messages, turn.parts);
    } else {
      const text = turn.items.flatMap((item) => item.kind === "text" ? [item.text] : []);
      const calls = turn.items.flatMap((item) => item.kind === "call" ? [item] : []);
      if (!text.length && !calls.length) continue;
      const message: OpenAI.Chat.ChatCompletionAssistantMessageParam = {
        role: "assistant",
        content: text.length ? text.join("\n\n") : null,
      };
      if (calls.length) {
        message.tool_calls = calls.map((call) => ({
          id: callIdAlias(call.id),
          type: "function",
          function: { name: alias(call.name), arguments: JSON.stringify(call.input) },
        }));
      }
      messages.push(message);
      const images: Part[] = [];
      for (const result of turn.results) {
        const texts = result.parts.flatMap((p) => p.kind === "text" ? [p.text] : []);
        const attached = result.parts.filter((p) => p.kind !== "text");
        for (const part of attached) images.push(part); // no spread: client-sized
        let content = texts.join("\n");
        if (attached.length) {
          content += `${
            content ? "\n" : ""
          }[${attached.length} attachment(s) follow in the next message]`;
        }
        if (result.isError) content = `Error: ${content}`;
        messages.push({
          role: "tool",
          tool_call_id: callIdAlias(result.id),
          content: content || "(no output)",
        });
      }
      if (images.length) pushUser(messages, images);
    }
  }
  return messages;
}

/** Adds a user message, merged into a preceding user message so roles still alternate. */
function pushUser(messages: ChatMessage[], parts: Part[]): void {
  const content = parts.map(chatPart);
  const last = messages.at(-1);
  if (last?.role === "user") {
    const previous = typeof last.content === "string"
      ? [{ type: "text" as const, text: last.content }]
      : last.content;
    last.content = [...previous, ...content];
    return;
  }
  const onlyText = content.length === 1 && content[0].type === "text";
  messages.push({
    role: "user",
    content: onlyText ? (content[0] as { text: string }).text : content,
  });
}

function chatPart(part: Part): ChatPart {
  switch (part.kind) {
    case "text":
      return { type: "text", text: part.text };
    case "image":
      return {
        type: "image_url",
        image_url: { url: part.url ?? `data:${part.mediaType};base64,${part.data}` },
      };
    case "pdf":
      if (part.url) return { type: "text", text: `[PDF document: ${part.url}]` };
      return {
        type: "file",
        file: {
          filename: part.title || "document.pdf",
          file_data: `data:application/pdf;base64,${part.data}`,
        },
      };
  }
}

/** What the stream translator needs besides the upstream events. */
export interface ChatStreamContext extends MessageInit {
  /** Upstream tool name → client tool name. */
  toolNames: Map<string, string>;
  /** The backend model, named in signatures and errors. */
  upstreamModel: string;
  /** Provider name for error messages (`openai`, `azure`). */
  provider: string;
  /** Called with each content-filter result the upstream reports (Azure). */
  onFilter?: (reason: string) => void;
  /** A search model's search: its text waits for the citations. */
  webSearch?: ChatSearchSpec;
}

interface PendingCall {
  id: string;
  name: string;
  args: string;
}

const FINISH: Record<string, StopReason> = {
  stop: "end_turn",
  length: "max_tokens",
  tool_calls: "tool_use",
  function_call: "tool_use",
  content_filter: "refusal",
};

/**
 * Chat Completions SSE messages → Anthropic events.
 *
 * Tool-call fragments are keyed by `index` (else `id`) and forwarded as they come. When a
 * second call starts while the first one's JSON is still incomplete (a server interleaving
 * calls), the second is buffered and emitted once the first is done, so no fragment is lost
 * and no closed block is reopened.
 */
export function chatTranslator(
  context: ChatStreamContext,
  emit: (event: StreamEvent) => void,
): Translator {
  const out = new EventWriter(emit, context);
  out.start();
  const calls = new Map<string, PendingCall>();
  const queue: string[] = [];
  let open: string | undefined;
  let finish: string | undefined;
  let usage: ChatChunk["usage"] | undefined;
  let refused = false;
  let sawCalls = false;
  let done = false;
  const search = context.webSearch ? new ChatSearch(context.webSearch) : undefined;

  const openCall = (key: string) => {
    const call = calls.get(key)!;
    open = key;
    out.toolStart(call.id, context.toolNames.get(call.name) ?? call.name);
    out.toolArgs(call.args);
  };
  const drainQueue = (force: boolean) => {
    while (queue.length) {
      if (open !== undefined && !force && !parses(calls.get(open)!.args)) return;
      openCall(queue.shift()!);
    }
  };
  const onCall = (delta: NonNullable<ChatChunk["choices"][0]["delta"]["tool_calls"]>[0]) => {
    sawCalls = true;
    const key = delta.index !== undefined ? `i${delta.index}` : delta.id ? `d${delta.id}` : open;
    const fragment = delta.function?.arguments ?? "";
    if (key === undefined || !calls.has(key)) {
      const newKey = key ?? `n${calls.size}`;
      calls.set(newKey, {
        id: sanitizeId(delta.id) ?? randomId("toolu_"),
        name: delta.function?.name ?? "",
        args: fragment,
      });
      if (open === undefined || out.ended) openCall(newKey);
      else queue.push(newKey);
      drainQueue(false);
      return;
    }
    const call = calls.get(key)!;
    call.args += fragment;
    if (!call.name && delta.function?.name) call.name = delta.function.name;
    if (key === open) out.toolArgs(fragment);
    drainQueue(false);
  };
  const end = () => {
    if (done) return;
    done = true;
    if (finish === undefined) {
      out.fail("api_error", `${context.provider}: upstream stream ended without a finish reason`);
      return;
    }
    drainQueue(true);
    let reason = FINISH[finish] ?? "end_turn";
    if (sawCalls && reason === "end_turn") reason = "tool_use";
    if (refused) reason = "refusal";
    search?.end(out);
    out.stop(reason, chatUsage(usage, context.inputTokens, out.outputChars));
  };

  return {
    message(message) {
      if (done) return;
      if (message.data === "[DONE]") return end();
      let chunk: ChatChunk & { error?: unknown };
      try {
        chunk = JSON.parse(message.data);
      } catch {
        done = true;
        out.fail("api_error", `${context.provider}: upstream sent a chunk that is not JSON`);
        return;
      }
      if (message.event === "error" || chunk.error) {
        // One before any content never gets here: chatFirstEvent made it an HTTP error.
        done = true;
        const mapped = streamFailure(context.provider, errorObject(chunk), context.model, true);
        out.fail(mapped.type, mapped.message);
        return;
      }
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices?.[0];
      if (!choice) return;
      const delta = (choice.delta ?? {}) as ChatChunk["choices"][0]["delta"] & {
        reasoning_content?: string | null;
        reasoning?: string | null;
      };
      const reasoning = delta.reasoning_content ?? delta.reasoning;
      if (reasoning) out.thinking(reasoning);
      if (delta.content) {
        if (open !== undefined) {
          drainQueue(true);
          out.closeBlock();
          open = undefined;
        }
        if (search) search.text(out, delta.content);
        else out.text(delta.content);
      }
      search?.annotations(out, (delta as { annotations?: unknown }).annotations);
      if (delta.refusal) {
        refused = true;
        out.text(delta.refusal);
      }
      for (const call of delta.tool_calls ?? []) onCall(call);
      if (choice.finish_reason) {
        finish = choice.finish_reason;
        const filter = (choice as { content_filter_results?: unknown }).content_filter_results;
        if (finish === "content_filter") context.onFilter?.(JSON.stringify(filter ?? {}));
      }
    },
    end,
  };
}

/** {@link chatTranslator} as a stream stage. */
export class ChatToAnthropicStream extends TranslateStream {
  constructor(context: ChatStreamContext) {
    super((emit) => chatTranslator(context, emit));
  }
}

function sanitizeId(id: string | undefined | null): string | undefined {
  if (!id) return undefined;
  const safe = id.replace(/[^a-zA-Z0-9_-]/g, "_");
  return safe || undefined;
}

/** Chat usage → Anthropic usage (cached prompt tokens reported apart, never 0 input). */
export function chatUsage(
  usage: ChatChunk["usage"] | undefined,
  inputEstimate: number,
  outputChars: number,
): Usage {
  if (!usage) return estimatedUsage(inputEstimate, outputChars);
  const cached = usage.prompt_tokens_details?.cached_tokens ?? 0;
  const written = (usage.prompt_tokens_details as { cache_write_tokens?: number } | undefined)
    ?.cache_write_tokens ?? 0;
  return {
    input_tokens: Math.max(0, (usage.prompt_tokens ?? 0) - cached - written),
    output_tokens: usage.completion_tokens ?? 0,
    cache_creation_input_tokens: written,
    cache_read_input_tokens: cached,
  };
}

/** The error object of an in-stream error chunk (`{"error": {…}}`, or the chunk itself). */
function errorObject(
  chunk: { error?: unknown },
): { message?: unknown; code?: unknown; type?: unknown } {
  const error = chunk.error ?? chunk;
  return error && typeof error === "object" ? error : { message: error };
}

/**
 * The first Chat chunk decides whether the upstream answered: an error object as the very first
 * event (OpenRouter's 200 + `{"error":{"code":429}}`) is the HTTP error its code stands for.
 */
export function chatFirstEvent(
  provider: string,
  model: string,
): (message: EventSourceMessage) => FirstVerdict {
  return (message): ProxyError | "answered" => {
    if (message.data === "[DONE]") return "answered";
    let chunk: { error?: unknown };
    try {
      chunk = JSON.parse(message.data);
    } catch {
      return "answered"; // the translator reports it
    }
    if (!chunk || typeof chunk !== "object") return "answered";
    if (message.event !== "error" && !chunk.error) return "answered";
    return streamFailure(provider, errorObject(chunk), model, false);
  };
}
