/**
 * Google Gemini, native Developer API: Anthropic request → `GenerateContentRequest`, the
 * `streamGenerateContent?alt=sse` stream → Anthropic events, errors, and `countTokens`.
 *
 * Thought signatures travel in the Anthropic `tool_use.id`, the one field every client sends back
 * unchanged (thinking blocks are dropped by some clients and settings): see {@link callId}.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { TranslateStream, type Translator } from "../upstream/translate.ts";
import { readErrorBody } from "../upstream/error_body.ts";
import { isRedirect, NO_REDIRECT, redirectFailure } from "../upstream/redirect.ts";
import {
  type Conversation,
  normalize,
  type Part,
  singleToolCall,
} from "../anthropic/conversation.ts";
import { fromUpstream, keyRefused, ProxyError, unreachable } from "../anthropic/errors.ts";
import { estimatedUsage, EventWriter, type MessageInit } from "../anthropic/events.ts";
import type {
  CountTokensRequest,
  MessagesRequest,
  StopReason,
  StreamEvent,
  ToolChoice,
  Usage,
} from "../anthropic/schema.ts";
import { choosesWebSearch, webSearchOf, type WebSearchSpec } from "../anthropic/web_search.ts";
import { GeminiGrounding, type GroundingMetadata } from "./gemini_grounding.ts";
import { decideEffort, type Effort, type ThinkingIntent } from "./effort.ts";
import { randomId } from "../ids.ts";
import { type GeminiModelInfo, geminiModelInfo } from "../routing/models.ts";
import type { Signer } from "../upstream/signature.ts";
import { fitToolName, GEMINI_TOOL_LIMITS, type ToolCount, upstreamTools } from "./tools.ts";

/** A Gemini part (the fields the proxy uses). */
export interface GeminiPart {
  text?: string;
  thought?: boolean;
  thoughtSignature?: string;
  inlineData?: { mimeType: string; data: string };
  functionCall?: { name: string; args?: Record<string, unknown>; id?: string };
  functionResponse?: { name: string; response: Record<string, unknown>; id?: string };
}

/** A Gemini content. */
export interface GeminiContent {
  role: "user" | "model";
  parts: GeminiPart[];
}

/** The request body. */
export interface GeminiRequest {
  contents: GeminiContent[];
  systemInstruction?: { parts: Array<{ text: string }> };
  tools?: Array<
    { functionDeclarations: Array<Record<string, unknown>> } | {
      googleSearch: Record<string, never>;
    }
  >;
  toolConfig?: {
    functionCallingConfig?: { mode: string; allowedFunctionNames?: string[] };
    /** Gemini 3: built-in tool calls show in the answer, which lets them mix with functions. */
    includeServerSideToolInvocations?: boolean;
  };
  generationConfig: Record<string, unknown>;
}

/** A translated request and what is needed to translate the answer back. */
export interface GeminiTranslation {
  /** The `generateContent` body. */
  body: GeminiRequest;
  /** Upstream function name → the name the client declared. */
  toolNames: Map<string, string>;
  /** `disable_parallel_tool_use`: only the first call of a reply goes back. */
  singleCall: boolean;
  /** Blocks left out, for the debug log. */
  dropped: string[];
  /** Tools declared upstream and client tools held back (deferred, not loaded), for the log. */
  toolCount: ToolCount;
  /** The client's web search tool, sent as `googleSearch` grounding. */
  webSearch?: WebSearchSpec;
}

/** The documented value that lets Gemini 3 accept calls whose signature was lost. */
export const SKIP_SIGNATURE = "skip_thought_signature_validator";

// ---------------------------------------------------------------------------------------------
// Thought signatures inside tool_use ids.
//
// `toolu_g` + 12-char nonce + 12-char MAC + `_` + mode + payload, where mode `b` means the
// signature (standard base64) with its alphabet swapped to base64url and padding removed, and
// mode `r` means the signature's UTF-8 bytes in base64url (for anything not canonical base64).
// The id still matches `^[a-zA-Z0-9_-]+$`, and the MAC (keyed with SIGNATURE_SECRET) rejects
// forged or foreign ids.
// ---------------------------------------------------------------------------------------------

const CALL_PREFIX = "toolu_g";
const HEAD = CALL_PREFIX.length + 24;

