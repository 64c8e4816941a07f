/**
 * The Anthropic Messages API as it crosses the wire: the request types with their zod schemas,
 * and the plain types of what the proxy answers.
 *
 * Lenient in: unknown fields and unknown block types are accepted (Claude Code adds new ones
 * often) and dropped later. Strict on types: a known field with the wrong type fails with its
 * path. The types are written out (not inferred) so the published API stays fast to check; each
 * schema is declared as validating exactly its type, and the compiler holds them to it.
 *
 * @module
 */
import { z } from "zod";

/** Unknown extra fields are kept (and ignored). */
type Open = { [key: string]: unknown };

/** `{type:"text", text}`. */
export interface TextBlock extends Open {
  type: "text";
  text: string;
  cache_control?: unknown;
}

/** Inline base64 data. */
export interface Base64Source extends Open {
  type: "base64";
  media_type: string;
  data: string;
}

/** Data behind a URL. */
export interface UrlSource extends Open {
  type: "url";
  url: string;
}

/** A Files API file. */
export interface FileSource extends Open {
  type: "file";
  file_id: string;
}

/** Plain text given inline (documents). */
export interface TextSource extends Open {
  type: "text";
  media_type?: string;
  data: string;
}

/** Document content given as text or blocks. */
export interface ContentSource extends Open {
  type: "content";
  content: string | Array<{ type: string } & Open>;
}

/** `{type:"image", source}`. */
export interface ImageBlock extends Open {
  type: "image";
  source: Base64Source | UrlSource | FileSource;
}

/** `{type:"document", source}`: PDF, plain text, inline content, url or file. */
export interface DocumentBlock extends Open {
  type: "document";
  source: Base64Source | UrlSource | FileSource | TextSource | ContentSource;
  title?: string | null;
  context?: string | null;
}

/** `{type:"tool_use", id, name, input}`. */
export interface ToolUseBlock extends Open {
  type: "tool_use";
  id: string;
  name: string;
  input?: unknown;
}

/** `{type:"tool_result", tool_use_id, content?, is_error?}`. */
export interface ToolResultBlock extends Open {
  type: "tool_result";
  tool_use_id: string;
  content?: string | Array<{ type: string } & Open>;
  is_error?: boolean | null;
}

/** `{type:"thinking", thinking, signature}`. */
export interface ThinkingBlock extends Open {
  type: "thinking";
  thinking: string;
  signature?: string;
}

/** Any block whose type the proxy does not model; it is rendered as text or dropped. */
export type OtherBlock = { type: string } & Open;

/** Any request content block. */
export type ContentBlock =
  | TextBlock
  | ImageBlock
  | DocumentBlock
  | ToolUseBlock
  | ToolResultBlock
  | ThinkingBlock
  | OtherBlock;

/** One entry of `messages`: user, assistant, or a mid-conversation system message. */
export interface Message extends Open {
  role: "user" | "assistant" | "system";
  content: string | ContentBlock[];
}

/** A client tool definition, or a server tool (which carries a versioned `type`). */
export interface Tool extends Open {
  name: string;
  type?: string | null;
  description?: string | null;
  input_schema?: Record<string, unknown>;
}

/** `tool_choice`. */
export type ToolChoice =
  | ({ type: "auto"; disable_parallel_tool_use?: boolean | null } & Open)
  | ({ type: "any"; disable_parallel_tool_use?: boolean | null } & Open)
  | ({ type: "tool"; name: string; disable_parallel_tool_use?: boolean | null } & Open)
  | ({ type: "none" } & Open);

/** `thinking`. */
export type ThinkingConfig =
  | ({ type: "enabled"; budget_tokens: number; display?: string | null } & Open)
  | ({ type: "disabled" } & Open)
  | ({ type: "adaptive"; display?: string | null } & Open)
  | ({ type: "between_tools"; display?: string | null } & Open);

/** Structured output. */
export interface JsonSchemaFormat extends Open {
  type: "json_schema";
  schema: Record<string, unknown>;
}

/** `output_config`: effort and structured output. */
export interface OutputConfig extends Open {
  effort?: "low" | "medium" | "high" | "xhigh" | "max" | null;
  format?: JsonSchemaFormat | null;
}

