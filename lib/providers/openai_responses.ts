/**
 * The OpenAI Responses API (`POST /responses`), where current reasoning models work best and some
 * work only: Anthropic request → Responses body, and the Responses event stream → Anthropic events.
 *
 * Reasoning survives the round trip statelessly: each reasoning item's id and
 * `encrypted_content` travel to the client inside the thinking block's signed envelope, and
 * come back as a reasoning item in front of the call it preceded.
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
import { streamFailure } from "../anthropic/errors.ts";
import type { FirstVerdict } from "../upstream/peek.ts";
import type { EventSourceMessage } from "../upstream/sse_reader.ts";
import { estimatedUsage, EventWriter, type MessageInit } from "../anthropic/events.ts";
import type { MessagesRequest, StopReason, StreamEvent, Usage } from "../anthropic/schema.ts";
import {
  bareDomains,
  choosesWebSearch,
  webSearchOf,
  type WebSearchSpec,
} from "../anthropic/web_search.ts";
import { decideEffort, openaiEffort } from "./effort.ts";
import { ResponsesSearch, type UrlCitation, type WebSearchCallItem } from "./responses_search.ts";
import { shortHash } from "../ids.ts";
import { type ModelInfo, openaiModelInfo } from "../routing/models.ts";
import type { Signer } from "../upstream/signature.ts";
import { callIdAlias, cleanSchema, openaiToolChoice } from "./openai_chat.ts";
import { OPENAI_TOOL_LIMITS, type ToolCount, upstreamTools } from "./tools.ts";

type Body = OpenAI.Responses.ResponseCreateParamsStreaming;
type InputItem = OpenAI.Responses.ResponseInputItem;
type InputContent = OpenAI.Responses.ResponseInputContent;

/** A translated request and what is needed to translate the answer back. */
export interface ResponsesTranslation {
  /** The `/responses` body. */
  body: Body;
  /** Upstream tool name → client tool name. */
  toolNames: Map<string, string>;
  /** Whether thinking blocks go back to the client (the client asked for thinking). */
  thinking: boolean;
  /** `display: "omitted"`. */
  omitThinkingText: boolean;
  /** Blocks left out (foreign thinking included), for the debug log. */
  dropped: string[];
  /** Tools declared upstream and client tools held back (deferred, not loaded), for the log. */
  toolCount: ToolCount;
  /** The client's web search tool, sent as the hosted `web_search` tool. */
  webSearch?: WebSearchSpec;
}

/** Options of {@link toResponsesRequest}. */
export interface ResponsesOptions {
  /** Verifies thinking signatures (only this provider's own reasoning is replayed). */
  signer: Signer;
  /** The provider name in envelopes (`openai`, `azure`). */
  provider: string;
  /** A stable per-conversation key (Claude Code's session id), hashed into `prompt_cache_key`. */
  sessionKey?: string;
  /** Leave reasoning items out (the retry after an upstream rejected them). */
  withoutReasoning?: boolean;
  /** Model limits; looked up from the model name when absent. */
  info?: ModelInfo;
  /** `search_context_size` of the hosted web search tool (the API's default when unset). */
  searchContextSize?: "low" | "medium" | "high";
  /** Leave the client's web search tool out (the endpoint has no hosted search). */
  withoutWebSearch?: boolean;
}

const BILLING_HEADER = /^x-anthropic-billing-header:/;

/** The envelope kind of this API's reasoning. */
export function envelopeKind(provider: string): string {
  return `${provider}_responses`;
}