function toUrl(base64: string): string {
  return base64.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromUrl(url: string): string {
  const std = url.replace(/-/g, "+").replace(/_/g, "/");
  return std + "=".repeat((4 - (std.length % 4)) % 4);
}

/** The tool_use id for a Gemini function call, carrying its thought signature when it has one. */
export function callId(signature: string | undefined, signer: Signer): string {
  if (!signature) return randomId("toolu_");
  const nonce = randomId("", 12);
  const swapped = toUrl(signature);
  const payload = fromUrl(swapped) === signature
    ? `b${swapped}`
    : `r${Buffer.from(signature).toString("base64url")}`;
  return `${CALL_PREFIX}${nonce}${signer.tag(nonce + payload)}_${payload}`;
}

/** The thought signature carried by an id from {@link callId}; undefined for any other id. */
export function signatureOf(id: string, signer: Signer): string | undefined {
  if (!id.startsWith(CALL_PREFIX) || id[HEAD] !== "_") return undefined;
  const nonce = id.slice(CALL_PREFIX.length, CALL_PREFIX.length + 12);
  const tag = id.slice(CALL_PREFIX.length + 12, HEAD);
  const payload = id.slice(HEAD + 1);
  if (signer.tag(nonce + payload) !== tag) return undefined;
  const body = payload.slice(1);
  if (payload[0] === "b") return fromUrl(body);
  if (payload[0] === "r") return Buffer.from(body, "base64url").toString();
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------------------------

const BILLING_HEADER = /^x-anthropic-billing-header:/;

/** A valid Gemini function name for `name` (stable alias when the name does not fit). */
export function geminiToolName(name: string): string {
  return fitToolName(name, GEMINI_TOOL_LIMITS);
}

/** Translates an Anthropic request into a Gemini `GenerateContentRequest`. */
export function toGeminiRequest(
  request: MessagesRequest,
  model: string,
  signer: Signer,
): GeminiTranslation {
  const info = geminiModelInfo(model);
  const conversation = normalize(request);
  const { tools, held, toolNames, alias } = upstreamTools(request, "gemini", GEMINI_TOOL_LIMITS);
  const body: GeminiRequest = {
    contents: geminiContents(conversation, alias, signer, info.thinking === "level"),
    generationConfig: generationConfig(request, info),
  };
  const system = conversation.system.filter((text) => !BILLING_HEADER.test(text));
  if (system.length) body.systemInstruction = { parts: system.map((text) => ({ text })) };
  let webSearch = webSearchOf(request.tools);
  if (webSearch && tools.length && !mixesSearch(model)) {
    // Gemini 2.x refuses googleSearch beside function declarations: the client's own tools
    // are what its work depends on, so they stay and this request cannot search.
    conversation.dropped.push("web_search (Gemini 2.x cannot mix googleSearch with functions)");
    webSearch = undefined;
  }
  if (tools.length) {
    body.tools = [{
      functionDeclarations: tools.map((tool) => ({
        name: alias(tool.name),
        description: tool.description ?? "",
        parametersJsonSchema: cleanSchema(tool.input_schema),
      })),
    }];
    const forcedSearch = webSearch && choosesWebSearch(request.tool_choice, webSearch);
    const config = forcedSearch ? undefined : toolConfig(request.tool_choice, alias);
    if (config) body.toolConfig = { functionCallingConfig: config };
  }
  if (webSearch) {
    body.tools = [...(body.tools ?? []), { googleSearch: {} }];
    if (tools.length) {
      body.toolConfig = { ...body.toolConfig, includeServerSideToolInvocations: true };
    }
  }
  const singleCall = singleToolCall(request.tool_choice);
  return {
    body,
    toolNames,
    singleCall,
    dropped: conversation.dropped,
    toolCount: { sent: tools.length, held },
    webSearch,
  };
}

/** Gemini 3 and later combine built-in tools (googleSearch) with function calling. */
function mixesSearch(model: string): boolean {
  return geminiModelInfo(model).thinking === "level";
}

function toolConfig(
  choice: ToolChoice | undefined,
  alias: (name: string) => string,
): { mode: string; allowedFunctionNames?: string[] } | undefined {
  switch (choice?.type) {
    case "auto":
      return { mode: "AUTO" };
    case "any":
      return { mode: "ANY" };
    case "tool":
      return { mode: "ANY", allowedFunctionNames: [alias(choice.name)] };
    case "none":
      return { mode: "NONE" };
  }
  return undefined;
}

/**
 * JSON Schema for `parametersJsonSchema`: root `$schema` removed, local `$ref`s inlined (and
 * `$defs` / `definitions` dropped), and a root `{type: "object", properties}`.
 */
export function cleanSchema(schema: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!schema) return { type: "object", properties: {} };
  const defs = {
    ...(schema.definitions as Record<string, unknown> | undefined),
    ...(schema.$defs as Record<string, unknown> | undefined),
  };
  const inline = (node: unknown, depth: number): unknown => {
    if (Array.isArray(node)) return node.map((item) => inline(item, depth));
    if (!node || typeof node !== "object") return node;
    const object = node as Record<string, unknown>;
    const ref = object.$ref;
    if (typeof ref === "string") {
      const name = /^#\/(?:\$defs|definitions)\/(.+)$/.exec(ref)?.[1];
      const target = name ? defs[decodeURIComponent(name)] : undefined;
      // Recursive schemas end in a plain object after a few levels.
      if (!target || depth > 8) return { type: "object" };
      const { $ref: _, ...rest } = object;
      return inline({ ...(target as object), ...rest }, depth + 1);
    }
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(object)) {
      if (key === "$schema" || key === "$defs" || key === "definitions" || key === "$id") continue;
      out[key] = inline(value, depth);
    }
    return out;
  };
  const root = inline(schema, 0) as Record<string, unknown>;
  root.type = "object";
  root.properties ??= {};
  return root;
}

