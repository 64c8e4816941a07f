/**
 * The backend-independent normalisation pass: an Anthropic request's `system` and `messages`
 * → a tidy list of turns every provider translator can map one to one.
 *
 * - string content becomes blocks; empty text is dropped; `cache_control` never survives;
 * - consecutive turns of the same role are merged;
 * - every assistant tool call gets exactly one result, in call order (a missing one is
 *   synthesised as an error), taken from the next user turn; orphan results become text;
 * - blocks no backend understands are rendered as text or dropped (and named in `dropped`).
 *
 * @module
 */
import type {
  ContentBlock,
  DocumentBlock,
  ImageBlock,
  Message,
  MessagesRequest,
  OtherBlock,
  ToolChoice,
  ToolResultBlock,
  ToolUseBlock,
} from "./schema.ts";

/** Content a model can read: text, an image, or a PDF. */
export type Part =
  | { kind: "text"; text: string }
  | { kind: "image"; mediaType: string; data?: string; url?: string }
  | { kind: "pdf"; data?: string; url?: string; title?: string };

/** One thing the assistant produced, in order. */
export type AssistantItem =
  | { kind: "text"; text: string }
  | { kind: "thinking"; text: string; signature: string }
  | { kind: "call"; id: string; name: string; input: Record<string, unknown> };

/** The result of one tool call. */
export interface ToolResult {
  /** The `tool_use` id it answers. */
  id: string;
  /** The tool's name (recovered from the call). */
  name: string;
  /** Text and images the tool returned. */
  parts: Part[];
  /** `is_error: true`. */
  isError: boolean;
}

/** A normalised turn. */
export type Turn =
  | { role: "system"; text: string }
  | { role: "user"; parts: Part[] }
  | { role: "assistant"; items: AssistantItem[]; results: ToolResult[] };

/** The normalised conversation. */
export interface Conversation {
  /** System prompt blocks, in order. */
  system: string[];
  /** Turns, same-role neighbours merged. */
  turns: Turn[];
  /** Names of blocks that were dropped (for the debug log). */
  dropped: string[];
}

const MISSING_RESULT = "Tool call was not completed.";

/** Normalises a request's system prompt and messages. */
export function normalize(request: Pick<MessagesRequest, "system" | "messages">): Conversation {
  const dropped: string[] = [];
  const system = typeof request.system === "string"
    ? [request.system]
    : (request.system ?? []).map((block) => block.text);
  const merged = mergeRoles(request.messages);
  const turns: Turn[] = [];
  for (let i = 0; i < merged.length; i++) {
    const { role, blocks } = merged[i];
    if (role === "system") {
      const text = blocks.map((b) => blockText(b, dropped)).filter(Boolean).join("\n\n");
      if (text) turns.push({ role, text });
    } else if (role === "assistant") {
      const items = assistantItems(blocks, dropped);
      const calls = items.filter((item) => item.kind === "call");
      const results = calls.length ? takeResults(calls, merged, i) : [];
      if (items.length) turns.push({ role, items, results });
    } else {
      const parts = userParts(blocks, dropped);
      if (parts.length) turns.push({ role, parts });
    }
  }
  return { system: system.filter(Boolean), turns, dropped };
}

interface RawTurn {
  role: Message["role"];
  blocks: ContentBlock[];
}

function mergeRoles(messages: Message[]): RawTurn[] {
  const out: RawTurn[] = [];
  for (const message of messages) {
    const blocks: ContentBlock[] = typeof message.content === "string"
      ? [{ type: "text", text: message.content }]
      : message.content;
    const last = out.at(-1);
    if (last && last.role === message.role) last.blocks = [...last.blocks, ...blocks];
    else out.push({ role: message.role, blocks });
  }
  return out;
}

/**
 * Removes the results for `calls` from the next user turn (skipping mid-conversation system
 * turns) and returns one result per call, in call order.
 */
function takeResults(
  calls: Array<AssistantItem & { kind: "call" }>,
  turns: RawTurn[],
  index: number,
): ToolResult[] {
  let next = index + 1;
  while (turns[next]?.role === "system") next++;
  const user = turns[next]?.role === "user" ? turns[next] : undefined;
  const found = new Map<string, ToolResultBlock>();
  if (user) {
    const ids = new Set(calls.map((call) => call.id));
    user.blocks = user.blocks.filter((block) => {
      if (block.type !== "tool_result") return true;
      const result = block as ToolResultBlock;
      if (!ids.has(result.tool_use_id) || found.has(result.tool_use_id)) return true;
      found.set(result.tool_use_id, result);
      return false;
    });
  }
  return calls.map((call) => {
    const block = found.get(call.id);
    if (!block) {
      return { id: call.id, name: call.name, isError: true, parts: [text(MISSING_RESULT)] };
    }
    return {
      id: call.id,
      name: call.name,
      isError: block.is_error === true,
      parts: resultParts(block),
    };
  });
}

function resultParts(block: ToolResultBlock): Part[] {
  if (block.content === undefined) return [];
  if (typeof block.content === "string") return block.content ? [text(block.content)] : [];
  const parts: Part[] = [];
  for (const item of block.content as ContentBlock[]) {
    const part = item.type === "tool_reference"
      ? text(`Tool ${(item as OtherBlock).tool_name} loaded.`)
      : toPart(item, []);
    if (part) parts.push(part);
  }
  return parts;
}

