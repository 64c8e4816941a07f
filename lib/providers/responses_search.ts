/**
 * OpenAI's hosted web search (Responses `web_search_call` items and `url_citation` annotations)
 * → Anthropic's web search blocks, for the Responses stream translator.
 *
 * A finished `web_search_call` carries its query and (with `include:
 * ["web_search_call.action.sources"]`) the urls it found, but no titles; the titles come with the
 * answer's `url_citation` annotations. So the searches wait for the answer text that follows them,
 * and then go out in Anthropic's order: each search's `server_tool_use` and
 * `web_search_tool_result`, then the text split into plain and cited blocks. Text that no search
 * preceded streams as it comes, its citations added to its open block.
 *
 * @module
 */
import type { EventWriter } from "../anthropic/events.ts";
import {
  type CitedSpan,
  hostOf,
  type Search,
  SearchWriter,
  webCitation,
  type WebSearchSpec,
} from "../anthropic/web_search.ts";

/** A `web_search_call` output item (the fields used). */
export interface WebSearchCallItem {
  type: "web_search_call";
  id?: string;
  status?: string;
  action?: {
    type?: string;
    query?: string;
    queries?: string[];
    sources?: Array<{ type?: string; url?: string }>;
  } | null;
}

/** A `url_citation` annotation (the fields used). */
export interface UrlCitation {
  type: string;
  url?: string;
  title?: string;
  start_index?: number;
  end_index?: number;
}

/** Collects one Responses answer's searches and citations and writes them Anthropic's way. */
export class ResponsesSearch {
  #writer: SearchWriter;
  #pending: Search[] = [];
  #text = "";
  #annotations: UrlCitation[] = [];
  #holding = false;

  constructor(spec: WebSearchSpec) {
    this.#writer = new SearchWriter(spec);
  }

  /** Searches the answer made (the ones past `max_uses` included). */
  get searches(): number {
    return this.#writer.used + this.#pending.length;
  }

  /** A `web_search_call` item finished: its search waits for the text that cites it. */
  call(item: WebSearchCallItem): void {
    const action = item.action;
    // Opening or searching within a page is part of the search that found it.
    if (action?.type && action.type !== "search") return;
    const query = action?.query ?? action?.queries?.join(" | ") ?? "";
    const results = (action?.sources ?? []).flatMap((s) =>
      s.url ? [{ url: s.url, title: "" }] : []
    );
    this.#pending.push({ query, results, failed: item.status === "failed" });
  }

  /** A message item starts: its text is held while searches wait for their titles. */
  messageStart(): void {
    this.#holding = this.#pending.length > 0;
    this.#text = "";
    this.#annotations = [];
  }

  /** Answer text: held, or written as it comes. */
  text(out: EventWriter, delta: string): void {
    if (this.#holding) this.#text += delta;
    else out.text(delta);
  }

  /** A `url_citation` annotation: kept for the held text, or added to the open text block. */
  annotation(out: EventWriter, annotation: UrlCitation | null | undefined): void {
    if (annotation?.type !== "url_citation" || !annotation.url) return;
    if (this.#holding) {
      this.#annotations.push(annotation);
      return;
    }
    out.citation(webCitation(annotation.url, annotation.title ?? "", annotation.title ?? ""));
  }

  /**
   * The message item finished (`annotations` from its `output_text` part, when the stream gave
   * none on the way): the searches go out with the titles the citations name, then the text.
   */
  messageDone(out: EventWriter, annotations: UrlCitation[] = []): void {
    if (!this.#holding) {
      out.closeBlock();
      return;
    }
    this.#holding = false;
    const cites = (this.#annotations.length ? this.#annotations : annotations).filter((a) =>
      a.type === "url_citation" && a.url
    );
    this.#writeSearches(out, cites);
    this.#writer.writeText(out, this.#text, spans(this.#text, cites));
    out.closeBlock();
    this.#text = "";
    this.#annotations = [];
  }

  /** Searches still waiting (before a function call, or at the end) go out as they are. */
  flush(out: EventWriter): void {
    if (this.#holding) this.messageDone(out);
    else this.#writeSearches(out, []);
  }

  #writeSearches(out: EventWriter, cites: UrlCitation[]): void {
    const titles = new Map(cites.map((c) => [c.url!, c.title ?? ""]));
    const searches = this.#pending;
    this.#pending = [];
    // Without sources (not included upstream), the cited pages are the last search's results.
    if (searches.length && searches.every((s) => !s.results.length)) {
      searches.at(-1)!.results = [...titles.keys()].map((url) => ({ url, title: "" }));
    }
    for (const search of searches) {
      for (const result of search.results) {
        result.title = titles.get(result.url) || hostOf(result.url);
      }
      this.#writer.write(out, search);
    }
  }
}

/**
 * Cited stretches of `text`: each annotation marks the link it put in the text; the claim it
 * supports is the sentence before it, so a span runs from the previous span's end (or the
 * sentence start) to the annotation's end. Offsets are code points upstream, UTF-16 here.
 */
function spans(text: string, cites: UrlCitation[]): CitedSpan[] {
  const toUtf16 = codePointOffsets(text);
  const out: CitedSpan[] = [];
  let previousEnd = 0;
  const sorted = [...cites].sort((a, b) => (a.start_index ?? 0) - (b.start_index ?? 0));
  for (const cite of sorted) {
    if (cite.start_index === undefined || cite.end_index === undefined) continue;
    const linkStart = toUtf16(cite.start_index);
    const end = toUtf16(cite.end_index);
    const last = out.at(-1);
    if (last && linkStart < last.end) {
      // Another source for the same stretch.
      if (!last.sources.some((s) => s.url === cite.url)) {
        last.sources.push({ url: cite.url!, title: cite.title ?? "" });
      }
      continue;
    }
    const sentence = Math.max(
      previousEnd,
      text.lastIndexOf("\n", linkStart - 1) + 1,
      sentenceStart(text, linkStart),
    );
    // The claim's full stop, when it follows the link, belongs to it.
    const stop = /^[.!?]/.test(text.slice(end)) ? end + 1 : end;
    out.push({
      start: sentence,
      end: stop,
      sources: [{ url: cite.url!, title: cite.title ?? "" }],
    });
    previousEnd = stop;
  }
  return out;
}

/** Where the claim before the link at `at` starts: after the sentence before it. */
function sentenceStart(text: string, at: number): number {
  // The claim's own full stop (before or after its link) is not the one that ends the previous.
  const claim = text.slice(0, at).replace(/[\s(]*$/, "").replace(/[.!?]$/, "");
  const previous = /.*[.!?]\s+/s.exec(claim);
  return previous ? previous[0].length : 0;
}

/** Code point offset → UTF-16 offset of `text` (the same when there are no astral characters). */
function codePointOffsets(text: string): (offset: number) => number {
  if (!/[\uD800-\uDBFF]/.test(text)) return (offset) => Math.min(offset, text.length);
  const map: number[] = [];
  let i = 0;
  for (const char of text) {
    map.push(i);
    i += char.length;
  }
  map.push(i);
  return (offset) => map[Math.min(offset, map.length - 1)];
}