function generationConfig(
  request: MessagesRequest,
  info: GeminiModelInfo,
): Record<string, unknown> {
  const config: Record<string, unknown> = {
    maxOutputTokens: Math.max(1, Math.min(request.max_tokens, info.maxOutput)),
  };
  if (request.temperature != null) config.temperature = request.temperature;
  if (request.top_p != null) config.topP = request.top_p;
  if (request.top_k != null) config.topK = request.top_k;
  if (request.stop_sequences?.length) config.stopSequences = request.stop_sequences.slice(0, 5);
  const format = request.output_config?.format ?? request.output_format;
  if (format) {
    config.responseMimeType = "application/json";
    config.responseJsonSchema = format.schema;
  }
  const intent = decideEffort(request.thinking, request.output_config?.effort);
  const thinking = thinkingConfig(intent, info, config.maxOutputTokens as number);
  if (thinking) config.thinkingConfig = thinking;
  return config;
}

const BUDGET_OF: Record<Exclude<Effort, "off">, number | "max"> = {
  low: 1_024,
  medium: 8_192,
  high: "max",
  xhigh: "max",
  max: "max",
};

/**
 * `thinkingConfig` for the intent: a budget for 2.5 models (clamped to the model's range and
 * below `maxOutputTokens`), a level for 3 models, never both; undefined leaves the default.
 */
export function thinkingConfig(
  intent: ThinkingIntent,
  info: GeminiModelInfo,
  maxOutput: number,
): Record<string, unknown> | undefined {
  if (info.thinking === "none" || !intent.requested) return undefined;
  const wanted = intent.effort !== undefined || intent.budget !== undefined;
  const include = intent.effort !== "off" && !intent.omitText;
  if (info.thinking === "level") {
    const levels = info.levels!;
    let level: string | undefined;
    if (intent.effort === "off") level = levels[0];
    else if (intent.effort === "low") level = "LOW";
    else if (intent.effort === "medium") level = levels.includes("MEDIUM") ? "MEDIUM" : "HIGH";
    else if (intent.effort) level = "HIGH";
    return level
      ? { thinkingLevel: level, includeThoughts: include }
      : { includeThoughts: include };
  }
  const range = info.budget!;
  if (!wanted) return { includeThoughts: include, thinkingBudget: -1 };
  let budget: number;
  if (intent.effort === "off") budget = range.canDisable ? 0 : range.min;
  else if (intent.budget !== undefined) budget = intent.budget;
  else {
    const step = BUDGET_OF[intent.effort as Exclude<Effort, "off">];
    budget = step === "max" ? range.max : step;
  }
  if (budget !== 0) {
    budget = Math.min(Math.max(budget, range.min), range.max, Math.max(range.min, maxOutput - 1));
  }
  return { includeThoughts: include && budget !== 0, thinkingBudget: budget };
}