/** `POST /v1/messages/count_tokens` body. */
export interface CountTokensRequest extends Open {
  model: string;
  messages: Message[];
  system?: string | TextBlock[];
  tools?: Tool[];
  tool_choice?: ToolChoice;
  thinking?: ThinkingConfig;
  output_config?: OutputConfig | null;
  output_format?: JsonSchemaFormat | null;
}

/** `POST /v1/messages` body. */
export interface MessagesRequest extends CountTokensRequest {
  max_tokens: number;
  stream?: boolean | null;
  stop_sequences?: string[] | null;
  temperature?: number | null;
  top_p?: number | null;
  top_k?: number | null;
  metadata?: ({ user_id?: string | null } & Open) | null;
}

// ---------------------------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------------------------

/**
 * Every block type Anthropic's API takes in a message (its SDK's `BetaContentBlockParam`), so
 * whatever Claude Code sends passes; a type outside it is a 400, as Anthropic answers. Blocks no
 * backend understands are rendered as text or dropped later (conversation.ts).
 */
const MESSAGE_BLOCKS = [
  "text",
  "image",
  "document",
  "search_result",
  "thinking",
  "redacted_thinking",
  "tool_use",
  "tool_result",
  "server_tool_use",
  "web_search_tool_result",
  "web_fetch_tool_result",
  "advisor_tool_result",
  "code_execution_tool_result",
  "bash_code_execution_tool_result",
  "text_editor_code_execution_tool_result",
  "tool_search_tool_result",
  "mcp_tool_use",
  "mcp_tool_result",
  "container_upload",
  "compaction",
  "tool_addition",
  "tool_removal",
  "mcp_tool_listing",
  "fallback",
];

/** The block types a `tool_result`'s content takes. */
const RESULT_BLOCKS = [
  "text",
  "image",
  "search_result",
  "document",
  "tool_reference",
  "browser_state",
];

const TextBlockSchema: z.ZodType<TextBlock> = z.looseObject({
  type: z.literal("text"),
  text: z.string(),
  cache_control: z.unknown().optional(),
});

const Base64 = z.looseObject({
  type: z.literal("base64"),
  media_type: z.string(),
  data: z.string(),
});
const Url = z.looseObject({ type: z.literal("url"), url: z.string() });
const File = z.looseObject({ type: z.literal("file"), file_id: z.string() });

const ImageBlockSchema: z.ZodType<ImageBlock> = z.looseObject({
  type: z.literal("image"),
  source: z.discriminatedUnion("type", [Base64, Url, File]),
});

const DocumentBlockSchema: z.ZodType<DocumentBlock> = z.looseObject({
  type: z.literal("document"),
  source: z.discriminatedUnion("type", [
    Base64,
    Url,
    File,
    z.looseObject({ type: z.literal("text"), media_type: z.string().optional(), data: z.string() }),
    z.looseObject({
      type: z.literal("content"),
      content: z.union([z.string(), z.array(z.looseObject({ type: z.string() }))]),
    }),
  ]),
  title: z.string().nullish(),
  context: z.string().nullish(),
});

const ToolUseBlockSchema: z.ZodType<ToolUseBlock> = z.looseObject({
  type: z.literal("tool_use"),
  id: z.string().min(1),
  name: z.string().min(1),
  input: z.unknown(),
});

const ToolResultBlockSchema: z.ZodType<ToolResultBlock> = z.looseObject({
  type: z.literal("tool_result"),
  tool_use_id: z.string().min(1),
  // Checked like any content (text must be a string, …): the blocks reach the model.
  content: z.union([
    z.string(),
    z.array(z.looseObject({ type: z.string() }).check(checkBlock(RESULT_BLOCKS))),
  ])
    .optional(),
  is_error: z.boolean().nullish(),
});

const ThinkingBlockSchema: z.ZodType<ThinkingBlock> = z.looseObject({
  type: z.literal("thinking"),
  thinking: z.string(),
  signature: z.string().optional(),
});

const KNOWN_BLOCKS: Record<string, z.ZodType> = {
  text: TextBlockSchema,
  image: ImageBlockSchema,
  document: DocumentBlockSchema,
  tool_use: ToolUseBlockSchema,
  tool_result: ToolResultBlockSchema,
  thinking: ThinkingBlockSchema,
};

/**
 * Checks a block: its type must be one of `allowed` (Anthropic's message otherwise), and a block
 * of a type the proxy reads is checked field by field (errors keep their path).
 */
