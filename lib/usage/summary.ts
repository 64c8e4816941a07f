/**
 * Usage summaries: the ledger's daily totals added up over a range of days, as a whole and per
 * group (backend model, key, session, provider or day). The one shape `GET /v1/usage`,
 * `ccproxy usage` and the dashboard share.
 *
 * @module
 */
import { ProxyError } from "../anthropic/errors.ts";
import { type Counts, dayOf, type Ledger, type TotalsRow, zeroCounts } from "./ledger.ts";
import { NANOS_PER_USD } from "./prices.ts";
import type { UsageRecord } from "./record.ts";

/** How a summary may be grouped. */
export const GROUPS = ["model", "key", "session", "provider", "day"] as const;

/** One grouping. */
export type GroupBy = typeof GROUPS[number];

/** What to summarize. */
export interface UsageQuery {
  /** First UTC day, `YYYY-MM-DD`. */
  from: string;
  /** Last UTC day, inclusive. */
  to: string;
  /** Grouping, if any. */
  groupBy?: GroupBy;
  /** Only this Claude Code session. */
  session?: string;
  /** Only this key's requests (a key that is not in `ADMIN_KEYS` reads only its own). */
  key?: string;
}

/** Totals of a set of requests, as JSON. */
export interface UsageTotals {
  /** Requests recorded. */
  requests: number;
  /** Requests that failed (an error status or an error event); client cancels are not failures. */
  errors: number;
  /** Requests the client cancelled (status 499), not in `errors`. */
  cancelled: number;
  /** Uncached input tokens. */
  input_tokens: number;
  /** Output tokens. */
  output_tokens: number;
  /** Input tokens read from a cache. */
  cache_read_input_tokens: number;
  /** Input tokens written to a cache. */
  cache_creation_input_tokens: number;
  /** Web searches. */
  web_search_requests: number;
  /** Cost of the priced requests in USD; null when no request could be priced. */
  cost_usd: number | null;
  /** Requests whose model the price catalog does not know (not in `cost_usd`). */
  unpriced_requests: number;
  /** Mean latency in ms. */
  mean_latency_ms: number;
}

/** The answer of `GET /v1/usage`. */
export interface UsageSummary {
  /** First day. */
  from: string;
  /** Last day. */
  to: string;
  /** The grouping, or null. */
  group_by: GroupBy | null;
  /** The session filter, or null. */
  session: string | null;
  /** The key filter, or null (every key's requests). */
  key: string | null;
  /** Everything in the range. */
  totals: UsageTotals;
  /** Per group (empty without `group_by`), most expensive first. */
  groups: Array<UsageTotals & { group: string }>;
  /** The newest request (of the session, with `session`), or null. */
  last: LastRequest | null;
}

/** The newest request of a summary. */
export interface LastRequest {
  /** `req_…`. */
  request_id: string;
  /** When it ended (ISO 8601). */
  time: string;
  /** Requested model. */
  model: string;
  /** Provider that served it. */
  provider: string;
  /** Backend model that served it. */
  backend_model: string;
  /** HTTP status. */
  status: number;
  /** Its cost in USD, null when unknown. */
  cost_usd: number | null;
}

/** Totals as JSON from summed counts. */
export function toTotals(c: Counts): UsageTotals {
  return {
    requests: c.requests,
    errors: c.errors,
    cancelled: c.cancelled,
    input_tokens: c.input_tokens,
    output_tokens: c.output_tokens,
    cache_read_input_tokens: c.cache_read_input_tokens,
    cache_creation_input_tokens: c.cache_creation_input_tokens,
    web_search_requests: c.web_search_requests,
    cost_usd: c.requests && c.unpriced === c.requests ? null : c.cost_nanos / NANOS_PER_USD,
    unpriced_requests: c.unpriced,
    mean_latency_ms: c.requests ? Math.round(c.latency_ms / c.requests) : 0,
  };
}

/** Adds `b` into `a`. */
export function addCounts(a: Counts, b: Counts): Counts {
  for (const k of Object.keys(a) as Array<keyof Counts>) a[k] += b[k];
  return a;
}

function groupOf(row: TotalsRow, by: GroupBy): string {
  switch (by) {
    case "model":
      // Requests no provider served (refused, answered locally) are their provider alone.
      return row.model ? `${row.provider}/${row.model}` : row.provider || "rejected";
    case "key":
      return row.key;
    case "session":
      return row.session;
    case "provider":
      return row.provider;
    case "day":
      return row.day;
  }
}

/** The summary of `rows` (pure: the totals rows are read by {@link summarize}). */
export function summarizeRows(
  rows: TotalsRow[],
  query: UsageQuery,
  last?: UsageRecord,
): UsageSummary {
  const total = zeroCounts();
  const groups = new Map<string, Counts>();
  for (const row of rows) {
    if (query.key !== undefined && row.key !== query.key) continue;
    addCounts(total, row.counts);
    if (!query.groupBy) continue;
    const name = groupOf(row, query.groupBy);
    addCounts(groups.get(name) ?? groups.set(name, zeroCounts()).get(name)!, row.counts);
  }
  const ordered = [...groups].sort(([a, x], [b, y]) =>
    query.groupBy === "day" ? a.localeCompare(b) : y.cost_nanos - x.cost_nanos || a.localeCompare(b)
  );
  return {
    from: query.from,
    to: query.to,
    group_by: query.groupBy ?? null,
    session: query.session ?? null,
    key: query.key ?? null,
    totals: toTotals(total),
    groups: ordered.map(([group, counts]) => ({ group, ...toTotals(counts) })),
    last: last ? lastRequest(last) : null,
  };
}