function geminiContents(
  conversation: Conversation,
  alias: (name: string) => string,
  signer: Signer,
  strictSignatures: boolean,
): GeminiContent[] {
  const contents: GeminiContent[] = [];
  const push = (role: "user" | "model", parts: GeminiPart[]) => {
    if (!parts.length) return;
    const last = contents.at(-1);
    // A loop, not a spread: a spread of a client-sized array overflows the stack.
    if (last?.role === role) { for (const part of parts) last.parts.push(part); }
    else contents.push({ role, parts });
  };
  // Index of the content holding the last real user message: the current turn starts there.
  let currentTurn = 0;
  for (const turn of conversation.turns) {
    if (turn.role === "system") {
      push("user", [{ text: `<system-reminder>\n${turn.text}\n</system-reminder>` }]);
    } else if (turn.role === "user") {
      push("user", turn.parts.map(geminiPart));
      currentTurn = contents.length - 1;
    } else {
      const parts: GeminiPart[] = [];
      for (const item of turn.items) {
        if (item.kind === "text") parts.push({ text: item.text });
        else if (item.kind === "call") {
          const part: GeminiPart = { functionCall: { name: alias(item.name), args: item.input } };
          const signature = signatureOf(item.id, signer);
          if (signature) part.thoughtSignature = signature;
          parts.push(part);
        }
        // Thinking text is not sent back: Gemini keeps its reasoning in the signatures.
      }
      push("model", parts);
      const responses: GeminiPart[] = turn.results.map((result) => {
        const text = result.parts.flatMap((p) => p.kind === "text" ? [p.text] : []).join("\n");
        return {
          functionResponse: {
            name: alias(result.name),
            response: result.isError ? { error: text } : { output: text },
          },
        };
      });
      const attachments = turn.results.flatMap((r) => r.parts.filter((p) => p.kind !== "text"));
      push("user", [...responses, ...attachments.map(geminiPart)]);
    }
  }
  if (strictSignatures) {
    // Gemini 3 rejects a current-turn step whose first call has no signature.
    for (const content of contents.slice(currentTurn)) {
      if (content.role !== "model") continue;
      const first = content.parts.find((p) => p.functionCall);
      if (first && !first.thoughtSignature) first.thoughtSignature = SKIP_SIGNATURE;
    }
  }
  if (contents[0]?.role === "model") {
    contents.unshift({ role: "user", parts: [{ text: "(continue)" }] });
  }
  return contents;
}

function geminiPart(part: Part): GeminiPart {
  switch (part.kind) {
    case "text":
      return { text: part.text };
    case "image":
      if (part.data) return { inlineData: { mimeType: part.mediaType, data: part.data } };
      return { text: `[image: ${part.url}]` };
    case "pdf":
      if (part.data) return { inlineData: { mimeType: "application/pdf", data: part.data } };
      return { text: `[PDF document: ${part.url}]` };
  }
}

// ---------------------------------------------------------------------------------------------
// Response stream
// ---------------------------------------------------------------------------------------------

interface GeminiChunk {
  candidates?: Array<{
    content?: { parts?: GeminiPart[] };
    finishReason?: string;
    groundingMetadata?: GroundingMetadata;
  }>;
  promptFeedback?: { blockReason?: string };
  usageMetadata?: GeminiUsage;
  error?: GeminiError;
}

interface GeminiUsage {
  promptTokenCount?: number;
  candidatesTokenCount?: number;
  thoughtsTokenCount?: number;
  cachedContentTokenCount?: number;
  toolUsePromptTokenCount?: number;
}

interface GeminiError {
  code?: number;
  message?: string;
  status?: string;
  details?: Array<{ "@type"?: string; reason?: string; retryDelay?: string }>;
}

