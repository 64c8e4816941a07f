/**
 * Anthropic's web search server tool (`web_search_20250305` and later versions), emulated on
 * backends that search on their own side: what the client asked for (`max_uses`, domain lists,
 * `user_location`), and the blocks that go back exactly as Anthropic shapes them: a
 * `server_tool_use` (`srvtoolu_…`) per search, its `web_search_tool_result`, then text whose
 * `citations` are `web_search_result_location` entries.
 *
 * The `encrypted_content` and `encrypted_index` fields are opaque to clients, which only send
 * them back; here they carry the result's url and title (and the cited text) as base64url JSON, so
 * a later turn can show the model what it cited.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { EventWriter } from "./events.ts";
import type {
  Tool,
  ToolChoice,
  WebSearchCitation,
  WebSearchError,
  WebSearchResult,
} from "./schema.ts";
import { randomId } from "../ids.ts";

/** The approximate location a search is localised to. */
export interface UserLocation {
  city?: string;
  region?: string;
  /** Two-letter country code. */
  country?: string;
  /** IANA time zone. */
  timezone?: string;
}

/** What a request's web search tool asks for. */
export interface WebSearchSpec {
  /** The tool's name (`web_search`). */
  name: string;
  /** At most this many searches in one answer. */
  maxUses?: number;
  /** Only results from these domains (and their subdomains). */
  allowedDomains?: string[];
  /** Never results from these domains (and their subdomains). */
  blockedDomains?: string[];
  /** Where the user is, roughly. */
  userLocation?: UserLocation;
}

const WEB_SEARCH_TYPE = /^web_search_\d{8}$/;

/** True for Anthropic's web search server tool definition. */
export function isWebSearchTool(tool: Tool): boolean {
  return typeof tool.type === "string" && WEB_SEARCH_TYPE.test(tool.type);
}

/** The request's web search tool, if it has one. */
export function webSearchOf(tools: Tool[] | undefined): WebSearchSpec | undefined {
  const tool = tools?.find(isWebSearchTool);
  if (!tool) return undefined;
  const domains = (value: unknown) =>
    Array.isArray(value)
      ? value.filter((d): d is string => typeof d === "string" && d.length > 0)
      : undefined;
  const spec: WebSearchSpec = { name: tool.name };
  if (typeof tool.max_uses === "number" && tool.max_uses > 0) spec.maxUses = tool.max_uses;
  const allowed = domains(tool.allowed_domains);
  if (allowed?.length) spec.allowedDomains = allowed;
  const blocked = domains(tool.blocked_domains);
  if (blocked?.length) spec.blockedDomains = blocked;
  const location = tool.user_location as Record<string, unknown> | null | undefined;
  if (location && typeof location === "object") {
    const picked: UserLocation = {};
    for (const key of ["city", "region", "country", "timezone"] as const) {
      if (typeof location[key] === "string" && location[key]) picked[key] = location[key];
    }
    if (Object.keys(picked).length) spec.userLocation = picked;
  }
  return spec;
}

/** `tool_choice` names the web search tool (Claude Code's WebSearch forces it). */
export function choosesWebSearch(choice: ToolChoice | undefined, spec: WebSearchSpec): boolean {
  return choice?.type === "tool" && choice.name === spec.name;
}

