/**
 * Which of a request's tools the model sees, by Anthropic's rules for tool search:
 *
 * - a tool without `defer_loading: true` is always offered;
 * - a deferred tool is offered from the request in which the conversation has loaded it: a
 *   `tool_reference` naming it inside a `tool_result` (what Claude Code's `ToolSearch` returns),
 *   or a `tool_addition` in a system message;
 * - a `tool_removal` takes a tool away again (until it is loaded again);
 * - a `tool_addition` may carry a whole definition (`tool_definition`): that tool is offered too,
 *   though it is not in `tools`;
 * - server tools (web search, …) are never offered as functions (web search goes upstream as the
 *   backend's own search tool: see web_search.ts). Claude Code's `DeferredToolPlaceholder` is
 *   deferred and never loaded, so it is held back like any other.
 *
 * Every provider's request translation uses this one function, so deferral behaves the same on
 * every backend.
 *
 * @module
 */
import type { ContentBlock, MessagesRequest, Tool } from "./schema.ts";

/** The outcome of {@link selectTools}. */
export interface ToolSelection {
  /** The tools to offer the model, in the client's order; definitions added mid-conversation last. */
  tools: Tool[];
  /** Names of client tools held back: deferred and not loaded yet, or removed. */
  held: string[];
}

/** A tool change (`tool_addition` / `tool_removal`) as Claude Code and the SDK write it. */
interface ToolChange {
  type: string;
  tool?: {
    type?: string;
    name?: string;
    tool_name?: string;
    definition?: Tool;
  };
}

/** Loaded (true) or removed (false) per tool name, plus definitions added by value. */
interface LoadState {
  loaded: Map<string, boolean>;
  added: Map<string, Tool>;
}

/** Applies Anthropic's tool-search rules to a request's tools and conversation. */
export function selectTools(request: Pick<MessagesRequest, "tools" | "messages">): ToolSelection {
  const state: LoadState = { loaded: new Map(), added: new Map() };
  for (const message of request.messages) {
    if (typeof message.content === "string") continue;
    for (const block of message.content) track(block, message.role, state);
  }
  const tools: Tool[] = [];
  const held: string[] = [];
  const declared = new Set<string>();
  for (const tool of request.tools ?? []) {
    if (tool.type && tool.type !== "custom") continue;
    declared.add(tool.name);
    const status = state.loaded.get(tool.name);
    const offered = status ?? tool.defer_loading !== true;
    if (offered) tools.push(tool);
    else held.push(tool.name);
  }
  for (const [name, definition] of state.added) {
    if (!declared.has(name) && state.loaded.get(name) === true) tools.push(definition);
  }
  return { tools, held };
}

function track(block: ContentBlock, role: string, state: LoadState): void {
  switch (block.type) {
    case "tool_result": {
      const content = (block as { content?: unknown }).content;
      if (!Array.isArray(content)) return;
      for (const item of content as ContentBlock[]) {
        if (item.type === "tool_reference") load(referenceName(item), state);
      }
      return;
    }
    case "tool_reference":
      // A reference outside a tool result (user content) loads the tool the same way.
      if (role !== "assistant") load(referenceName(block), state);
      return;
    case "tool_addition":
    case "tool_removal":
      if (role === "system") change(block as ToolChange, state);
      return;
    case "compaction": {
      // A compaction summarises the loads it replaced as tool changes.
      const changes = (block as { tool_changes?: unknown }).tool_changes;
      if (Array.isArray(changes)) { for (const c of changes as ToolChange[]) change(c, state); }
      return;
    }
  }
}

function change(block: ToolChange, state: LoadState): void {
  const tool = block.tool;
  if (!tool || typeof tool !== "object") return;
  let name: string | undefined;
  if (tool.type === "tool_definition") {
    const definition = tool.definition;
    if (!definition || typeof definition.name !== "string") return;
    name = definition.name;
    if (block.type === "tool_addition") state.added.set(name, withoutDeferral(definition));
  } else {
    name = referenceName(tool);
  }
  if (!name) return;
  if (block.type === "tool_addition") load(name, state);
  else if (block.type === "tool_removal") state.loaded.set(name, false);
}

function load(name: string | undefined, state: LoadState): void {
  if (name) state.loaded.set(name, true);
}

/** `{type:"tool_reference", tool_name}` in tool results; `name` inside tool changes. */
function referenceName(reference: { [key: string]: unknown }): string | undefined {
  const name = reference.tool_name ?? reference.name;
  return typeof name === "string" && name ? name : undefined;
}

function withoutDeferral(definition: Tool): Tool {
  const { defer_loading: _, ...rest } = definition;
  return rest as Tool;
}