/** Translates an Anthropic request into a streaming Responses request. */
export function toResponsesRequest(
  request: MessagesRequest,
  model: string,
  options: ResponsesOptions,
): ResponsesTranslation {
  const info = options.info ?? openaiModelInfo(model);
  const conversation = normalize(request);
  const { tools, held, toolNames, alias } = upstreamTools(
    request,
    options.provider,
    OPENAI_TOOL_LIMITS,
  );
  const intent = decideEffort(request.thinking, request.output_config?.effort);
  const thinking = info.reasoning && intent.requested && intent.effort !== "off";
  const dropped = [...conversation.dropped];
  const body: Body = {
    model,
    input: inputItems(conversation, alias, { ...options, model, dropped }),
    stream: true,
    store: false,
    max_output_tokens: Math.max(16, Math.min(request.max_tokens, info.maxOutput)),
  };
  const system = conversation.system.filter((text) => !BILLING_HEADER.test(text));
  if (system.length) body.instructions = system.join("\n\n");
  if (!info.reasoning) {
    if (request.temperature != null) body.temperature = request.temperature;
    if (request.top_p != null) body.top_p = request.top_p;
  } else {
    const reasoning: OpenAI.Reasoning = {};
    if (intent.effort) reasoning.effort = openaiEffort(intent.effort, info.minEffort);
    if (thinking && !intent.omitText) reasoning.summary = "auto";
    if (reasoning.effort || reasoning.summary) body.reasoning = reasoning;
    if (thinking) body.include = ["reasoning.encrypted_content"];
  }
  if (tools.length) {
    body.tools = tools.map((tool) => ({
      type: "function" as const,
      name: alias(tool.name),
      description: tool.description ?? "",
      parameters: cleanSchema(tool.input_schema),
      strict: false,
    }));
    const choice = openaiToolChoice(
      request.tool_choice,
      (name) => ({ type: "function" as const, name: alias(name) }),
    );
    if (choice) body.tool_choice = choice;
    if (singleToolCall(request.tool_choice)) body.parallel_tool_calls = false;
  }
  const webSearch = options.withoutWebSearch ? undefined : webSearchOf(request.tools);
  if (webSearch) addWebSearch(body, webSearch, request, options.searchContextSize);
  const format = request.output_config?.format ?? request.output_format;
  if (format) {
    body.text = {
      format: { type: "json_schema", name: "output", schema: format.schema, strict: false },
    };
  }
  const session = options.sessionKey ?? request.metadata?.user_id ?? undefined;
  if (session) body.prompt_cache_key = `ccproxy-${shortHash(session, 32)}`;
  return {
    body,
    toolNames,
    thinking,
    omitThinkingText: intent.omitText,
    dropped,
    toolCount: { sent: tools.length, held },
    webSearch,
  };
}

/**
 * The client's web search tool as the hosted `web_search` tool: allowed domains become its
 * filter (blocked ones are removed from the results on the way back), `user_location` is passed
 * on, `max_uses` caps the hosted tool calls, and each search's sources are asked for.
 */
function addWebSearch(
  body: Body,
  spec: WebSearchSpec,
  request: MessagesRequest,
  contextSize: ResponsesOptions["searchContextSize"],
): void {
  const tool: OpenAI.Responses.WebSearchTool = { type: "web_search" };
  if (spec.allowedDomains) tool.filters = { allowed_domains: bareDomains(spec.allowedDomains) };
  if (spec.userLocation) tool.user_location = { type: "approximate", ...spec.userLocation };
  if (contextSize) tool.search_context_size = contextSize;
  const functions = body.tools ?? [];
  body.tools = [...functions, tool];
  body.include = [...(body.include ?? []), "web_search_call.action.sources"];
  // web_search is the only hosted tool sent, so the cap counts searches alone.
  if (spec.maxUses) body.max_tool_calls = spec.maxUses;
  if (choosesWebSearch(request.tool_choice, spec)) {
    // No choice names a hosted tool: with nothing else to call, "required" means search.
    body.tool_choice = functions.length ? "auto" : "required";
  }
}

interface ReplayPayload {
  id: string;
  enc?: string;
}

function inputItems(
  conversation: Conversation,
  alias: (name: string) => string,
  options: ResponsesOptions & { model: string; dropped: string[] },
): InputItem[] {
  const items: InputItem[] = [];
  for (const turn of conversation.turns) {
    if (turn.role === "system") {
      items.push({ type: "message", role: "system", content: turn.text });
    } else if (turn.role === "user") {
      items.push({ type: "message", role: "user", content: turn.parts.map(inputPart) });
    } else {
      for (const item of turn.items) {
        if (item.kind === "text") {
          items.push({ type: "message", role: "assistant", content: item.text });
        } else if (item.kind === "call") {
          items.push({
            type: "function_call",
            call_id: callIdAlias(item.id),
            name: alias(item.name),
            arguments: JSON.stringify(item.input),
          });
        } else {
          const replay = ownReasoning(item.signature, options);
          if (!replay) {
            options.dropped.push("thinking (not this model's reasoning)");
            continue;
          }
          if (options.withoutReasoning) continue;
          items.push({
            type: "reasoning",
            id: replay.id,
            summary: item.text ? [{ type: "summary_text", text: item.text }] : [],
            encrypted_content: replay.enc,
          });
        }
      }
      for (const result of turn.results) {
        const texts = result.parts.flatMap((p) => p.kind === "text" ? [p.text] : []);
        const attached = result.parts.filter((p) => p.kind !== "text");
        let text = texts.join("\n");
        if (result.isError) text = `Error: ${text}`;
        const output = attached.length
          ? [...(text ? [{ type: "input_text" as const, text }] : []), ...attached.map(inputPart)]
          : text || "(no output)";
        items.push({
          type: "function_call_output",
          call_id: callIdAlias(result.id),
          output: output as string,
        });
      }
    }
  }
  return items;
}