function assistantItems(blocks: ContentBlock[], dropped: string[]): AssistantItem[] {
  const items: AssistantItem[] = [];
  for (const block of blocks) {
    if (block.type === "tool_use") {
      const use = block as ToolUseBlock;
      const input = use.input && typeof use.input === "object" && !Array.isArray(use.input)
        ? use.input as Record<string, unknown>
        : {};
      items.push({ kind: "call", id: use.id, name: use.name, input });
    } else if (block.type === "thinking") {
      const thinking = block as { thinking: string; signature?: string };
      items.push({
        kind: "thinking",
        text: thinking.thinking,
        signature: thinking.signature ?? "",
      });
    } else {
      const content = blockText(block, dropped);
      if (content) items.push({ kind: "text", text: content });
    }
  }
  return items;
}

function userParts(blocks: ContentBlock[], dropped: string[]): Part[] {
  const parts: Part[] = [];
  for (const block of blocks) {
    if (block.type === "tool_result") {
      // A result whose call is not in the preceding assistant turn: keep it as plain text.
      const result = block as ToolResultBlock;
      const body = resultParts(result);
      parts.push(
        text(`[Result of tool call ${result.tool_use_id}${result.is_error ? " (error)" : ""}]`),
      );
      for (const part of body) parts.push(part); // a spread of a huge array overflows the stack
      continue;
    }
    const part = toPart(block, dropped);
    if (part) parts.push(part);
  }
  return parts;
}

function toPart(block: ContentBlock, dropped: string[]): Part | undefined {
  if (block.type === "image") {
    const source = (block as ImageBlock).source;
    if (source.type === "base64") {
      return { kind: "image", mediaType: source.media_type, data: source.data };
    }
    if (source.type === "url") return { kind: "image", mediaType: "", url: source.url };
    return text(`[image file ${source.file_id} is not available to this model]`);
  }
  if (block.type === "document") {
    const doc = block as DocumentBlock;
    const source = doc.source;
    const title = doc.title ?? undefined;
    if (source.type === "base64" && source.media_type === "application/pdf") {
      return { kind: "pdf", data: source.data, title };
    }
    if (source.type === "url") return { kind: "pdf", url: source.url, title };
  }
  const content = blockText(block, dropped);
  return content ? text(content) : undefined;
}

/** Text of a block that has (or can be rendered as) text; "" for what is dropped. */
function blockText(block: ContentBlock, dropped: string[]): string {
  const b = block as OtherBlock;
  switch (block.type) {
    case "text":
      return withSources(b.text as string, b.citations);
    case "document":
      return documentText(block as DocumentBlock);
    case "search_result": {
      const content = Array.isArray(b.content) ? b.content : [];
      const body = content.map((c: { text?: string }) => c.text ?? "").join("\n");
      return [b.title, b.source, body].filter(Boolean).join("\n");
    }
    case "server_tool_use": {
      const query = (b.input as { query?: unknown } | undefined)?.query;
      return b.name === "web_search" && typeof query === "string"
        ? `[Searched the web for: ${query}]`
        : `[Used ${b.name} with ${JSON.stringify(b.input ?? {})}]`;
    }
    case "web_search_tool_result":
      return searchResultsText(b.content);
    case "tool_addition":
    case "tool_removal":
    case "redacted_thinking":
      dropped.push(block.type);
      return "";
  }
  dropped.push(block.type);
  return "";
}

/** Web search results as text the model can read and cite: one line per page, or the error. */
function searchResultsText(content: unknown): string {
  if (!Array.isArray(content)) {
    const code = (content as { error_code?: unknown } | undefined)?.error_code;
    return `[Web search failed: ${typeof code === "string" ? code : "unavailable"}]`;
  }
  if (!content.length) return "[Web search found no results]";
  const lines = content.map((r: { title?: unknown; url?: unknown; page_age?: unknown }, i) => {
    const age = typeof r.page_age === "string" && r.page_age ? ` (${r.page_age})` : "";
    return `${i + 1}. ${String(r.title ?? "")} <${String(r.url ?? "")}>${age}`;
  });
  return `[Web search results]\n${lines.join("\n")}`;
}

/** Text whose web search citations are kept as the sources it names (links the model can cite). */
function withSources(text: string, citations: unknown): string {
  if (!Array.isArray(citations) || !citations.length) return text;
  const links = new Set<string>();
  for (const c of citations as Array<{ url?: unknown; title?: unknown }>) {
    if (typeof c.url === "string") links.add(`[${String(c.title ?? c.url)}](${c.url})`);
  }
  return links.size ? `${text} (${[...links].join(", ")})` : text;
}

function documentText(doc: DocumentBlock): string {
  const source = doc.source;
  let body = "";
  if (source.type === "text") body = source.data;
  else if (source.type === "content") {
    body = typeof source.content === "string"
      ? source.content
      : source.content.map((c) => (c as { text?: string }).text ?? "").join("\n");
  } else if (source.type === "file") body = `[document file ${source.file_id}]`;
  else if (source.type === "base64") body = `[document of type ${source.media_type}]`;
  return [doc.title, doc.context, body].filter(Boolean).join("\n");
}

function text(value: string): Part {
  return { kind: "text", text: value };
}

/**
 * Tool names as an upstream needs them: `alias(name)` gives the upstream name (through
 * `rename`) and remembers it, so `toolNames` maps every upstream name back to the client's.
 */
export function toolAliases(
  rename: (name: string) => string,
): { toolNames: Map<string, string>; alias: (name: string) => string } {
  const toolNames = new Map<string, string>();
  const alias = (name: string) => {
    const upstream = rename(name);
    toolNames.set(upstream, name);
    return upstream;
  };
  return { toolNames, alias };
}

/** `disable_parallel_tool_use: true`: the reply may call one tool at most. */
export function singleToolCall(choice: ToolChoice | undefined): boolean {
  return Boolean(
    choice && "disable_parallel_tool_use" in choice && choice.disable_parallel_tool_use,
  );
}