/** What the stream translator needs besides the upstream events. */
export interface GeminiStreamContext extends MessageInit {
  /** Upstream function name → client tool name. */
  toolNames: Map<string, string>;
  /** Keep only the first function call (`disable_parallel_tool_use`). */
  singleCall: boolean;
  /** Signs thought signatures into tool ids. */
  signer: Signer;
  /** The client's web search tool (sent as `googleSearch`): grounded text waits for its sources. */
  webSearch?: WebSearchSpec;
}

const REFUSAL = new Set([
  "SAFETY",
  "RECITATION",
  "BLOCKLIST",
  "PROHIBITED_CONTENT",
  "SPII",
  "IMAGE_SAFETY",
  "IMAGE_PROHIBITED_CONTENT",
]);

/** Gemini usage → Anthropic usage (thought tokens count as output; cached apart). */
export function geminiUsage(
  usage: GeminiUsage | undefined,
  inputEstimate: number,
  outputChars: number,
): Usage {
  if (!usage) return estimatedUsage(inputEstimate, outputChars);
  const cached = usage.cachedContentTokenCount ?? 0;
  return {
    input_tokens: Math.max(
      0,
      (usage.promptTokenCount ?? 0) - cached + (usage.toolUsePromptTokenCount ?? 0),
    ),
    output_tokens: (usage.candidatesTokenCount ?? 0) + (usage.thoughtsTokenCount ?? 0),
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: cached,
  };
}

/** `streamGenerateContent?alt=sse` messages → Anthropic events. */
export function geminiTranslator(
  context: GeminiStreamContext,
  emit: (event: StreamEvent) => void,
): Translator {
  // Gemini's tool ids are minted here, unique per call (a nonce, or random).
  const out = new EventWriter(emit, { ...context, ownToolIds: true, provider: "gemini" });
  let usage: GeminiUsage | undefined;
  let finish: string | undefined;
  let blocked = false;
  let calls = 0;
  let done = false;
  const grounding = context.webSearch ? new GeminiGrounding(context.webSearch) : undefined;
  return {
    message(message) {
      if (done) return;
      let chunk: GeminiChunk;
      try {
        chunk = JSON.parse(message.data);
      } catch {
        done = true;
        out.fail("api_error", "gemini: upstream sent a chunk that is not JSON");
        return;
      }
      if (chunk.error) {
        done = true;
        const code = typeof chunk.error.code === "number" ? chunk.error.code : 0;
        const mapped = geminiFailure(code, chunk.error, context.model, {});
        out.fail(mapped.type, mapped.message);
        return;
      }
      if (chunk.usageMetadata) usage = chunk.usageMetadata;
      if (!out.started) {
        const prompt = usage ? geminiUsage(usage, 0, 0).input_tokens : 0;
        out.start(prompt || undefined);
      }
      if (chunk.promptFeedback?.blockReason) blocked = true;
      const candidate = chunk.candidates?.[0];
      // Before the parts: a call in this chunk writes out the searches that led to it.
      grounding?.metadata(candidate?.groundingMetadata);
      for (const part of candidate?.content?.parts ?? []) {
        if (part.functionCall) {
          if (context.singleCall && calls > 0) continue;
          grounding?.flush(out);
          calls++;
          const name = part.functionCall.name;
          out.toolStart(
            callId(part.thoughtSignature, context.signer),
            context.toolNames.get(name) ?? name,
          );
          out.toolArgs(JSON.stringify(part.functionCall.args ?? {}));
        } else if (part.text !== undefined) {
          if (part.thought) out.thinking(part.text);
          else if (grounding) grounding.text(part.text);
          else out.text(part.text);
        }
      }
      if (candidate?.finishReason) finish = candidate.finishReason;
    },
    end() {
      if (done) return;
      if (!finish && !blocked) {
        out.fail("api_error", "gemini: upstream stream ended without a finish reason");
        return;
      }
      if (
        calls === 0 && (finish === "MALFORMED_FUNCTION_CALL" || finish === "UNEXPECTED_TOOL_CALL")
      ) {
        // Say so instead of ending silently: the client (or its user) can ask again.
        out.text(
          `[gemini: the model's tool call could not be used (${finish}); please try again.]`,
        );
      }
      grounding?.flush(out);
      let reason: StopReason = "end_turn";
      if (blocked || REFUSAL.has(finish!)) reason = "refusal";
      else if (calls > 0) reason = "tool_use";
      else if (finish === "MAX_TOKENS") reason = "max_tokens";
      out.stop(reason, geminiUsage(usage, context.inputTokens, out.outputChars));
    },
  };
}

