/**
 * The handler's one door to usage: requests in flight, the finished request's record priced and
 * written to the ledger, and the listeners (the dashboard's feed) told about both. Nothing here
 * may fail or slow an answer: pricing and writing run after the answer, errors are logged.
 *
 * @module
 */
import type { Ledger } from "./ledger.ts";
import {
  type ModelPrice,
  NANOS_PER_USD,
  priceNanos,
  priceNanosNow,
  type PriceQuery,
} from "./prices.ts";
import { REJECTED, type UsageRecord } from "./record.ts";
import { endRequestSpan } from "./telemetry.ts";
import type { Span } from "@opentelemetry/api";

/** A request that has started and not yet ended. */
export interface InFlight {
  /** The `req_…` id. */
  requestId: string;
  /** When it started (ms since the epoch). */
  started: number;
  /** Key name. */
  key: string;
  /** Requested model. */
  model: string;
  /** Provider and backend model, once routed. */
  target?: string;
}

/** What the tracker tells its listeners. */
export type UsageEvent =
  | { type: "start"; request: InFlight }
  | { type: "end"; record: UsageRecord };

/** A finished request before pricing. */
export type UnpricedRecord = Omit<UsageRecord, "costUsd">;

/** Options of {@link UsageTracker}. */
export interface UsageTrackerOptions {
  /** The ledger (or its opening); none: records are priced and announced, not stored. */
  ledger?: Ledger | Promise<Ledger | undefined>;
  /** Azure deployment name → model, for pricing. */
  azureModels?: Readonly<Record<string, string>>;
  /** Configured prices (`MODEL_PRICES`) of models the catalog does not know. */
  prices?: Readonly<Record<string, ModelPrice>>;
  /** Where failures are reported. */
  log?: { info(line: string): void };
}

/** Tracks requests in flight and records finished ones. */
export class UsageTracker {
  /** Requests in flight by id. */
  readonly inFlight: Map<string, InFlight> = new Map();
  readonly #ledger?: Promise<Ledger | undefined>;
  readonly #options: UsageTrackerOptions;
  readonly #listeners = new Set<(event: UsageEvent) => void>();
  readonly #finishing = new Set<Promise<void>>();
  /** Budget held by requests in flight: request id → key and nano-dollars. */
  readonly #reserved = new Map<string, { key: string; nanos: number }>();
  /** The ledger once its opening has settled (the common, synchronous path). */
  #opened?: { ledger: Ledger | undefined };

  constructor(options: UsageTrackerOptions = {}) {
    this.#options = options;
    this.#ledger = options.ledger === undefined ? undefined : Promise.resolve(options.ledger)
      .catch((error) => {
        options.log?.info(`usage ledger: off: ${error instanceof Error ? error.message : error}`);
        return undefined;
      });
    if (!this.#ledger) this.#opened = { ledger: undefined };
    else void this.#ledger.then((ledger) => this.#opened = { ledger });
  }

  /** The ledger, once open; undefined when it is off or failed to open. */
  ledger(): Promise<Ledger | undefined> {
    return this.#ledger ?? Promise.resolve(undefined);
  }

  /** Calls `listener` for every start and end; returns the function that stops it. */
  listen(listener: (event: UsageEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The prices this tracker applies: the configured ones, and Azure's deployment models. */
  get pricing(): Pick<PriceQuery, "azureModels" | "prices"> {
    return { azureModels: this.#options.azureModels, prices: this.#options.prices };
  }

  /**
   * Holds `nanos` of `key`'s budget for the request `requestId` until it ends (its record then
   * holds the real cost): concurrent requests see each other before any of them is recorded.
   */
  reserve(requestId: string, key: string, nanos: number): void {
    this.#reserved.set(requestId, { key, nanos });
  }

  /** The budget `key`'s requests in flight hold, in USD. */
  reservedUsd(key: string): number {
    let nanos = 0;
    for (const r of this.#reserved.values()) if (r.key === key) nanos += r.nanos;
    return nanos / NANOS_PER_USD;
  }

  /** A request has started. */
  start(request: InFlight): void {
    this.inFlight.set(request.requestId, request);
    this.#emit({ type: "start", request });
  }

  /**
   * A request has ended: price it, store it, announce it, and end its telemetry span. Returns at
   * once; never throws.
   */
  end(facts: UnpricedRecord, span?: Span): void {
    this.inFlight.delete(facts.requestId);
    // The record takes over: the ledger counts it as spent from now on, written or not yet.
    this.#reserved.delete(facts.requestId);
    // Refused before routing: named as such (it costs nothing), not an empty provider.
    if (!facts.provider) facts = { ...facts, provider: REJECTED };
    // Once the catalog and the ledger are ready, all of it happens here, without a promise.
    const nanos = this.#price(facts, priceNanosNow);
    if (nanos !== undefined && this.#opened) {
      try {
        return this.#record(facts, nanos, span, this.#opened.ledger);
      } catch (error) {
        return this.#options.log?.info(`usage: ${facts.requestId} not recorded: ${error}`);
      }
    }
    const done = this.#finish(facts, span).catch((error) => {
      this.#options.log?.info(
        `usage: ${facts.requestId} not recorded: ${error instanceof Error ? error.message : error}`,
      );
    }).finally(() => this.#finishing.delete(done));
    this.#finishing.add(done);
  }

  /** Resolves when every ended request has been priced and written to the ledger. */
  async settled(): Promise<void> {
    while (this.#finishing.size) await Promise.all(this.#finishing);
    await (await this.ledger())?.flush();
  }

  /** Writes what is pending and closes the ledger (on shutdown). */
  async close(): Promise<void> {
    await this.settled();
    await (await this.ledger())?.close();
  }

  #price<T>(facts: UnpricedRecord, price: (query: PriceQuery) => T): T | 0 {
    // Counting tokens is free at every provider.
    if (facts.endpoint === "count_tokens") return 0;
    return price({
      provider: facts.provider,
      model: facts.backendModel,
      usage: facts.usage,
      azureModels: this.#options.azureModels,
      prices: this.#options.prices,
      at: facts.time,
    });
  }

  async #finish(facts: UnpricedRecord, span?: Span): Promise<void> {
    const nanos = await Promise.resolve(this.#price(facts, priceNanos)).catch(() => null);
    this.#record(facts, nanos, span, await this.ledger());
  }

  #record(facts: UnpricedRecord, nanos: number | null, span?: Span, ledger?: Ledger): void {
    const record: UsageRecord = {
      ...facts,
      costUsd: nanos === null ? null : nanos / NANOS_PER_USD,
    };
    endRequestSpan(span, record);
    ledger?.record(record);
    this.#emit({ type: "end", record });
  }

  #emit(event: UsageEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // A listener's failure (a closed feed) is its own business.
      }
    }
  }
}
