/**
 * Budgets: `BUDGET_USD_PER_DAY` and `BUDGET_USD_PER_MONTH` limit what each client key spends
 * (UTC days and months). A key at or over a budget gets a 402 `billing_error` naming the budget
 * and when it resets: Claude Code shows that at once and does not retry it (a 429 it would retry
 * for minutes; a 403 it would call an authentication failure). The spend is read from the
 * ledger's atomic sums, so a budget holds across every instance that shares the ledger.
 *
 * @module
 */
import { ProxyError } from "../anthropic/errors.ts";
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
  const { budgetUsdPerDay: perDay, budgetUsdPerMonth: perMonth } = budgets;
  if (perDay === undefined && perMonth === undefined) return;
  const ledger = await usage.ledger();
  if (!ledger) return;
  const spent = await ledger.spent(key, now).catch(() => undefined);
  // A ledger that cannot be read does not stop the work: it is reported by its writes.
  if (!spent) return;
  const at = resets(now);
  const over = (what: string, name: string, used: number, limit: number, reset: Date) =>
    new ProxyError(
      "billing_error",
      `budget: key ${key} has spent ${dollars(used)} of its ${what} budget of ${
        dollars(limit)
      } (${name}); it resets at ${reset.toISOString()}`,
    );
  if (perDay !== undefined && spent.day >= perDay) {
    throw over("daily", "BUDGET_USD_PER_DAY", spent.day, perDay, at.day);
  }
  if (perMonth !== undefined && spent.month >= perMonth) {
    throw over("monthly", "BUDGET_USD_PER_MONTH", spent.month, perMonth, at.month);
  }
}
