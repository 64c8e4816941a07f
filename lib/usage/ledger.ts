/**
 * The usage ledger in Deno KV: one record per finished request (expiring after the retention),
 * and running totals per day × session × key × provider × model kept with atomic sums, so
 * summaries and budgets read a few keys instead of scanning records. Several processes (or Deploy
 * instances) can share one ledger: sums are atomic in KV, not read-modify-write here.
 *
 * Writing never delays an answer: {@link Ledger.record} queues and returns; the queue is written
 * in batches, and a KV failure is logged and counted, never thrown at a request.
 *
 * @module
 */
import { NANOS_PER_USD } from "./prices.ts";
import { cancelled, failed, type UsageRecord } from "./record.ts";

/** The counters kept per day × session × key × provider × model. */
export const COUNTERS = [
  "requests",
  "errors",
  "cancelled",
  "input_tokens",
  "output_tokens",
  "cache_read_input_tokens",
  "cache_creation_input_tokens",
  "web_search_requests",
  "cost_nanos",
  "unpriced",
  "latency_ms",
] as const;

/** One counter's name. */
export type Counter = typeof COUNTERS[number];

/** Counter values of one totals row. */
export type Counts = Record<Counter, number>;

/** One totals row: the counts of one day, session, key, provider and backend model. */
export interface TotalsRow {
  /** UTC day, `YYYY-MM-DD`. */
  day: string;
  /** Claude Code session id ("" for none). */
  session: string;
  /** Key name. */
  key: string;
  /** Provider. */
  provider: string;
  /** Backend model. */
  model: string;
  /** The sums. */
  counts: Counts;
}

/** Where {@link Ledger} reports trouble (a KV failure is logged, never thrown at a request). */
export interface LedgerLog {
  /** Writes one line. */
  info(message: string): void;
}

/** Options of {@link Ledger}. */
export interface LedgerOptions {
  /** Days a record and a day's totals are kept (default 30). */
  retentionDays?: number;
  /** Where KV failures are reported. */
  log?: LedgerLog;
}

const ROOT = "ccproxy";
const DAY_MS = 86_400_000;
/** Records per atomic write, at most (fewer when they fall in many rows: see {@link fitting}). */
const BATCH = 256;
/** Records per stored value (KV values are at most 64 KiB). */
const PER_VALUE = 16;
/**
 * How long a record waits for others to share its write. A commit costs ~0.9 ms of CPU, so
 * under load a few hundred records share each one.
 */
const BATCH_WINDOW_MS = 200;
/** Mutations per atomic write, at most: KV allows 1000, and 80 kB of keys. */
const MAX_MUTATIONS = 600;
/** Longest model name kept whole in records and totals keys. */
const MAX_NAME = 200;
/** Records of one stored value ended at most this long after its key's time. */
const VALUE_SPAN_MS = 60_000;

/**
 * How many of `batch`'s first records one atomic write can take: each value of
 * {@link PER_VALUE} records is one mutation, each session's last record one, each new row a sum per
 * counter, each key's last record and its day and month spend three.
 */
function fitting(batch: UsageRecord[]): number {
  const rows = new Set<string>();
  const others = new Set<string>();
  for (let i = 0; i < batch.length; i++) {
    const r = batch[i];
    rows.add(`${dayOf(r.time)}\0${r.session}\0${r.key}\0${r.provider}\0${r.backendModel}`);
    others.add(`s\0${r.session}`);
    others.add(`k\0${r.key}`);
    const mutations = Math.ceil((i + 1) / PER_VALUE) + rows.size * COUNTERS.length +
      others.size * 3;
    if (mutations > MAX_MUTATIONS) return Math.max(1, i);
  }
  return batch.length;
}

/** UTC days of times that are mostly the same day, without formatting a date each time. */
class DayCache {
  #start = 0;
  #end = 0;
  #day = "";

  day(time: number): string {
    if (time < this.#start || time >= this.#end) {
      this.#start = Math.floor(time / DAY_MS) * DAY_MS;
      this.#end = this.#start + DAY_MS;
      this.#day = dayOf(time);
    }
    return this.#day;
  }
}

/** The UTC day of a time, `YYYY-MM-DD`. */
export function dayOf(time: number): string {
  return new Date(time).toISOString().slice(0, 10);
}

/** The UTC month of a time, `YYYY-MM`. */
export function monthOf(time: number): string {
  return new Date(time).toISOString().slice(0, 7);
}

