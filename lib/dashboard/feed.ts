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
}

const DAY_MS = 86_400_000;
const RECENT = 50;
const TOTALS_EVERY_MS = 500;
const PING_EVERY_MS = 15_000;
const encoder = new TextEncoder();

/** The dashboard's data and its SSE feed. */
export class DashboardFeed {
  readonly #options: DashboardFeedOptions;
  readonly #now: () => number;
  #records: UsageRecord[] = [];
  #loaded?: Promise<void>;

  constructor(options: DashboardFeedOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
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

  /** Totals, the hourly chart and provider health, as of now. */
  stats(): {
    totals: ReturnType<typeof totals>;
    hourly: ReturnType<typeof hourly>;
    health: ReturnType<typeof health>;
  } {
    const now = this.#now();
    const recent = this.#records.filter((r) => r.time >= now - 30 * DAY_MS);
    return {
      totals: totals(recent, now),
      hourly: hourly(recent, now),
      health: health(recent, now),
    };
  }

  /** Everything the page shows, as of now. */
  async snapshot(): Promise<Record<string, unknown>> {
    await this.#load();
    const ledger = await this.#options.usage.ledger();
    return {
      version: this.#options.version,
      now: this.#now(),
      ledger: ledger ? "on" : "off",
      inflight: [...this.#options.usage.inFlight.values()],
      recent: this.#records.slice(-RECENT).reverse(),
      routes: this.#options.routes(),
      ...this.stats(),
    };
  }

  /** The SSE response for one page; it ends when the page goes away. */
  response(): Response {
    let stop = () => {};
    const body = new ReadableStream<Uint8Array>({
      start: async (controller) => {
        let open = true;
        const send = (event: string, data: unknown) => {
          if (open) {
            controller.enqueue(
              encoder.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`),
            );
          }
        };
        let pending: ReturnType<typeof setTimeout> | undefined;
        let lastTotals = 0;
        let every = TOTALS_EVERY_MS;
        const pushTotals = () => {
          pending = undefined;
          lastTotals = this.#now();
          const began = performance.now();
          send("totals", this.stats());
          // With many records the totals take a while: an open page then costs at most ~5% CPU.
          every = Math.min(10_000, Math.max(TOTALS_EVERY_MS, 20 * (performance.now() - began)));
        };
        const unlisten = this.#options.usage.listen((event) => {
          // The feed's own record list takes the end first (it listens first), then the page.
          queueMicrotask(() => {
            if (event.type === "start") return send("start", event.request);
            send("end", event.record);
            if (pending !== undefined) return;
            const wait = Math.max(0, lastTotals + every - this.#now());
            pending = setTimeout(pushTotals, wait);
          });
        });
        const ping = setInterval(
          () => open && controller.enqueue(encoder.encode(": ping\n\n")),
          PING_EVERY_MS,
        );
        stop = () => {
          open = false;
          unlisten();
          clearInterval(ping);
          clearTimeout(pending);
        };
        send("snapshot", await this.snapshot());
      },
      cancel: () => stop(),
    });
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream",
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
      },
    });
  }
}