function checkBlock(allowed: string[]) {
  const tags = allowed.map((t) => `'${t}'`).join(", ");
  return (ctx: z.core.ParsePayload<{ type: string }>): void => {
    if (!allowed.includes(ctx.value.type)) {
      ctx.issues.push({
        code: "custom",
        message: `Input tag '${
          ctx.value.type.slice(0, 100)
        }' found using 'type' does not match any of the expected tags: ${tags}`,
        path: [],
        input: ctx.value,
      });
      return;
    }
    checkKnownBlock(ctx);
  };
}

/** Checks a block of a type the proxy reads field by field (errors keep their path). */
function checkKnownBlock(ctx: z.core.ParsePayload<{ type: string }>): void {
  const schema = KNOWN_BLOCKS[ctx.value.type];
  if (!schema) return;
  const result = schema.safeParse(ctx.value);
  if (result.success) return;
  for (const issue of result.error.issues) {
    const { path, message } = deepestIssue(issue);
    ctx.issues.push({ code: "custom", message, path, input: ctx.value });
  }
}

/** For a union, the branch issue that got furthest names the real problem. */
export function deepestIssue(issue: z.core.$ZodIssue): { path: PropertyKey[]; message: string } {
  let best = { path: issue.path as PropertyKey[], message: issue.message };
  if (issue.code === "invalid_union") {
    for (const branch of issue.errors) {
      for (const inner of branch) {
        const found = deepestIssue(inner);
        const path = [...issue.path, ...found.path];
        if (path.length > best.path.length) best = { path, message: found.message };
      }
    }
  }
  return best;
}

const ContentBlockSchema: z.ZodType<ContentBlock> = z
  .looseObject({ type: z.string() })
  .check(checkBlock(MESSAGE_BLOCKS)) as z.ZodType<ContentBlock>;

const MessageSchema: z.ZodType<Message> = z.looseObject({
  role: z.enum(["user", "assistant", "system"]),
  content: z.union([z.string(), z.array(ContentBlockSchema)]),
});

const ToolSchema: z.ZodType<Tool> = z.looseObject({
  name: z.string().min(1),
  type: z.string().nullish(),
  description: z.string().nullish(),
  input_schema: z.record(z.string(), z.unknown()).optional(),
});

const parallel = { disable_parallel_tool_use: z.boolean().nullish() };
const ToolChoiceSchema: z.ZodType<ToolChoice> = z.discriminatedUnion("type", [
  z.looseObject({ type: z.literal("auto"), ...parallel }),
  z.looseObject({ type: z.literal("any"), ...parallel }),
  z.looseObject({ type: z.literal("tool"), name: z.string().min(1), ...parallel }),
  z.looseObject({ type: z.literal("none") }),
]);

const display = { display: z.string().nullish() };
const ThinkingConfigSchema: z.ZodType<ThinkingConfig> = z.discriminatedUnion("type", [
  z.looseObject({
    type: z.literal("enabled"),
    budget_tokens: z.number().int().nonnegative(),
    ...display,
  }),
  z.looseObject({ type: z.literal("disabled") }),
  z.looseObject({ type: z.literal("adaptive"), ...display }),
  z.looseObject({ type: z.literal("between_tools"), ...display }),
]);

const JsonSchemaFormatSchema: z.ZodType<JsonSchemaFormat> = z.looseObject({
  type: z.literal("json_schema"),
  schema: z.record(z.string(), z.unknown()),
});

const common = {
  model: z.string().min(1),
  messages: z.array(MessageSchema).min(1, "at least one message is required"),
  system: z.union([z.string(), z.array(TextBlockSchema)]).optional(),
  tools: z.array(ToolSchema).check((ctx) => {
    // Anthropic's own check; after aliasing two equal names would also become one upstream.
    const names = new Set<string>();
    for (const tool of ctx.value) {
      if (names.has(tool.name)) {
        ctx.issues.push({
          code: "custom",
          message: "Tool names must be unique.",
          input: ctx.value,
        });
        return;
      }
      names.add(tool.name);
    }
  }).optional(),
  tool_choice: ToolChoiceSchema.optional(),
  thinking: ThinkingConfigSchema.optional(),
  output_config: z.looseObject({
    effort: z.enum(["low", "medium", "high", "xhigh", "max"]).nullish(),
    format: JsonSchemaFormatSchema.nullish(),
  }).nullish(),
  output_format: JsonSchemaFormatSchema.nullish(),
};

