/**
 * Usage test fixtures: a usage record with plain defaults, and a ledger on a fresh temporary KV
 * file. Each test file overrides the fields its numbers depend on.
 */
import { Ledger, type LedgerOptions } from "../lib/usage/ledger.ts";
import { noUsage, type UsageRecord } from "../lib/usage/record.ts";

/** One successful streamed Chat request by alice in session s1, now, with `overrides` on top. */
export function usageRecord(overrides: Partial<UsageRecord> = {}): UsageRecord {
  return {
    time: Date.now(),
    requestId: `req_${crypto.randomUUID()}`,
    endpoint: "messages",
    key: "alice",
    session: "s1",
    model: "claude-opus-5-5",
    provider: "openai",
    backendModel: "gpt-4.1",
    stream: true,
    status: 200,
    tries: 1,
    latencyMs: 100,
    usage: { ...noUsage(), input_tokens: 10, output_tokens: 5 },
    costUsd: 0.01,
    ...overrides,
  };
}

/** A ledger opened on `dir`/usage in a fresh temporary folder (the caller closes it). */
export async function tempLedger(
  options: LedgerOptions = {},
): Promise<{ dir: string; path: string; ledger: Ledger }> {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/usage`;
  return { dir, path, ledger: await Ledger.open(path, options) };
}
