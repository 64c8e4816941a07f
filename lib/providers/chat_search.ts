/**
 * OpenAI's Chat search models (`gpt-4o-search-preview`, `gpt-5-search-api`, …), which search by
 * themselves on every request, → Anthropic's web search blocks. A route such as
 * `ROUTE_WEB_SEARCH=openai/gpt-4o-search-preview` sends Claude Code's WebSearch to one.
 *
 * Their answer says neither what they searched for nor what they found: only `url_citation`
 * annotations arrive, in the last chunk. So the search is reported with the client's question as
 * its query and the cited pages as its results, and the text is held until the citations are
 * known, then split into plain and cited blocks as for the Responses API.
 *
 * @module
 */
import type { EventWriter } from "../anthropic/events.ts";
import type { Message, MessagesRequest } from "../anthropic/schema.ts";
import { webSearchOf, type WebSearchSpec } from "../anthropic/web_search.ts";
import { ResponsesSearch } from "./responses_search.ts";

/** OpenAI's Chat-only models that search on their own. */
export const CHAT_SEARCH_MODEL: RegExp = /-search-(preview|api)/;

/** What a search model's request and answer need to know. */
export interface ChatSearchSpec {
  /** The client's web search tool. */
  spec: WebSearchSpec;
  /** What the search is reported as looking for. */
  query: string;
}

/** Claude Code's WebSearch asks in these words; the rest is the query. */
const CLAUDE_CODE_ASKS = /^Perform a web search for the query:\s*/;

/** The search a request to a search model makes, if it has the web search tool. */
export function chatSearchOf(
  request: MessagesRequest,
  model: string,
): ChatSearchSpec | undefined {
  if (!CHAT_SEARCH_MODEL.test(model)) return undefined;
  const spec = webSearchOf(request.tools);
  if (!spec) return undefined;
  const last = request.messages.findLast((m) => m.role === "user");
  const query = textOf(last).replace(CLAUDE_CODE_ASKS, "").trim().slice(0, 500);
  return { spec, query };
}

function textOf(message: Message | undefined): string {
  if (!message) return "";
  if (typeof message.content === "string") return message.content;
  return message.content.flatMap((b) => b.type === "text" ? [b.text as string] : []).join("\n");
}

/** `web_search_options` for the client's tool. */
export function webSearchOptions(
  spec: WebSearchSpec,
  contextSize?: "low" | "medium" | "high",
): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  if (contextSize) options.search_context_size = contextSize;
  if (spec.userLocation) {
    options.user_location = { type: "approximate", approximate: spec.userLocation };
  }
  return options;
}

/** A Chat `url_citation` annotation. */
interface ChatAnnotation {
  type?: string;
  url_citation?: { url?: string; title?: string; start_index?: number; end_index?: number };
}

/** Holds a search model's answer until its citations arrive, then writes it Anthropic's way. */
export class ChatSearch {
  #search: ResponsesSearch;

  constructor(search: ChatSearchSpec) {
    this.#search = new ResponsesSearch(search.spec);
    this.#search.call({ type: "web_search_call", action: { type: "search", query: search.query } });
    this.#search.messageStart();
  }

  /** Answer text, held. */
  text(out: EventWriter, delta: string): void {
    this.#search.text(out, delta);
  }

  /** A chunk's `delta.annotations`. */
  annotations(out: EventWriter, annotations: unknown): void {
    if (!Array.isArray(annotations)) return;
    for (const a of annotations as ChatAnnotation[]) {
      if (a?.type === "url_citation" && a.url_citation) {
        this.#search.annotation(out, { type: "url_citation", ...a.url_citation });
      }
    }
  }

  /** The answer ended: the search, then the text split at its citations. */
  end(out: EventWriter): void {
    this.#search.flush(out);
  }
}
