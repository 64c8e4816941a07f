/**
 * Tool lists that fit a backend: the tools the model may see ({@link selectTools}: deferred tools
 * only once loaded), checked against the backend's count limit, with names the backend accepts
 * (a stable alias for the rest, mapped back exactly on the way out).
 *
 * Limits, from the providers' API references:
 * - OpenAI Chat Completions and Responses, Azure OpenAI: at most 128 tools; function names
 *   `^[a-zA-Z0-9_-]{1,64}$`.
 * - Gemini: function names start with a letter or `_`, then `[A-Za-z0-9_.:-]`, at most 64
 *   characters (the Developer API reference; Vertex documents 128). The Developer API documents
 *   no count limit; Vertex documents 512 declarations (64 and 128 in older versions), the number
 *   used here.
 *
 * @module
 */
import { ProxyError } from "../anthropic/errors.ts";
import type { MessagesRequest, Tool } from "../anthropic/schema.ts";
import { selectTools } from "../anthropic/tools.ts";
import { toolAliases } from "../anthropic/conversation.ts";
import { shortHash } from "../ids.ts";

/** What a backend accepts in its tool list. */
export interface ToolLimits {
  /** Most tools one request may declare. */
  maxTools: number;
  /** Longest function name. */
  maxName: number;
  /** A name the backend accepts as is. */
  valid: RegExp;
  /** Characters the backend refuses in a name (global). */
  invalid: RegExp;
  /** Characters a name may start with (anything else is replaced by `_`). */
  first?: RegExp;
}

/** OpenAI Chat Completions and Responses, and Azure OpenAI. */
export const OPENAI_TOOL_LIMITS: ToolLimits = {
  maxTools: 128,
  maxName: 64,
  valid: /^[a-zA-Z0-9_-]{1,64}$/,
  invalid: /[^a-zA-Z0-9_-]/g,
};

/** Gemini (Developer API). */
export const GEMINI_TOOL_LIMITS: ToolLimits = {
  maxTools: 512,
  maxName: 64,
  valid: /^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/,
  invalid: /[^A-Za-z0-9_.:-]/g,
  first: /^[A-Za-z_]/,
};

const HASH_LENGTH = 8;

/**
 * A name `limits` accept: the name itself when it fits, else its first characters (made valid)
 * plus `_` and a hash of the whole name, so distinct names stay distinct.
 */
export function fitToolName(name: string, limits: ToolLimits): string {
  if (limits.valid.test(name)) return name;
  let safe = name.replace(limits.invalid, "_");
  if (limits.first && !limits.first.test(safe)) safe = `_${safe.slice(1)}`;
  const hash = shortHash(name, HASH_LENGTH).replace(/[^a-zA-Z0-9_]/g, "_");
  return `${safe.slice(0, limits.maxName - HASH_LENGTH - 1)}_${hash}`;
}

/** How many tools a translated request declares, and how many it held back. */
export interface ToolCount {
  /** Declared upstream. */
  sent: number;
  /** Client tools held back (deferred and not loaded, or removed). */
  held: number;
}

/** The outcome of {@link upstreamTools}. */
export interface UpstreamTools {
  /** The tools to declare upstream, client names unchanged (use `alias` for the wire). */
  tools: Tool[];
  /** How many client tools were held back (deferred and not loaded, or removed). */
  held: number;
  /** Client name → upstream name; remembers each name it gives out in `toolNames`. */
  alias: (name: string) => string;
  /** Upstream name → client name, for the calls that come back. */
  toolNames: Map<string, string>;
}

/**
 * The tools to declare for `backend`. A list still longer than the backend accepts after
 * deferral is a 400 `invalid_request_error` naming the limit, the count and the backend, before
 * any upstream call. (Its text avoids the words Claude Code reads as "tool search unsupported",
 * which would make it resend every deferred tool inline.)
 */
export function upstreamTools(
  request: Pick<MessagesRequest, "tools" | "messages">,
  backend: string,
  limits: ToolLimits,
): UpstreamTools {
  const { tools, held } = selectTools(request);
  if (tools.length > limits.maxTools) {
    const heldNote = held.length ? ` (${held.length} more are deferred and not loaded)` : "";
    throw new ProxyError(
      "invalid_request_error",
      `tools: ${tools.length} tools exceed ${backend}'s limit of ${limits.maxTools} tools per ` +
        `request${heldNote}; offer fewer tools (with Claude Code: fewer MCP servers, or tool ` +
        `search on, which is its default)`,
    );
  }
  const { toolNames, alias } = toolAliases((name) => fitToolName(name, limits));
  return { tools, held: held.length, alias, toolNames };
}