/** Zero counts. */
export function zeroCounts(): Counts {
  return Object.fromEntries(COUNTERS.map((c) => [c, 0])) as Counts;
}

/** The counter increments one record adds. */
export function countsOf(record: UsageRecord): Counts {
  const u = record.usage;
  return {
    requests: 1,
    errors: failed(record) ? 1 : 0,
    cancelled: cancelled(record) ? 1 : 0,
    input_tokens: u.input_tokens,
    output_tokens: u.output_tokens,
    cache_read_input_tokens: u.cache_read_input_tokens,
    cache_creation_input_tokens: u.cache_creation_input_tokens,
    web_search_requests: u.web_search_requests,
    cost_nanos: record.costUsd === null ? 0 : Math.round(record.costUsd * NANOS_PER_USD),
    unpriced: record.costUsd === null ? 1 : 0,
    latency_ms: Math.round(record.latencyMs),
  };
}

/** The usage ledger. Open one with {@link Ledger.open} or wrap an open `Deno.Kv`. */
export class Ledger {
  /** Records that could not be written (KV failures). */
  failures = 0;
  /** Records written. */
  written = 0;
  readonly #kv: Deno.Kv;
  readonly #retentionMs: number;
  readonly #log?: LedgerLog;
  #pending: UsageRecord[] = [];
  #draining?: Promise<void>;
  #hurry = false;
  /** Cost of queued records not yet committed, in nano-dollars by key: spent already. */
  readonly #unwritten = new Map<string, number>();

  constructor(kv: Deno.Kv, options: LedgerOptions = {}) {
    this.#kv = kv;
    this.#retentionMs = (options.retentionDays ?? 30) * DAY_MS;
    this.#log = options.log;
  }

  /**
   * Opens the ledger at `path`: a SQLite file (its folder is created), a KV Connect URL
   * (`https://…`, authenticated by `DENO_KV_ACCESS_TOKEN`), or undefined for the platform's KV
   * on Deno Deploy.
   */
  static async open(path: string | undefined, options: LedgerOptions = {}): Promise<Ledger> {
    if (typeof Deno.openKv !== "function") {
      throw new Error("Deno KV is unavailable: run with --unstable-kv (deno.json sets it)");
    }
    if (path && !/^https?:\/\//i.test(path)) {
      const slash = path.lastIndexOf("/");
      if (slash > 0) await Deno.mkdir(path.slice(0, slash), { recursive: true });
    }
    const ledger = new Ledger(await Deno.openKv(path), options);
    return ledger;
  }

  /** Queues a finished request's record; returns at once and never throws. */
  record(record: UsageRecord): void {
    // A client names the model (a pinned `provider/model` becomes the backend model too): a huge
    // name must not push a value or a totals key over KV's limits (2 KiB per key).
    if (record.model.length > MAX_NAME || record.backendModel.length > MAX_NAME) {
      record = {
        ...record,
        model: shortName(record.model),
        backendModel: shortName(record.backendModel),
      };
    }
    this.#pending.push(record);
    this.#unwrite(record, 1);
    this.#draining ??= this.#drain();
  }

  /** Counts (`sign` 1) or uncounts (-1) a queued record's cost as spent but not yet committed. */
  #unwrite(record: UsageRecord, sign: 1 | -1): void {
    if (!record.costUsd) return;
    const nanos = (this.#unwritten.get(record.key) ?? 0) +
      sign * Math.round(record.costUsd * NANOS_PER_USD);
    if (nanos > 0) this.#unwritten.set(record.key, nanos);
    else this.#unwritten.delete(record.key);
  }

