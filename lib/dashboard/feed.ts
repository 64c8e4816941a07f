/**
 * The dashboard's live feed: one SSE stream per open page. It starts with a `snapshot` (requests
 * in flight, the latest ones, totals, the hourly chart, provider health, the routing table), then
 * sends each request's `start` and `end` as they happen and fresh `totals` after each end (at
 * most twice a second, less often when computing them takes long). The page never polls.
 *
 * Records come from the ledger (the last 30 days, loaded on the first connection) and from the
 * tracker afterwards; without a ledger, from the tracker since the first connection.
 *
 * @module
 */
import { ProxyError } from "../anthropic/errors.ts";
import type { UsageRecord } from "../usage/record.ts";
import type { UsageTracker } from "../usage/tracker.ts";
import { health, hourly, totals } from "./stats.ts";

/** A routing table row: a Claude name and where it goes. */
export interface RouteRow {
  /** The model a client asks for. */
  model: string;
  /** `provider/model` it is served by (fallbacks after a comma). */
  target: string;
}

/** Options of {@link DashboardFeed}. */
export interface DashboardFeedOptions {
  /** The tracker the records come from. */
  usage: UsageTracker;
  /** The routing table in force. */
  routes: () => RouteRow[];
  /** The proxy's version. */
  version: string;
  /** Clock (tests). */
  now?: () => number;
  /** Most records kept in memory (default 50 000). */
  maxRecords?: number;
  /** Most feeds open at once (default 32); past it a page gets a 429. */
  maxFeeds?: number;
  /** Bytes a feed may have waiting unread beyond its snapshot (default 4 MiB); past them it ends. */
  maxQueuedBytes?: number;
}

const DAY_MS = 86_400_000;
const RECENT = 50;
const TOTALS_EVERY_MS = 500;
const PING_EVERY_MS = 15_000;
const encoder = new TextEncoder();
const PING = encoder.encode(": ping\n\n");
/** Bytes a page's feed may have waiting unread; past them the feed is dropped. */
const MAX_QUEUED_BYTES = 4 * 1024 * 1024;
/** Feeds open at once, at most (by default). */
const MAX_FEEDS = 32;

/** Sends one encoded event to one page. */
type Subscriber = (bytes: Uint8Array) => void;

/** The newest `count` of `records` that `keep` keeps, newest first. */
function newest(
  records: UsageRecord[],
  count: number,
  keep: (r: UsageRecord) => boolean,
): UsageRecord[] {
  const out: UsageRecord[] = [];
  for (let i = records.length - 1; i >= 0 && out.length < count; i--) {
    if (keep(records[i])) out.push(records[i]);
  }
  return out;
}

