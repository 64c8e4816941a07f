/**
 * What kind of Claude Code request this is, read from the shapes Claude Code 2.1.332 really sends
 * (recorded in `tests/testdata/claude_code_*.json`):
 *
 * - a sub-agent (the Agent tool): the billing line of its system prompt says
 *   `cc_is_subagent=true`, and the request carries `x-claude-code-agent-id`;
 * - "ultrathink": the current turn carries Claude Code's note `The user included the keyword
 *   "ultrathink"`; `/effort high|xhigh|max` (or `CLAUDE_CODE_EFFORT_LEVEL`) sends
 *   `output_config.effort` above the default `medium`. "think hard" is no keyword any more: it
 *   changes nothing in the request. `thinking` itself says nothing: it is on in almost every
 *   request (`{type: "adaptive"}`), and for older models (`claude-sonnet-4-5`, `claude-haiku-4-5`)
 *   Claude Code sends `{type: "enabled", budget_tokens: 31999}` on every request;
 * - plan mode: `safeguards[].classifier_context.permission_mode` is `plan`, and the turn says
 *   "Plan mode is active";
 * - background chores (titles, summaries, quota checks): a haiku-class model name;
 * - web search: a `web_search_*` server tool; images: an image block anywhere in the messages.
 *
 * @module
 */
import type { MessagesRequest } from "../anthropic/schema.ts";
import type { RouteSlot } from "../config.ts";

/** The facts about a request that task routes use. */
export interface RequestTraits {
  /** Sent by a Claude Code sub-agent. */
  subagent: boolean;
  /** Asks for deep thinking (ultrathink, an effort above medium) or is in plan mode. */
  think: boolean;
  /** A haiku-class (background) request. */
  background: boolean;
  /** Declares the web search server tool. */
  webSearch: boolean;
  /** Has an image in its messages. */
  image: boolean;
  /** A model pinned by a `<ccproxy-model>provider/model</ccproxy-model>` marker in the system
   * prompt (a sub-agent definition can carry one). */
  marker?: string;
}

const ULTRATHINK = 'The user included the keyword "ultrathink"';
const PLAN_MODE = "Plan mode is active.";
const MARKER = /<ccproxy-model>\s*([^<\s]+)\s*<\/ccproxy-model>/;
/** Efforts above Claude Code's default (`medium`). */
const DEEP_EFFORTS = new Set(["high", "xhigh", "max"]);

/** Reads a request's traits; `headers` are the client's request headers. */
export function requestTraits(request: MessagesRequest, headers?: Headers): RequestTraits {
  const system = systemText(request);
  const marker = MARKER.exec(system)?.[1];
  return {
    subagent: system.includes("cc_is_subagent=true") ||
      Boolean(headers?.has("x-claude-code-agent-id")),
    think: deepThinking(request) || planMode(request),
    background: request.model.toLowerCase().includes("haiku"),
    webSearch: (request.tools ?? []).some((tool) => tool.type?.startsWith("web_search")),
    image: hasImage(request.messages),
    ...(marker ? { marker } : {}),
  };
}

/**
 * The task route a request takes, or undefined for the sized default. The first configured slot
 * that applies wins: web search, image, sub-agent, think, background (long context is decided
 * by the token count, before these).
 */
export function taskSlot(
  traits: RequestTraits,
  configured: Partial<Record<RouteSlot, unknown>>,
): RouteSlot | undefined {
  const order: Array<[RouteSlot, boolean]> = [
    ["webSearch", traits.webSearch],
    ["image", traits.image],
    ["subagent", traits.subagent],
    ["think", traits.think],
    ["background", traits.background],
  ];
  return order.find(([slot, applies]) => applies && configured[slot])?.[0];
}

function systemText(request: MessagesRequest): string {
  const system = request.system;
  if (typeof system === "string") return system;
  return (system ?? []).map((block) => block.text ?? "").join("\n");
}

function deepThinking(request: MessagesRequest): boolean {
  const effort = (request as { output_config?: { effort?: unknown } }).output_config?.effort;
  if (typeof effort === "string" && DEEP_EFFORTS.has(effort)) return true;
  return currentTurnSays(request, ULTRATHINK);
}

function planMode(request: MessagesRequest): boolean {
  const safeguards = (request as { safeguards?: unknown }).safeguards;
  if (Array.isArray(safeguards)) {
    for (const safeguard of safeguards) {
      const mode = (safeguard as { classifier_context?: { permission_mode?: unknown } })
        ?.classifier_context?.permission_mode;
      if (mode === "plan") return true;
    }
  }
  return currentTurnSays(request, PLAN_MODE);
}

/**
 * Whether a text of the current turn contains `needle`: the messages since the user's last own
 * prompt (a user message without tool results). Claude Code keeps its turn notes beside that
 * prompt while the turn's tool loop goes on, so every request of the loop carries them.
 */
function currentTurnSays(request: MessagesRequest, needle: string): boolean {
  for (let i = request.messages.length - 1; i >= 0; i--) {
    const message = request.messages[i] as { role: string; content: unknown };
    if (typeof message.content === "string") {
      if (message.content.includes(needle)) return true;
      if (message.role === "user") return false;
      continue;
    }
    let toolResults = false;
    for (const block of message.content as Array<{ type?: string; text?: unknown }>) {
      if (typeof block.text === "string" && block.text.includes(needle)) return true;
      if (block.type === "tool_result") toolResults = true;
    }
    if (message.role === "user" && !toolResults) return false;
  }
  return false;
}

/** An image block in any message or tool result (iterative: no deep recursion). */
function hasImage(messages: MessagesRequest["messages"]): boolean {
  const stack: unknown[] = [...messages];
  while (stack.length) {
    const item = stack.pop();
    if (!item || typeof item !== "object") continue;
    if (Array.isArray(item)) {
      for (const child of item) stack.push(child); // a spread would overflow the stack
      continue;
    }
    const block = item as { type?: unknown; content?: unknown };
    if (block.type === "image") return true;
    if (Array.isArray(block.content)) { for (const child of block.content) stack.push(child); }
  }
  return false;
}