/** A bare, lower-case domain from a domain entry (`https://Example.com/path` → `example.com`). */
function bareDomain(entry: string): string {
  return entry.trim().toLowerCase().replace(/^[a-z]+:\/\//, "").replace(/[/:].*$/, "")
    .replace(/^\*\./, "").replace(/\.$/, "");
}

function within(host: string, domain: string): boolean {
  return host === domain || host.endsWith(`.${domain}`);
}

/** The host a result belongs to: its url's, or `site` when the url is a redirect link. */
export function hostOf(url: string): string {
  try {
    return new URL(url).hostname.toLowerCase();
  } catch {
    return "";
  }
}

/**
 * Whether results from `host` may reach the client: not on a blocked domain, and on an
 * allowed one when the client listed any.
 */
export function domainAllowed(host: string, spec: WebSearchSpec): boolean {
  const name = bareDomain(host);
  if (spec.blockedDomains?.some((d) => within(name, bareDomain(d)))) return false;
  if (spec.allowedDomains?.length) {
    return spec.allowedDomains.some((d) => within(name, bareDomain(d)));
  }
  return true;
}

/** Allowed domains as the upstreams' filters want them: bare host names. */
export function bareDomains(domains: string[]): string[] {
  return [...new Set(domains.map(bareDomain).filter(Boolean))];
}

function opaque(value: Record<string, string>): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

/** Reads what {@link searchResult} or {@link webCitation} put in an opaque field, if anything. */
export function readOpaque(value: unknown): Record<string, string> | undefined {
  if (typeof value !== "string" || !value) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(value, "base64url").toString());
    return parsed && typeof parsed === "object" && !Array.isArray(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** One `web_search_result`. */
export function searchResult(url: string, title: string, pageAge?: string): WebSearchResult {
  return {
    type: "web_search_result",
    url,
    title,
    page_age: pageAge ?? null,
    encrypted_content: opaque({ url, title }),
  };
}

/** One `web_search_result_location` citation. */
export function webCitation(url: string, title: string, citedText: string): WebSearchCitation {
  return {
    type: "web_search_result_location",
    url,
    title: title || null,
    cited_text: citedText,
    encrypted_index: opaque({ url, cited_text: citedText }),
  };
}

/** A new server tool call id. */
export function serverToolId(): string {
  return randomId("srvtoolu_");
}

/** One search as a backend reported it. */
export interface Search {
  /** What was searched for. */
  query: string;
  /** What it found (before domain filtering). */
  results: Array<{ url: string; title: string; host?: string; pageAge?: string }>;
  /** The search failed upstream. */
  failed?: boolean;
}

/** A stretch of answer text and the sources that support it. */
export interface CitedSpan {
  /** UTF-16 offset where the cited text starts. */
  start: number;
  /** UTF-16 offset where it ends (exclusive). */
  end: number;
  /** The sources, each with its url and title. */
  sources: Array<{ url: string; title: string; host?: string }>;
}

/**
 * Counts searches against `max_uses`: every search gets a `server_tool_use` block, and those past
 * the limit get a `max_uses_exceeded` error instead of results, as Anthropic answers them.
 */
export class SearchWriter {
  #spec: WebSearchSpec;
  #used = 0;

  constructor(spec: WebSearchSpec) {
    this.#spec = spec;
  }

  /** Searches written so far (including refused ones). */
  get used(): number {
    return this.#used;
  }

  /** Writes one search: its call block, then its result (or error) block. */
  write(out: EventWriter, search: Search): void {
    const id = serverToolId();
    out.serverToolUse(id, this.#spec.name, { query: search.query });
    this.#used++;
    const exceeded = this.#spec.maxUses !== undefined && this.#used > this.#spec.maxUses;
    if (exceeded || search.failed) {
      const error: WebSearchError = {
        type: "web_search_tool_result_error",
        error_code: exceeded ? "max_uses_exceeded" : "unavailable",
      };
      out.webSearchResult(id, error);
      return;
    }
    const seen = new Set<string>();
    const results: WebSearchResult[] = [];
    for (const r of search.results) {
      if (seen.has(r.url) || !domainAllowed(r.host ?? hostOf(r.url), this.#spec)) continue;
      seen.add(r.url);
      results.push(searchResult(r.url, r.title || r.host || hostOf(r.url), r.pageAge));
    }
    out.webSearchResult(id, results);
  }

  /**
   * Writes answer text as Anthropic does: uncited stretches as plain text blocks, each cited
   * stretch as its own text block carrying its citations (sources from a filtered domain are
   * left out). Overlapping spans keep the first.
   */
  writeText(out: EventWriter, text: string, spans: CitedSpan[]): void {
    let at = 0;
    const sorted = [...spans].sort((a, b) => a.start - b.start || b.end - a.end);
    for (const span of sorted) {
      if (span.start < at || span.end <= span.start || span.end > text.length) continue;
      const sources = span.sources.filter((s) =>
        domainAllowed(s.host ?? hostOf(s.url), this.#spec)
      );
      if (!sources.length) continue;
      out.text(text.slice(at, span.start));
      out.closeBlock();
      const cited = text.slice(span.start, span.end);
      const seen = new Set<string>();
      for (const source of sources) {
        if (seen.has(source.url)) continue;
        seen.add(source.url);
        out.citation(webCitation(source.url, source.title, cited.trim().slice(0, 500)));
      }
      out.text(cited);
      out.closeBlock();
      at = span.end;
    }
    out.text(text.slice(at));
  }
}