/** {@link geminiTranslator} as a stream stage. */
export class GeminiToAnthropicStream extends TranslateStream {
  constructor(context: GeminiStreamContext) {
    super((emit) => geminiTranslator(context, emit));
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

/** Where and how to call Gemini. */
export interface GeminiEndpoint {
  /** Base URL without the version path. */
  baseUrl: string;
  /** API key, sent as `x-goog-api-key` (never in the URL). */
  apiKey: string;
  /** The `fetch` to use. */
  fetch: typeof fetch;
}

/** Maps a Gemini error body onto an Anthropic error. */
export function geminiFailure(
  status: number,
  error: GeminiError | undefined,
  model: string,
  headers: Record<string, string>,
): ProxyError {
  const message = error?.message ?? `HTTP ${status}`;
  const details = error?.details ?? [];
  if (details.some((d) => d.reason === "API_KEY_INVALID")) {
    return keyRefused("gemini", status, message);
  }
  const retry = details.find((d) => d.retryDelay)?.retryDelay;
  const seconds = retry ? /^(\d+(?:\.\d+)?)s$/.exec(retry)?.[1] : undefined;
  const passed = { ...headers };
  if (seconds) passed["retry-after"] = String(Math.ceil(Number(seconds)));
  if (status === 0 || !status) {
    return fromUpstream("gemini", { status: 0, message, code: error?.status }, model);
  }
  const effective = error?.status === "UNAVAILABLE"
    ? 503
    : error?.status === "RESOURCE_EXHAUSTED"
    ? 429
    : status;
  return fromUpstream("gemini", {
    status: effective,
    message,
    code: error?.status,
    headers: passed,
  }, model);
}

async function post(
  endpoint: GeminiEndpoint,
  path: string,
  body: unknown,
  model: string,
  signal?: AbortSignal,
): Promise<Response> {
  let response: Response;
  try {
    response = await endpoint.fetch(`${endpoint.baseUrl}/v1beta/models/${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-goog-api-key": endpoint.apiKey },
      body: JSON.stringify(body),
      signal,
      redirect: NO_REDIRECT,
    });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw unreachable("gemini", error);
  }
  if (response.ok) return response;
  if (isRedirect(response)) throw redirectFailure("gemini", response);
  // Read up to a bound; the message is cut only after redaction (by the handler).
  const text = await readErrorBody(response);
  let error: GeminiError | undefined;
  try {
    const parsed = JSON.parse(text);
    error = Array.isArray(parsed) ? parsed[0]?.error : parsed.error;
  } catch {
    error = { message: text };
  }
  const headers: Record<string, string> = {};
  const retryAfter = response.headers.get("retry-after");
  if (retryAfter) headers["retry-after"] = retryAfter;
  throw geminiFailure(response.status, error, model, headers);
}

/** Starts a streaming generation; resolves once Gemini answered with a success status. */
export function streamGenerate(
  endpoint: GeminiEndpoint,
  model: string,
  body: GeminiRequest,
  options: { signal?: AbortSignal; clientModel: string },
): Promise<Response> {
  const path = `${encodeURIComponent(model)}:streamGenerateContent?alt=sse`;
  return post(endpoint, path, body, options.clientModel, options.signal);
}

/** Counts a request's tokens with Gemini's `countTokens` (system prompt and tools included). */
export async function countGeminiTokens(
  endpoint: GeminiEndpoint,
  request: CountTokensRequest,
  model: string,
  signer: Signer,
  signal?: AbortSignal,
): Promise<number> {
  const { body } = toGeminiRequest({ ...request, max_tokens: 1 } as MessagesRequest, model, signer);
  const { generationConfig: _, ...rest } = body;
  const response = await post(
    endpoint,
    `${encodeURIComponent(model)}:countTokens`,
    { generateContentRequest: { model: `models/${model}`, ...rest } },
    request.model,
    signal,
  );
  const result = await response.json() as { totalTokens?: number };
  if (typeof result.totalTokens !== "number") {
    throw new ProxyError("api_error", "gemini: countTokens answered without totalTokens");
  }
  return result.totalTokens;
}