/** One SSE event, encoded. */
function encodeEvent(event: string, data: unknown): Uint8Array {
  return encoder.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

/** The dashboard's data and its SSE feed. */
export class DashboardFeed {
  readonly #options: DashboardFeedOptions;
  readonly #now: () => number;
  #records: UsageRecord[] = [];
  #open = 0;
  /** Each open page's sender, and the key whose requests it may see (undefined: every key's). */
  readonly #subscribers = new Map<Subscriber, string | undefined>();
  #unlisten?: () => void;
  #ping?: ReturnType<typeof setInterval>;
  #pending?: ReturnType<typeof setTimeout>;
  #lastTotals = 0;
  #every = TOTALS_EVERY_MS;
  #loaded?: Promise<void>;

  constructor(options: DashboardFeedOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** Open feeds (their snapshot being built included). */
  get feeds(): number {
    return this.#open;
  }

  /**
   * Starts sending events to `subscriber`. One listener and one timer serve every open page: an
   * event, the totals and the ping are computed and encoded once, whatever the number of pages.
   */
  #attach(subscriber: Subscriber, scope: string | undefined): void {
    this.#subscribers.set(subscriber, scope);
    if (this.#subscribers.size > 1) return;
    this.#unlisten = this.#options.usage.listen((event) => {
      // The feed's own record list takes the end first (it listens first), then the pages.
      queueMicrotask(() => {
        if (event.type === "start") {
          return this.#broadcast(encodeEvent("start", event.request), event.request.key);
        }
        this.#broadcast(encodeEvent("end", event.record), event.record.key);
        if (this.#pending !== undefined || !this.#subscribers.size) return;
        const wait = Math.max(0, this.#lastTotals + this.#every - this.#now());
        this.#pending = setTimeout(() => this.#pushTotals(), wait);
      });
    });
    this.#ping = setInterval(() => this.#broadcast(PING, null), PING_EVERY_MS);
  }

  /** Stops sending to `subscriber`; the last one stops the listener and the timers. */
  #detach(subscriber: Subscriber): void {
    if (!this.#subscribers.delete(subscriber) || this.#subscribers.size) return;
    this.#unlisten?.();
    this.#unlisten = undefined;
    clearInterval(this.#ping);
    clearTimeout(this.#pending);
    this.#pending = undefined;
  }

  /** Sends `bytes` to every page (`owner` null), or to the pages that may see `owner`'s requests. */
  #broadcast(bytes: Uint8Array, owner: string | null): void {
    for (const [subscriber, scope] of [...this.#subscribers]) {
      if (owner === null || scope === undefined || scope === owner) subscriber(bytes);
    }
  }

  #pushTotals(): void {
    this.#pending = undefined;
    this.#lastTotals = this.#now();
    const began = performance.now();
    // Once per view (every key's, or one key's), whatever the number of pages showing it.
    for (const scope of new Set(this.#subscribers.values())) {
      const bytes = encodeEvent("totals", this.stats(scope));
      for (const [subscriber, its] of [...this.#subscribers]) if (its === scope) subscriber(bytes);
    }
    // With many records the totals take a while: the open pages then cost at most ~5% CPU.
    this.#every = Math.min(10_000, Math.max(TOTALS_EVERY_MS, 20 * (performance.now() - began)));
  }

  /** Loads the last 30 days once, and keeps every later record. */
  #load(): Promise<void> {
    return this.#loaded ??= (async () => {
      let loading = true;
      // Records that end while the ledger is read wait here, then join without repeats.
      const early: UsageRecord[] = [];
      this.#options.usage.listen((event) => {
        if (event.type !== "end") return;
        if (loading) early.push(event.record);
        else this.#add(event.record);
      });
      const ledger = await this.#options.usage.ledger();
      const now = this.#now();
      // The newest records only: memory stays bounded however busy the month was.
      const stored = ledger
        ? (await ledger.records(now - 30 * DAY_MS, now + DAY_MS, {
          reverse: true,
          limit: this.#options.maxRecords ?? 50_000,
        }).catch(() => [])).reverse()
        : [];
      const seen = new Set(stored.map((r) => r.requestId));
      this.#records = stored;
      for (const r of early) if (!seen.has(r.requestId)) this.#add(r);
      loading = false;
    })();
  }

  #add(record: UsageRecord): void {
    this.#records.push(record);
    const max = this.#options.maxRecords ?? 50_000;
    if (this.#records.length > max * 1.1) this.#records = this.#records.slice(-max);
  }

  /** Totals, the hourly chart and provider health, as of now (of one key's requests, with `scope`). */
  stats(scope?: string): {
    totals: ReturnType<typeof totals>;
    hourly: ReturnType<typeof hourly>;
    health: ReturnType<typeof health>;
  } {
    const now = this.#now();
    const recent = this.#records.filter((r) =>
      r.time >= now - 30 * DAY_MS && (scope === undefined || r.key === scope)
    );
    return {
      totals: totals(recent, now),
      hourly: hourly(recent, now),
      health: health(recent, now),
    };
  }

  /** Everything the page shows, as of now (of one key's requests, with `scope`). */
  async snapshot(scope?: string): Promise<Record<string, unknown>> {
    await this.#load();
    const ledger = await this.#options.usage.ledger();
    const mine = (r: { key: string }) => scope === undefined || r.key === scope;
    return {
      version: this.#options.version,
      now: this.#now(),
      ledger: ledger ? "on" : "off",
      scope: scope ?? null,
      inflight: [...this.#options.usage.inFlight.values()].filter(mine),
      recent: newest(this.#records, RECENT, mine),
      routes: this.#options.routes(),
      ...this.stats(scope),
    };
  }

  /**
   * The SSE response for one page; it ends when the page goes away. With `scope` the page sees
   * only that key's requests. Past {@link DashboardFeedOptions.maxFeeds} open feeds it throws a
   * 429 instead.
   */
  response(scope?: string): Response {
    const maxFeeds = this.#options.maxFeeds ?? MAX_FEEDS;
    if (this.#open >= maxFeeds) {
      throw new ProxyError(
        "rate_limit_error",
        `dashboard: ${maxFeeds} feeds are open already (the most it serves); close a page`,
      );
    }
    this.#open++;
    let subscriber: Subscriber | undefined;
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      this.#open--;
      if (subscriber) this.#detach(subscriber);
    };
    const body = new ReadableStream<Uint8Array>(
      {
        start: async (controller) => {
          let snapshot;
          try {
            snapshot = await this.snapshot(scope);
          } catch (error) {
            end();
            throw error;
          }
          if (ended) return;
          const first = encodeEvent("snapshot", snapshot);
          controller.enqueue(first);
          subscriber = (bytes) => {
            // A page that does not read: its queue is bounded (beyond the snapshot), then it is
            // dropped; it reconnects and starts again from a snapshot once it reads again.
            if ((controller.desiredSize ?? 0) < -first.byteLength) {
              end();
              return controller.error(new Error("dashboard feed: the page reads too slowly"));
            }
            controller.enqueue(bytes);
          };
          this.#attach(subscriber, scope);
        },
        cancel: end,
      },
      new ByteLengthQueuingStrategy({
        highWaterMark: this.#options.maxQueuedBytes ?? MAX_QUEUED_BYTES,
      }),
    );
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream",
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
      },
    });
  }
}
