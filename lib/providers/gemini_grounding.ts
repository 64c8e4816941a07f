/**
 * Gemini's Google Search grounding (`groundingMetadata`) → Anthropic's web search blocks, for the
 * Gemini stream translator.
 *
 * Gemini searches before it writes, but says what it searched only with its last chunks:
 * `webSearchQueries`, `groundingChunks` (`web: {uri, title, domain}`, where `uri` is a Google
 * redirect link and `title` is usually the site's domain) and `groundingSupports` (a `segment` of
 * the answer by UTF-8 byte offsets, and the chunks that support it). So a grounded answer's text
 * is held until the metadata is known, then written in Anthropic's order: a `server_tool_use` and
 * `web_search_tool_result` per query, then the text split into plain and cited blocks.
 *
 * @module
 */
import type { EventWriter } from "../anthropic/events.ts";
import {
  type CitedSpan,
  type Search,
  SearchWriter,
  type WebSearchSpec,
} from "../anthropic/web_search.ts";

/** `groundingMetadata` (the fields used). */
export interface GroundingMetadata {
  webSearchQueries?: string[];
  groundingChunks?: Array<{ web?: { uri?: string; title?: string; domain?: string } }>;
  groundingSupports?: Array<{
    segment?: { startIndex?: number; endIndex?: number; text?: string; partIndex?: number };
    groundingChunkIndices?: number[];
  }>;
}

/** Holds a grounded Gemini answer's text until its grounding metadata is known. */
export class GeminiGrounding {
  #writer: SearchWriter;
  #text = "";
  #metadata: GroundingMetadata = {};

  constructor(spec: WebSearchSpec) {
    this.#writer = new SearchWriter(spec);
  }

  /** Searches written so far. */
  get searches(): number {
    return this.#writer.used;
  }

  /** Answer text, held. */
  text(delta: string): void {
    this.#text += delta;
  }

  /** A chunk's `groundingMetadata`: the newest non-empty value of each field wins. */
  metadata(metadata: GroundingMetadata | undefined): void {
    if (!metadata) return;
    for (const key of ["webSearchQueries", "groundingChunks", "groundingSupports"] as const) {
      if (metadata[key]?.length) (this.#metadata as Record<string, unknown>)[key] = metadata[key];
    }
  }

  /** Writes the searches and the held text (before a function call, and at the end). */
  flush(out: EventWriter): void {
    const { webSearchQueries = [], groundingChunks = [], groundingSupports = [] } = this.#metadata;
    const pages = groundingChunks.map((chunk) => {
      const web = chunk.web ?? {};
      const site = web.domain ?? (/^[\w-]+(\.[\w-]+)+$/.test(web.title ?? "") ? web.title : "");
      return { url: web.uri ?? "", title: web.title ?? site ?? "", host: site || undefined };
    });
    // Gemini does not say which query found which page: the first search holds them all.
    const searches: Search[] = webSearchQueries.map((query, i) => ({
      query,
      results: i === 0 ? pages.filter((p) => p.url) : [],
    }));
    if (!searches.length && pages.length) searches.push({ query: "", results: pages });
    for (const search of searches) this.#writer.write(out, search);
    const text = this.#text;
    this.#text = "";
    this.#metadata = {};
    const spans: CitedSpan[] = [];
    const offsets = byteOffsets(text);
    for (const support of groundingSupports) {
      const sources = (support.groundingChunkIndices ?? []).flatMap((i) =>
        pages[i]?.url ? [pages[i]] : []
      );
      const range = locate(text, offsets, support.segment);
      if (range && sources.length) spans.push({ ...range, sources });
    }
    this.#writer.writeText(out, text, spans);
  }
}

/** UTF-8 byte offset → UTF-16 offset of `text`. */
function byteOffsets(text: string): (bytes: number) => number {
  // deno-lint-ignore no-control-regex -- ASCII is one byte a character
  if (!/[^\x00-\x7f]/.test(text)) return (bytes) => Math.min(bytes, text.length);
  const map = new Map<number, number>();
  let bytes = 0;
  let i = 0;
  for (const char of text) {
    map.set(bytes, i);
    const code = char.codePointAt(0)!;
    bytes += code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
    i += char.length;
  }
  map.set(bytes, i);
  return (offset) => map.get(offset) ?? -1;
}

/** Where a support's segment is in the text: by its offsets, else by its text. */
function locate(
  text: string,
  offsets: (bytes: number) => number,
  segment: { startIndex?: number; endIndex?: number; text?: string } | undefined,
): { start: number; end: number } | undefined {
  if (!segment) return undefined;
  // A zero offset is left out of the JSON.
  const start = offsets(segment.startIndex ?? 0);
  const end = segment.endIndex === undefined ? -1 : offsets(segment.endIndex);
  if (start >= 0 && end > start && (!segment.text || text.slice(start, end) === segment.text)) {
    return { start, end };
  }
  if (!segment.text) return undefined;
  const found = text.indexOf(segment.text);
  return found < 0 ? undefined : { start: found, end: found + segment.text.length };
}
