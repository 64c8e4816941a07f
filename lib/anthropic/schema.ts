/**
 * The Anthropic Messages API as it crosses the wire: zod schemas for what clients send,
 * plain types for what the proxy answers.
 *
 * Lenient in: unknown fields and unknown block types are accepted (Claude Code adds new
 * ones often) and dropped later. Strict on types: a known field with the wrong type fails
 * with its path.
 *
 * @module
 */
import { z } from "zod";

const CacheControl = z.unknown();

/** `{type:"text", text}`. */
export const TextBlockSchema = z.looseObject({
  type: z.literal("text"),
  text: z.string(),
  cache_control: CacheControl.optional(),
});

const Base64Source = z.looseObject({
  type: z.literal("base64"),
  media_type: z.string(),
  data: z.string(),
});
const UrlSource = z.looseObject({ type: z.literal("url"), url: z.string() });
const FileSource = z.looseObject({ type: z.literal("file"), file_id: z.string() });
const TextSource = z.looseObject({
  type: z.literal("text"),
  media_type: z.string().optional(),
  data: z.string(),
});
const ContentSource = z.looseObject({
  type: z.literal("content"),
  content: z.union([z.string(), z.array(z.looseObject({ type: z.string() }))]),
});

/** `{type:"image", source}` with a base64, url or file source. */
export const ImageBlockSchema = z.looseObject({
  type: z.literal("image"),
  source: z.discriminatedUnion("type", [Base64Source, UrlSource, FileSource]),
});

/** `{type:"document", source}`: PDF, plain text, inline content, url or file. */
export const DocumentBlockSchema = z.looseObject({
  type: z.literal("document"),
  source: z.discriminatedUnion("type", [
    Base64Source,
    UrlSource,
    FileSource,
    TextSource,
    ContentSource,
  ]),
  title: z.string().nullish(),
  context: z.string().nullish(),
});

/** `{type:"tool_use", id, name, input}`. */
export const ToolUseBlockSchema = z.looseObject({
  type: z.literal("tool_use"),
  id: z.string().min(1),
  name: z.string().min(1),
  input: z.unknown(),
});

/** `{type:"tool_result", tool_use_id, content?, is_error?}`. */
export const ToolResultBlockSchema = z.looseObject({
  type: z.literal("tool_result"),
  tool_use_id: z.string().min(1),
  // Checked like any content (text must be a string, …): the blocks reach the model.
  content: z.union([
    z.string(),
    z.array(z.looseObject({ type: z.string() }).check(checkKnownBlock)),
  ])
    .optional(),
  is_error: z.boolean().nullish(),
});

/** `{type:"thinking", thinking, signature}`. */
export const ThinkingBlockSchema = z.looseObject({
  type: z.literal("thinking"),
  thinking: z.string(),
  signature: z.string().optional(),
});

/** A text block. */
export type TextBlock = z.infer<typeof TextBlockSchema>;
/** An image block. */
export type ImageBlock = z.infer<typeof ImageBlockSchema>;
/** A document block. */
export type DocumentBlock = z.infer<typeof DocumentBlockSchema>;
/** A tool_use block (request side). */
export type ToolUseBlock = z.infer<typeof ToolUseBlockSchema>;
/** A tool_result block. */
export type ToolResultBlock = z.infer<typeof ToolResultBlockSchema>;
/** A thinking block (request side). */
export type ThinkingBlock = z.infer<typeof ThinkingBlockSchema>;
/** Any block whose type the proxy does not model; it is rendered as text or dropped. */
export type OtherBlock = { type: string; [key: string]: unknown };
/** Any request content block. */
export type ContentBlock =
  | TextBlock
  | ImageBlock
  | DocumentBlock
  | ToolUseBlock
  | ToolResultBlock
  | ThinkingBlock
  | OtherBlock;

const KNOWN_BLOCKS: Record<string, z.ZodType> = {
  text: TextBlockSchema,
  image: ImageBlockSchema,
  document: DocumentBlockSchema,
  tool_use: ToolUseBlockSchema,
  tool_result: ToolResultBlockSchema,
  thinking: ThinkingBlockSchema,
};

/** Checks a block of a known type field by field (errors keep their path); unknown types pass. */
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

/**
 * A content block: known types are checked field by field (errors keep their path),
 * unknown types pass as long as they carry a string `type`.
 */
export const ContentBlockSchema: z.ZodType<ContentBlock> = z
  .looseObject({ type: z.string() })
  .check(checkKnownBlock) as z.ZodType<ContentBlock>;

