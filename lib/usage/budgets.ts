/**
 * Budgets: `BUDGET_USD_PER_DAY` and `BUDGET_USD_PER_MONTH` limit what each client key spends
 * (UTC days and months). A key at or over a budget gets a 402 `billing_error` naming the budget
 * and when it resets: Claude Code shows that at once and does not retry it (a 429 it would retry
 * for minutes; a 403 it would call an authentication failure). The spend is read from the
 * ledger's atomic sums, so a budget holds across every instance that shares the ledger.
 *
 * Two more rules make a budget hold. A model that cannot be priced (the catalog does not know it
 * and `MODEL_PRICES` does not name it) is refused while a budget is set: its spend would count as
 * nothing. And each request in flight holds its largest cost (its input estimate at the input
 * price plus `max_tokens` at the output price) until its record is written, so a burst of
 * parallel requests stops once the spend and the held amounts reach the budget: in one process
 * the overshoot is at most one request's largest cost.
 *
 * @module
 */
import { ProxyError } from "../anthropic/errors.ts";
import { priceNanos } from "./prices.ts";
import { noUsage } from "./record.ts";
import type { UsageTracker } from "./tracker.ts";

/** The budgets of a configuration. */
export interface Budgets {
  /** USD per key per UTC day. */
  budgetUsdPerDay?: number;
  /** USD per key per UTC month. */
  budgetUsdPerMonth?: number;
}

/** The start of the next UTC day and month after `now`. */
export function resets(now: number): { day: Date; month: Date } {
  const d = new Date(now);
  return {
    day: new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1)),
    month: new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)),
  };
}

const dollars = (usd: number) => `$${usd.toFixed(usd < 1 ? 4 : 2)}`;

/** A budget a key has reached: which, its variable, what was spent, the limit, and its reset. */
interface Reached {
  what: "daily" | "monthly";
  name: "BUDGET_USD_PER_DAY" | "BUDGET_USD_PER_MONTH";
  used: number;
  limit: number;
  reset: Date;
}

/**
 * The first budget (the day's, then the month's) that `spent` plus `held` USD reaches, or
 * `undefined` while both have room.
 */
function reached(
  budgets: Budgets,
  spent: { day: number; month: number },
  held: number,
  now: number,
): Reached | undefined {
  const { budgetUsdPerDay: perDay, budgetUsdPerMonth: perMonth } = budgets;
  const at = resets(now);
  if (perDay !== undefined && spent.day + held >= perDay) {
    return {
      what: "daily",
      name: "BUDGET_USD_PER_DAY",
      used: spent.day,
      limit: perDay,
      reset: at.day,
    };
  }
  if (perMonth !== undefined && spent.month + held >= perMonth) {
    return {
      what: "monthly",
      name: "BUDGET_USD_PER_MONTH",
      used: spent.month,
      limit: perMonth,
      reset: at.month,
    };
  }
  return undefined;
}

/** The ledger a key's spend is read from: none without a budget, or without a ledger. */
async function budgetLedger(usage: UsageTracker, budgets: Budgets) {
  const { budgetUsdPerDay: perDay, budgetUsdPerMonth: perMonth } = budgets;
  if (perDay === undefined && perMonth === undefined) return undefined;
  return await usage.ledger();
}

/**
 * Throws a 402 `billing_error` when `key` has spent its daily or monthly budget. Without
 * budgets, or without a ledger, it returns at once.
 */
export async function checkBudget(
  usage: UsageTracker,
  key: string,
  budgets: Budgets,
  now: number = Date.now(),
): Promise<void> {
  const ledger = await budgetLedger(usage, budgets);
  if (!ledger) return;
  const spent = await ledger.spent(key, now).catch(() => undefined);
  // A ledger that cannot be read does not stop the work: it is reported by its writes.
  if (!spent) return;
  const over = reached(budgets, spent, 0, now);
  if (over) {
    throw new ProxyError(
      "billing_error",
      `budget: key ${key} has spent ${dollars(over.used)} of its ${over.what} budget of ${
        dollars(over.limit)
      } (${over.name}); it resets at ${over.reset.toISOString()}`,
    );
  }
}

/** What {@link reserveBudget} needs of a routed request. */
export interface Reservation {
  /** The request's id: the hold ends when the request's record is made. */
  requestId: string;
  /** The targets that may serve it (the first, then its fallbacks). */
  targets: ReadonlyArray<{ provider: string; model: string }>;
  /** Its input tokens, estimated (called only with a budget set). */
  inputTokens: () => number;
  /** Its `max_tokens`. */
  maxTokens: number;
}

/**
 * With a budget set: refuses a request whose targets cannot be priced (a 400 naming
 * `MODEL_PRICES`), then holds the request's largest cost against `key`'s budget, refusing it (a
 * 402) when what the key has spent and what its requests in flight hold already reach a budget.
 * The hold ends with the request ({@link UsageTracker.end}).
 */
export async function reserveBudget(
  usage: UsageTracker,
  key: string,
  budgets: Budgets,
  request: Reservation,
  now: number = Date.now(),
): Promise<void> {
  const ledger = await budgetLedger(usage, budgets);
  if (!ledger) return;
  const tokens = {
    ...noUsage(),
    input_tokens: request.inputTokens(),
    output_tokens: request.maxTokens,
  };
  let most = 0;
  for (const target of request.targets) {
    const nanos = await priceNanos({ ...target, usage: tokens, ...usage.pricing, at: now });
    if (nanos === null) {
      throw new ProxyError(
        "invalid_request_error",
        `budget: ${target.provider}/${target.model} has no known price, so a budget cannot hold ` +
          `for it; set its price with MODEL_PRICES=${target.model}=<input>/<output> (USD per ` +
          "million tokens) or use a model the price catalog knows",
      );
    }
    most = Math.max(most, nanos);
  }
  const spent = await ledger.spent(key, now).catch(() => undefined);
  if (!spent) return;
  // From here to the hold nothing awaits: requests checking at once see each other's holds.
  const held = usage.reservedUsd(key);
  const over = reached(budgets, spent, held, now);
  if (over) {
    throw new ProxyError(
      "billing_error",
      `budget: key ${key} has spent ${dollars(over.used)} and its requests in flight may spend ${
        dollars(held)
      } more, reaching its ${over.what} budget of ${dollars(over.limit)} (${over.name}); retry ` +
        `when they are done; it resets at ${over.reset.toISOString()}`,
    );
  }
  usage.reserve(request.requestId, key, most);
}
