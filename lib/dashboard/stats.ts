/**
 * What the dashboard shows, computed from usage records: totals per backend model, key and
 * session over today / 7 days / 30 days (requests, tokens, cost, error rate, p50 / p95 latency),
 * cost and requests per hour, and each provider's health. Pure functions of the records.
 *
 * @module
 */
import { cancelled, failed, REJECTED, type UsageRecord } from "../usage/record.ts";

export { failed };

/** The windows the totals cover. */
export const WINDOWS = { today: 0, "7d": 7, "30d": 30 } as const;

/** One window's name. */
export type WindowName = keyof typeof WINDOWS;

/** Totals of one group in one window. */
export interface GroupStats {
  /** The group (`provider/model`, key name or session id). */
  group: string;
  /** Requests. */
  requests: number;
  /** Input tokens, cache reads and writes included. */
  input_tokens: number;
  /** Output tokens. */
  output_tokens: number;
  /** Cost of the priced requests in USD. */
  cost_usd: number;
  /** Requests whose price is unknown. */
  unpriced: number;
  /** Failed requests ÷ requests (client cancels are not failures). */
  error_rate: number;
  /** Requests the client cancelled. */
  cancelled: number;
  /** Median latency in ms. */
  p50_ms: number;
  /** 95th percentile latency in ms. */
  p95_ms: number;
}

/** Every window × grouping. */
export type Totals = Record<WindowName, Record<"model" | "key" | "session", GroupStats[]>>;

/** Cost and requests of one hour. */
export interface HourPoint {
  /** Start of the hour, seconds since the epoch (uPlot's x unit). */
  t: number;
  /** Requests. */
  requests: number;
  /** Cost in USD. */
  cost_usd: number;
}

/** A provider's recent health. */
export interface ProviderHealth {
  /** Provider. */
  provider: string;
  /** Requests in the last hour. */
  requests: number;
  /** Failed ÷ requests in the last hour (client cancels are not failures). */
  error_rate: number;
  /** Requests the client cancelled in the last hour. */
  cancelled: number;
  /** The latest failure, if any. */
  last_error: { time: string; status: number; type: string } | null;
}

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

/** The `q` quantile (nearest rank) of `values`. */
export function quantile(values: number[], q: number): number {
  if (!values.length) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

function groupStats(group: string, records: UsageRecord[]): GroupStats {
  const latencies = records.map((r) => r.latencyMs);
  let cost = 0;
  let unpriced = 0;
  let input = 0;
  let output = 0;
  let errors = 0;
  let cancels = 0;
  for (const r of records) {
    if (r.costUsd === null) unpriced++;
    else cost += r.costUsd;
    input += r.usage.input_tokens + r.usage.cache_read_input_tokens +
      r.usage.cache_creation_input_tokens;
    output += r.usage.output_tokens;
    if (failed(r)) errors++;
    else if (cancelled(r)) cancels++;
  }
  return {
    group,
    requests: records.length,
    input_tokens: input,
    output_tokens: output,
    cost_usd: Math.round(cost * 1e9) / 1e9,
    unpriced,
    error_rate: records.length ? errors / records.length : 0,
    cancelled: cancels,
    p50_ms: quantile(latencies, 0.5),
    p95_ms: quantile(latencies, 0.95),
  };
}

function grouped(records: UsageRecord[], by: (r: UsageRecord) => string): GroupStats[] {
  const groups = new Map<string, UsageRecord[]>();
  for (const r of records) {
    const name = by(r);
    (groups.get(name) ?? groups.set(name, []).get(name)!).push(r);
  }
  return [...groups].map(([name, rs]) => groupStats(name, rs))
    .sort((a, b) => b.cost_usd - a.cost_usd || b.requests - a.requests);
}

/** The start (ms) of the UTC day of `now`, minus `days - 1` days (`today`: 0 → the day itself). */
function windowStart(now: number, days: number): number {
  const midnight = Math.floor(now / DAY_MS) * DAY_MS;
  return days ? midnight - (days - 1) * DAY_MS : midnight;
}

/** Totals for every window and grouping. */
export function totals(records: UsageRecord[], now: number): Totals {
  const out = {} as Totals;
  for (const [name, days] of Object.entries(WINDOWS) as Array<[WindowName, number]>) {
    const start = windowStart(now, days);
    const inside = records.filter((r) => r.time >= start);
    out[name] = {
      model: grouped(inside, modelGroup),
      key: grouped(inside, (r) => r.key),
      session: grouped(inside, (r) => r.session || "(none)"),
    };
  }
  return out;
}

/** A record's model group: `provider/model`, or the provider alone when none served it. */
function modelGroup(r: UsageRecord): string {
  return r.backendModel ? `${r.provider}/${r.backendModel}` : r.provider || REJECTED;
}

/** Cost and requests for each of the last `hours` hours (oldest first). */
export function hourly(records: UsageRecord[], now: number, hours = 24): HourPoint[] {
  const current = Math.floor(now / HOUR_MS) * HOUR_MS;
  const first = current - (hours - 1) * HOUR_MS;
  const points = Array.from({ length: hours }, (_, i) => ({
    t: (first + i * HOUR_MS) / 1000,
    requests: 0,
    cost_usd: 0,
  }));
  for (const r of records) {
    const i = Math.floor((r.time - first) / HOUR_MS);
    if (i < 0 || i >= hours) continue;
    points[i].requests++;
    points[i].cost_usd += r.costUsd ?? 0;
  }
  for (const p of points) p.cost_usd = Math.round(p.cost_usd * 1e9) / 1e9;
  return points;
}

/** Each provider's error rate over the last hour and its latest failure. */
export function health(records: UsageRecord[], now: number): ProviderHealth[] {
  const byProvider = new Map<string, ProviderHealth & { errors: number }>();
  for (const r of records) {
    if (!r.provider || r.provider === "local" || r.provider === REJECTED) continue;
    let h = byProvider.get(r.provider);
    if (!h) {
      h = {
        provider: r.provider,
        requests: 0,
        error_rate: 0,
        cancelled: 0,
        last_error: null,
        errors: 0,
      };
      byProvider.set(r.provider, h);
    }
    if (r.time >= now - HOUR_MS) {
      h.requests++;
      if (failed(r)) h.errors++;
      else if (cancelled(r)) h.cancelled++;
    }
    if (failed(r) && (!h.last_error || Date.parse(h.last_error.time) <= r.time)) {
      h.last_error = {
        time: new Date(r.time).toISOString(),
        status: r.status,
        type: r.errorType ?? "error",
      };
    }
  }
  return [...byProvider.values()].map(({ errors, ...h }) => ({
    ...h,
    error_rate: h.requests ? errors / h.requests : 0,
  }));
}