  /** Writes every queued record now; resolves when they are written (or failed). */
  async flush(): Promise<void> {
    this.#hurry = true;
    try {
      while (this.#draining) await this.#draining;
    } finally {
      this.#hurry = false;
    }
  }

  async #drain(): Promise<void> {
    while (this.#pending.length) {
      // Records of the next few milliseconds join one batch: one commit (one disk sync) and one
      // sum per row and counter for all of them, instead of one each.
      if (this.#pending.length < BATCH && !this.#hurry) {
        await new Promise((resolve) => setTimeout(resolve, BATCH_WINDOW_MS));
      }
      const batch = this.#pending.splice(0, BATCH);
      // A batch of many distinct rows is cut where its mutations would pass KV's limits.
      const fits = fitting(batch);
      if (fits < batch.length) this.#pending.unshift(...batch.splice(fits));
      try {
        await this.#write(batch);
        this.written += batch.length;
      } catch (error) {
        this.failures += batch.length;
        this.#log?.info(
          `usage ledger: ${batch.length} record(s) not written: ${
            error instanceof Error ? error.message : error
          }`,
        );
      } finally {
        for (const record of batch) this.#unwrite(record, -1);
      }
    }
    this.#draining = undefined;
  }

  async #write(batch: UsageRecord[]): Promise<void> {
    const op = this.#kv.atomic();
    // Records are stored a few per value, keyed by the first one's time: one row each, not one per
    // request.
    for (let i = 0; i < batch.length; i += PER_VALUE) {
      const group = batch.slice(i, i + PER_VALUE);
      op.set([ROOT, "r", group[0].time, group[0].requestId], group, {
        expireIn: this.#retentionMs,
      });
    }
    // Requests of one batch that share a row add up here first: one sum per row and counter.
    const rows = new Map<string, { key: string[]; counts: Counts }>();
    const spend = new Map<string, { key: string[]; nanos: number }>();
    const addSpend = (key: string[], nanos: number) => {
      const id = key.join("\0");
      const known = spend.get(id);
      if (known) known.nanos += nanos;
      else spend.set(id, { key, nanos });
    };
    const lastOf = new Map<string, UsageRecord>();
    const lastOfKey = new Map<string, UsageRecord>();
    const days = new DayCache();
    for (const record of batch) {
      const day = days.day(record.time);
      const id =
        `${day}\0${record.session}\0${record.key}\0${record.provider}\0${record.backendModel}`;
      const counts = countsOf(record);
      const row = rows.get(id);
      if (row) {
        for (const counter of COUNTERS) row.counts[counter] += counts[counter];
      } else {
        rows.set(id, {
          key: [ROOT, "t", day, record.session, record.key, record.provider, record.backendModel],
          counts,
        });
      }
      if (record.session) lastOf.set(record.session, record);
      lastOfKey.set(record.key, record);
      if (counts.cost_nanos) {
        addSpend([ROOT, "bd", day, record.key], counts.cost_nanos);
        addSpend([ROOT, "bm", day.slice(0, 7), record.key], counts.cost_nanos);
      }
    }
    // The newest record of each session, for a status line that asks often.
    for (const [session, record] of lastOf) {
      op.set([ROOT, "last", session], record, { expireIn: this.#retentionMs });
    }
    // And of each key, for a key that may read only its own usage.
    for (const [key, record] of lastOfKey) {
      op.set([ROOT, "lastkey", key], record, { expireIn: this.#retentionMs });
    }
    for (const { key, counts } of rows.values()) {
      for (const counter of COUNTERS) {
        const value = counts[counter];
        if (value > 0) op.sum([...key, counter], BigInt(Math.round(value)));
      }
    }
    for (const { key, nanos } of spend.values()) op.sum(key, BigInt(Math.round(nanos)));
    const result = await op.commit();
    if (!result.ok) throw new Error("atomic write was refused");
  }

  /**
   * The totals rows of the UTC days `fromDay` to `toDay` (inclusive, `YYYY-MM-DD`), optionally of
   * one session only.
   */
  async totals(fromDay: string, toDay: string, session?: string): Promise<TotalsRow[]> {
    const rows = new Map<string, TotalsRow>();
    const read = async (selector: Deno.KvListSelector) => {
      for await (const entry of this.#kv.list<Deno.KvU64>(selector, { batchSize: 500 })) {
        const [, , day, sess, key, provider, model, counter] = entry.key as string[];
        const id = `${day}\0${sess}\0${key}\0${provider}\0${model}`;
        let row = rows.get(id);
        if (!row) {
          row = { day, session: sess, key, provider, model, counts: zeroCounts() };
          rows.set(id, row);
        }
        row.counts[counter as Counter] = Number(entry.value.value);
      }
    };
    if (session === undefined) {
      await read({ start: [ROOT, "t", fromDay], end: [ROOT, "t", `${toDay}\uffff`] });
    } else {
      for (const day of daysBetween(fromDay, toDay)) {
        await read({ prefix: [ROOT, "t", day, session] });
      }
    }
    return [...rows.values()];
  }

  /** Records that ended in `[from, to)` (ms), oldest first (newest first when `reverse`). */
  async records(
    from: number,
    to: number,
    options: { limit?: number; reverse?: boolean } = {},
  ): Promise<UsageRecord[]> {
    const limit = options.limit ?? Infinity;
    const out: UsageRecord[] = [];
    const entries = this.#kv.list<UsageRecord[] | UsageRecord>(
      { start: [ROOT, "r", from - VALUE_SPAN_MS], end: [ROOT, "r", to] },
      { reverse: options.reverse, batchSize: 100 },
    );
    for await (const entry of entries) {
      const group = recordsOf(entry.value);
      if (options.reverse) group.reverse();
      for (const record of group) {
        if (record.time < from || record.time >= to) continue;
        out.push(record);
      }
      // Values overlap a little in time: finish the one that reached the limit, then sort.
      if (out.length >= limit) break;
    }
    out.sort((a, b) => options.reverse ? b.time - a.time : a.time - b.time);
    return out.slice(0, limit);
  }

  /** The newest record of `session`, or of any request when `session` is undefined. */
  async last(session?: string): Promise<UsageRecord | undefined> {
    if (session !== undefined) {
      return (await this.#kv.get<UsageRecord>([ROOT, "last", session])).value ?? undefined;
    }
    for await (
      const entry of this.#kv.list<UsageRecord[] | UsageRecord>({ prefix: [ROOT, "r"] }, {
        limit: 1,
        reverse: true,
      })
    ) {
      return recordsOf(entry.value).reduce((a, b) => b.time >= a.time ? b : a);
    }
    return undefined;
  }

  /** The newest record of the key named `key`. */
  async lastOfKey(key: string): Promise<UsageRecord | undefined> {
    return (await this.#kv.get<UsageRecord>([ROOT, "lastkey", key])).value ?? undefined;
  }

  /** What `key` has spent in USD on the UTC day and in the UTC month of `now`. */
  async spent(key: string, now: number = Date.now()): Promise<{ day: number; month: number }> {
    const [day, month] = await this.#kv.getMany<[Deno.KvU64, Deno.KvU64]>([
      [ROOT, "bd", dayOf(now), key],
      [ROOT, "bm", monthOf(now), key],
    ]);
    // Records of this process still in the write queue count too: a burst sees its own spend.
    const queued = this.#unwritten.get(key) ?? 0;
    const usd = (entry: Deno.KvEntryMaybe<Deno.KvU64>) =>
      ((entry.value ? Number(entry.value.value) : 0) + queued) / NANOS_PER_USD;
    return { day: usd(day), month: usd(month) };
  }

  /**
   * Deletes totals older than the retention (records expire by themselves); returns how many
   * keys went.
   */
  async sweep(now: number = Date.now()): Promise<number> {
    const cutoff = now - this.#retentionMs;
    const day = dayOf(cutoff);
    let deleted = 0;
    for (
      const selector of [
        { start: [ROOT, "t"], end: [ROOT, "t", day] },
        { start: [ROOT, "bd"], end: [ROOT, "bd", day] },
        // A month's budget sum is kept while any day of it is.
        { start: [ROOT, "bm"], end: [ROOT, "bm", monthOf(cutoff)] },
      ]
    ) {
      let op = this.#kv.atomic();
      let n = 0;
      for await (const entry of this.#kv.list(selector, { batchSize: 500 })) {
        op.delete(entry.key);
        if (++n === 500) {
          await op.commit();
          deleted += n;
          op = this.#kv.atomic();
          n = 0;
        }
      }
      if (n) await op.commit();
      deleted += n;
    }
    return deleted;
  }

  /** Writes what is queued, then closes the store. */
  async close(): Promise<void> {
    await this.flush();
    this.#kv.close();
  }
}

/**
 * `name` when it is at most {@link MAX_NAME} characters; else its start and a hash of the whole,
 * so two long names that share a start stay apart.
 */
export function shortName(name: string): string {
  if (name.length <= MAX_NAME) return name;
  // FNV-1a over the UTF-16 code units: stable across processes, no await.
  let hash = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193) >>> 0;
  }
  return `${name.slice(0, MAX_NAME - 10)}…${hash.toString(16).padStart(8, "0")}`;
}

/**
 * The records of one stored value: a list of records, or (ledgers written before records were
 * stored several per value) one record alone. Both formats share a file after an upgrade.
 */
function recordsOf(value: UsageRecord[] | UsageRecord): UsageRecord[] {
  return Array.isArray(value) ? [...value] : [value];
}

/** Every UTC day from `from` to `to` (inclusive), at most 400. */
export function daysBetween(from: string, to: string): string[] {
  const days: string[] = [];
  const end = Date.parse(`${to}T00:00:00Z`);
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= end && days.length < 400; t += DAY_MS) {
    days.push(dayOf(t));
  }
  return days;
}