/** The replay data of a thinking block this provider and model produced, else undefined. */
function ownReasoning(
  signature: string,
  options: ResponsesOptions & { model: string },
): ReplayPayload | undefined {
  const payload = options.signer.verify(signature);
  if (!payload || payload.p !== envelopeKind(options.provider) || payload.m !== options.model) {
    return undefined;
  }
  const data = payload.d as ReplayPayload | undefined;
  // Without encrypted content a reasoning item only references server state, which a
  // stateless (store: false) request cannot use.
  return data?.id && data.enc ? data : undefined;
}

function inputPart(part: Part): InputContent {
  switch (part.kind) {
    case "text":
      return { type: "input_text", text: part.text };
    case "image":
      return {
        type: "input_image",
        detail: "auto",
        image_url: part.url ?? `data:${part.mediaType};base64,${part.data}`,
      };
    case "pdf":
      if (part.url) return { type: "input_file", file_url: part.url };
      return {
        type: "input_file",
        filename: part.title || "document.pdf",
        file_data: `data:application/pdf;base64,${part.data}`,
      };
  }
}

// ---------------------------------------------------------------------------------------------
// Response stream
// ---------------------------------------------------------------------------------------------

/** What the stream translator needs besides the upstream events. */
export interface ResponsesStreamContext extends MessageInit {
  /** Upstream tool name → client tool name. */
  toolNames: Map<string, string>;
  /** Thinking blocks go to the client (it asked for thinking). */
  thinking: boolean;
  /** The backend model, named in envelopes. */
  upstreamModel: string;
  /** Provider name (`openai`, `azure`). */
  provider: string;
  /** Seals reasoning items into thinking-block signatures. */
  signer: Signer;
  /** The client's web search tool (sent as the hosted `web_search` tool). */
  webSearch?: WebSearchSpec;
}

type ResponseUsage = OpenAI.Responses.ResponseUsage;

/** Responses usage → Anthropic usage (cached input reported apart). */
export function responsesUsage(
  usage: ResponseUsage | undefined | null,
  estimate: number,
  chars: number,
): Usage {
  if (!usage) return estimatedUsage(estimate, chars);
  const cached = usage.input_tokens_details?.cached_tokens ?? 0;
  return {
    input_tokens: Math.max(0, usage.input_tokens - cached),
    output_tokens: usage.output_tokens,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: cached,
  };
}

interface StreamedEvent {
  type: string;
  item?: {
    type: string;
    id?: string;
    call_id?: string;
    name?: string;
    arguments?: string;
    encrypted_content?: string | null;
    content?: Array<{ annotations?: UrlCitation[] }>;
  };
  annotation?: UrlCitation | null;
  item_id?: string;
  delta?: string;
  summary_index?: number;
  response?: {
    usage?: ResponseUsage | null;
    status?: string;
    incomplete_details?: { reason?: string } | null;
    error?: { code?: string; message?: string } | null;
  };
  code?: string;
  message?: string;
}