/** Validates a `POST /v1/messages` body. */
export const MessagesRequestSchema: z.ZodType<MessagesRequest> = z.looseObject({
  ...common,
  max_tokens: z.number().int().nonnegative(),
  stream: z.boolean().nullish(),
  stop_sequences: z.array(z.string()).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  top_k: z.number().int().nonnegative().nullish(),
  metadata: z.looseObject({ user_id: z.string().nullish() }).nullish(),
});

/** Validates a `POST /v1/messages/count_tokens` body. */
export const CountTokensRequestSchema: z.ZodType<CountTokensRequest> = z.looseObject(common);

/** Why the model stopped. */
export type StopReason =
  | "end_turn"
  | "max_tokens"
  | "stop_sequence"
  | "tool_use"
  | "pause_turn"
  | "refusal";

/** Searches and fetches the server ran for this message (server tools such as web search). */
export interface ServerToolUsage {
  web_search_requests: number;
  web_fetch_requests: number;
}

/** Token usage, Anthropic style: input excludes cached reads. */
export interface Usage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  /** Present when server tools ran (each web search is one request). */
  server_tool_use?: ServerToolUsage;
}

/** One page a web search found; `encrypted_content` is opaque and only ever sent back. */
export interface WebSearchResult {
  type: "web_search_result";
  url: string;
  title: string;
  page_age: string | null;
  encrypted_content: string;
}

/** Why a web search gave no results. */
export interface WebSearchError {
  type: "web_search_tool_result_error";
  error_code:
    | "invalid_tool_input"
    | "unavailable"
    | "max_uses_exceeded"
    | "too_many_requests"
    | "query_too_long"
    | "request_too_large";
}

/** A text citation of a web search result. */
export interface WebSearchCitation {
  type: "web_search_result_location";
  url: string;
  title: string | null;
  cited_text: string;
  encrypted_index: string;
}

/** A server tool call (`srvtoolu_…`), as it starts in a stream: its input follows as JSON. */
export interface ServerToolUseStart {
  type: "server_tool_use";
  id: string;
  name: string;
  input: Record<string, never>;
}

/** A web search's results, sent whole in its `content_block_start`. */
export interface WebSearchToolResultBlock {
  type: "web_search_tool_result";
  tool_use_id: string;
  content: WebSearchResult[] | WebSearchError;
}

/** A response content block. */
export type ResponseBlock =
  | { type: "text"; text: string; citations?: WebSearchCitation[] | null }
  | { type: "thinking"; thinking: string; signature: string }
  | { type: "tool_use"; id: string; name: string; input: Record<string, unknown> }
  | { type: "server_tool_use"; id: string; name: string; input: Record<string, unknown> }
  | WebSearchToolResultBlock;

/** The non-streaming response. */
export interface MessageResponse {
  id: string;
  type: "message";
  role: "assistant";
  model: string;
  content: ResponseBlock[];
  stop_reason: StopReason | null;
  stop_sequence: string | null;
  stop_details: null;
  usage: Usage;
}

/** Anthropic error types a client can receive. */
export type ErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "billing_error"
  | "permission_error"
  | "not_found_error"
  | "request_too_large"
  | "rate_limit_error"
  | "api_error"
  | "timeout_error"
  | "overloaded_error";

/** A streaming event. */
export type StreamEvent =
  | { type: "message_start"; message: MessageResponse }
  | {
    type: "content_block_start";
    index: number;
    content_block:
      | { type: "text"; text: "" }
      | { type: "thinking"; thinking: ""; signature: "" }
      | { type: "tool_use"; id: string; name: string; input: Record<string, never> }
      | ServerToolUseStart
      | WebSearchToolResultBlock;
  }
  | {
    type: "content_block_delta";
    index: number;
    delta:
      | { type: "text_delta"; text: string }
      | { type: "thinking_delta"; thinking: string }
      | { type: "signature_delta"; signature: string }
      | { type: "input_json_delta"; partial_json: string }
      | { type: "citations_delta"; citation: WebSearchCitation };
  }
  | { type: "content_block_stop"; index: number }
  | {
    type: "message_delta";
    delta: { stop_reason: StopReason; stop_sequence: string | null; stop_details: null };
    usage: Usage;
  }
  | { type: "message_stop" }
  | { type: "ping" }
  | { type: "error"; error: { type: ErrorType; message: string } };