/** A record as the summary's `last`. */
export function lastRequest(record: UsageRecord): LastRequest {
  return {
    request_id: record.requestId,
    time: new Date(record.time).toISOString(),
    model: record.model,
    provider: record.provider,
    backend_model: record.backendModel,
    status: record.status,
    cost_usd: record.costUsd,
  };
}

/** Reads the ledger and summarizes. */
export async function summarize(ledger: Ledger, query: UsageQuery): Promise<UsageSummary> {
  const [rows, last] = await Promise.all([
    ledger.totals(query.from, query.to, query.session),
    query.key !== undefined && query.session === undefined
      ? ledger.lastOfKey(query.key)
      : ledger.last(query.session),
  ]);
  const inRange = last && dayOf(last.time) >= query.from && dayOf(last.time) <= query.to &&
    (query.key === undefined || last.key === query.key);
  return summarizeRows(rows, query, inRange ? last : undefined);
}

const DAY_MS = 86_400_000;

/**
 * A day parameter: `YYYY-MM-DD` or an ISO 8601 time (its UTC day). The day must exist (no
 * 2026-02-30, which `Date.parse` would roll into March) and have a four-digit year (an expanded
 * year such as `+275760` would sort wrongly against the other bound).
 */
function day(value: string, name: string): string {
  const date = /^(\d{4})-(\d\d)-(\d\d)(?:$|T)/.exec(value);
  const time = Date.parse(value.length === 10 ? `${value}T00:00:00Z` : value);
  const real = date !== null &&
    dayOf(Date.UTC(+date[1], +date[2] - 1, +date[3])) === date.slice(1).join("-");
  if (!real || !Number.isFinite(time) || !/^\d{4}-/.test(dayOf(time))) {
    throw new ProxyError(
      "invalid_request_error",
      `${name}: takes a day (YYYY-MM-DD) or an ISO 8601 time, got ${JSON.stringify(value)}`,
    );
  }
  return dayOf(time);
}

/**
 * The query of `from`, `to`, `group_by` and `session` parameters. `to` defaults to today; `from`
 * to `to`, or with `session` to the first day the ledger keeps, so a session's whole history
 * counts.
 */
export function parseQuery(
  params: URLSearchParams,
  options: { now?: number; retentionDays?: number } = {},
): UsageQuery {
  const now = options.now ?? Date.now();
  const to = params.get("to") ? day(params.get("to")!, "to") : dayOf(now);
  const session = params.get("session") ?? undefined;
  const first = dayOf(Date.parse(`${to}T00:00:00Z`) - ((options.retentionDays ?? 30) - 1) * DAY_MS);
  const from = params.get("from") ? day(params.get("from")!, "from") : session ? first : to;
  if (from > to) throw new ProxyError("invalid_request_error", `from: ${from} is after to: ${to}`);
  const groupBy = params.get("group_by") ?? undefined;
  if (groupBy !== undefined && !(GROUPS as readonly string[]).includes(groupBy)) {
    throw new ProxyError(
      "invalid_request_error",
      `group_by: takes one of ${GROUPS.join(", ")}, got ${JSON.stringify(groupBy)}`,
    );
  }
  return { from, to, groupBy: groupBy as GroupBy | undefined, session };
}

const COLUMNS: Array<[string, (t: UsageTotals) => string]> = [
  ["requests", (t) => String(t.requests)],
  ["errors", (t) => String(t.errors)],
  ["input", (t) => String(t.input_tokens)],
  ["output", (t) => String(t.output_tokens)],
  ["cache read", (t) => String(t.cache_read_input_tokens)],
  ["cache write", (t) => String(t.cache_creation_input_tokens)],
  ["cost USD", (t) => formatUsd(t)],
  ["ms (mean)", (t) => String(t.mean_latency_ms)],
];

function formatUsd(t: UsageTotals): string {
  if (t.cost_usd === null) return "unknown";
  return `${t.cost_usd.toFixed(4)}${
    t.unpriced_requests ? ` (+${t.unpriced_requests} unknown)` : ""
  }`;
}

/** The summary as a plain-text table (`ccproxy usage`). */
export function formatTable(summary: UsageSummary): string {
  const by = summary.group_by ?? "range";
  const header = [by, ...COLUMNS.map(([name]) => name)];
  const lines = [
    ...summary.groups.map((g) => [g.group || "(none)", ...COLUMNS.map(([, f]) => f(g))]),
    ["total", ...COLUMNS.map(([, f]) => f(summary.totals))],
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const row = (cells: string[]) =>
    cells.map((c, i) => i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])).join("  ");
  const title = `usage ${summary.from} to ${summary.to}` +
    (summary.session !== null ? `, session ${summary.session}` : "");
  return [title, row(header), ...lines.map(row)].join("\n");
}