/** Responses SSE messages → Anthropic events. */
export function responsesTranslator(
  context: ResponsesStreamContext,
  emit: (event: StreamEvent) => void,
): Translator {
  const out = new EventWriter(emit, context);
  let calls = 0;
  let refused = false;
  let done = false;
  let openCall: string | undefined;
  let argsSent = false;
  const search = context.webSearch ? new ResponsesSearch(context.webSearch) : undefined;
  const fail = (code: string | undefined, message: string | undefined) => {
    done = true;
    const mapped = streamFailure(
      context.provider,
      {
        message: message ?? "upstream failed",
        code,
      },
      context.model,
      true,
    );
    out.fail(mapped.type, mapped.message);
  };
  return {
    message(message) {
      if (done) return;
      let event: StreamedEvent;
      try {
        event = JSON.parse(message.data);
      } catch {
        return fail(undefined, `${context.provider}: upstream sent an event that is not JSON`);
      }
      switch (event.type) {
        case "response.created":
          out.start();
          break;
        case "response.output_item.added":
          if (event.item?.type === "message") search?.messageStart();
          if (event.item?.type === "function_call") {
            search?.flush(out);
            calls++;
            openCall = event.item.id;
            argsSent = false;
            const name = event.item.name ?? "";
            out.toolStart(
              sanitize(event.item.call_id ?? event.item.id ?? ""),
              context.toolNames.get(name) ?? name,
            );
          }
          break;
        case "response.reasoning_summary_part.added":
          if (context.thinking && (event.summary_index ?? 0) > 0) out.thinking("\n\n");
          break;
        case "response.reasoning_summary_text.delta":
          if (context.thinking) out.thinking(event.delta ?? "");
          break;
        case "response.output_text.delta":
          if (search) search.text(out, event.delta ?? "");
          else out.text(event.delta ?? "");
          break;
        case "response.output_text.annotation.added":
          search?.annotation(out, event.annotation);
          break;
        case "response.refusal.delta":
          refused = true;
          out.text(event.delta ?? "");
          break;
        case "response.function_call_arguments.delta":
          if (event.item_id === openCall && event.delta) {
            argsSent = true;
            out.toolArgs(event.delta);
          }
          break;
        case "response.output_item.done": {
          const item = event.item;
          if (item?.type === "reasoning" && context.thinking) {
            out.signature(context.signer.sign({
              p: envelopeKind(context.provider),
              m: context.upstreamModel,
              d: { id: item.id, enc: item.encrypted_content ?? undefined },
            }));
            out.closeBlock();
          } else if (item?.type === "function_call") {
            if (!argsSent && item.arguments) out.toolArgs(item.arguments);
            out.closeBlock();
            openCall = undefined;
          } else if (item?.type === "message") {
            if (search) {
              search.messageDone(
                out,
                item.content?.flatMap((c) => c.annotations ?? []),
              );
            } else out.closeBlock();
          } else if (item?.type === "web_search_call") {
            search?.call(item as unknown as WebSearchCallItem);
          }
          break;
        }
        case "response.completed":
        case "response.incomplete": {
          done = true;
          const reason = event.response?.incomplete_details?.reason;
          let stop: StopReason = calls > 0 ? "tool_use" : "end_turn";
          if (event.type === "response.incomplete") {
            stop = reason === "content_filter" ? "refusal" : "max_tokens";
          }
          if (refused) stop = "refusal";
          search?.flush(out);
          out.stop(
            stop,
            responsesUsage(event.response?.usage, context.inputTokens, out.outputChars),
          );
          break;
        }
        case "response.failed":
          fail(event.response?.error?.code, event.response?.error?.message);
          break;
        case "error":
          fail(event.code, event.message);
          break;
      }
    },
    end() {
      if (!done) {
        out.fail(
          "api_error",
          `${context.provider}: upstream stream ended before response.completed`,
        );
      }
    },
  };
}

/** {@link responsesTranslator} as a stream stage. */
export class ResponsesToAnthropicStream extends TranslateStream {
  constructor(context: ResponsesStreamContext) {
    super((emit) => responsesTranslator(context, emit));
  }
}

function sanitize(id: string): string {
  return id.replace(/[^a-zA-Z0-9_-]/g, "_") || "toolu_unknown";
}

/** True for the 400 an upstream gives when it cannot use a replayed reasoning item. */
export function rejectedReasoning(message: string): boolean {
  return /Item with id '?rs_|reasoning item|encrypted[_ ]content/i.test(message);
}

/** Responses events that come before anything is known about the answer. */
const PRELUDE = new Set(["response.created", "response.in_progress", "response.queued"]);

/**
 * The first Responses event past `response.created` decides whether the upstream answered: an
 * `error` or `response.failed` there is the HTTP error its code stands for.
 */
export function responsesFirstEvent(
  provider: string,
  model: string,
): (message: EventSourceMessage) => FirstVerdict {
  return (message) => {
    let event: StreamedEvent;
    try {
      event = JSON.parse(message.data);
    } catch {
      return "answered"; // the translator reports it
    }
    if (PRELUDE.has(event?.type)) return undefined;
    if (event?.type === "error") {
      return streamFailure(provider, { code: event.code, message: event.message }, model, false);
    }
    if (event?.type === "response.failed") {
      const error = event.response?.error;
      return streamFailure(provider, { code: error?.code, message: error?.message }, model, false);
    }
    return "answered";
  };
}