const Content = z.union([z.string(), z.array(ContentBlockSchema)]);

/** One entry of `messages`: user, assistant, or a mid-conversation system message. */
export const MessageSchema = z.looseObject({
  role: z.enum(["user", "assistant", "system"]),
  content: Content,
});

/** A client tool definition, or a server tool (which carries a versioned `type`). */
export const ToolSchema = z.looseObject({
  name: z.string().min(1),
  type: z.string().nullish(),
  description: z.string().nullish(),
  input_schema: z.record(z.string(), z.unknown()).optional(),
});

/** `tool_choice`. */
export const ToolChoiceSchema = z.discriminatedUnion("type", [
  z.looseObject({ type: z.literal("auto"), disable_parallel_tool_use: z.boolean().nullish() }),
  z.looseObject({ type: z.literal("any"), disable_parallel_tool_use: z.boolean().nullish() }),
  z.looseObject({
    type: z.literal("tool"),
    name: z.string().min(1),
    disable_parallel_tool_use: z.boolean().nullish(),
  }),
  z.looseObject({ type: z.literal("none") }),
]);

/** `thinking`. */
export const ThinkingConfigSchema = z.discriminatedUnion("type", [
  z.looseObject({
    type: z.literal("enabled"),
    budget_tokens: z.number().int().nonnegative(),
    display: z.string().nullish(),
  }),
  z.looseObject({ type: z.literal("disabled") }),
  z.looseObject({ type: z.literal("adaptive"), display: z.string().nullish() }),
  z.looseObject({ type: z.literal("between_tools"), display: z.string().nullish() }),
]);

const JsonSchemaFormat = z.looseObject({
  type: z.literal("json_schema"),
  schema: z.record(z.string(), z.unknown()),
});

/** `output_config`: effort and structured output. */
export const OutputConfigSchema = z.looseObject({
  effort: z.enum(["low", "medium", "high", "xhigh", "max"]).nullish(),
  format: JsonSchemaFormat.nullish(),
});

const System = z.union([z.string(), z.array(TextBlockSchema)]);

const common = {
  model: z.string().min(1),
  messages: z.array(MessageSchema),
  system: System.optional(),
  tools: z.array(ToolSchema).optional(),
  tool_choice: ToolChoiceSchema.optional(),
  thinking: ThinkingConfigSchema.optional(),
  output_config: OutputConfigSchema.nullish(),
  output_format: JsonSchemaFormat.nullish(),
};

/** `POST /v1/messages` body. */
export const MessagesRequestSchema = z.looseObject({
  ...common,
  max_tokens: z.number().int().nonnegative(),
  stream: z.boolean().nullish(),
  stop_sequences: z.array(z.string()).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  top_k: z.number().int().nonnegative().nullish(),
  metadata: z.looseObject({ user_id: z.string().nullish() }).nullish(),
});

/** `POST /v1/messages/count_tokens` body. */
export const CountTokensRequestSchema = z.looseObject(common);

/** A validated messages request. */
export type MessagesRequest = z.infer<typeof MessagesRequestSchema>;
/** A validated count_tokens request. */
export type CountTokensRequest = z.infer<typeof CountTokensRequestSchema>;
/** One message of a request. */
export type Message = z.infer<typeof MessageSchema>;
/** A tool definition. */
export type Tool = z.infer<typeof ToolSchema>;
/** `tool_choice`. */
export type ToolChoice = z.infer<typeof ToolChoiceSchema>;
/** `thinking`. */
export type ThinkingConfig = z.infer<typeof ThinkingConfigSchema>;

/** Why the model stopped. */
export type StopReason =
  | "end_turn"
  | "max_tokens"
  | "stop_sequence"
  | "tool_use"
  | "pause_turn"
  | "refusal";

/** Token usage, Anthropic style: input excludes cached reads. */
export interface Usage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
}

/** A response content block. */
export type ResponseBlock =
  | { type: "text"; text: string; citations?: null }
  | { type: "thinking"; thinking: string; signature: string }
  | { type: "tool_use"; id: string; name: string; input: Record<string, unknown> };

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
      | { type: "tool_use"; id: string; name: string; input: Record<string, never> };
  }
  | {
    type: "content_block_delta";
    index: number;
    delta:
      | { type: "text_delta"; text: string }
      | { type: "thinking_delta"; thinking: string }
      | { type: "signature_delta"; signature: string }
      | { type: "input_json_delta"; partial_json: string };
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
