/**
 * Opens the ledger a configuration asks for: off, a SQLite file, a KV Connect URL, or the
 * platform's KV on Deno Deploy. A ledger that cannot be opened (no `--unstable-kv`, no write
 * permission, a bad URL) is reported once and left off: the proxy serves without it.
 *
 * @module
 */
import type { Config } from "../config.ts";
import { Ledger } from "./ledger.ts";
import { UsageTracker } from "./tracker.ts";

/** Where `USAGE_DB` points when unset (outside Deno Deploy). */
export const DEFAULT_USAGE_DB = ".ccproxy/usage";

const SWEEP_MS = 6 * 3_600_000;

/** Options of {@link openLedger}. */
export interface OpenLedgerOptions {
  /** Running on Deno Deploy: the default is the platform's KV. */
  deployed?: boolean;
  /** Where problems are reported. */
  log?: { info(line: string): void };
}

/**
 * Opens the configured ledger and starts its retention sweep; resolves with undefined when it is
 * off or cannot be opened (the reason is logged).
 */
export async function openLedger(
  config: Config,
  options: OpenLedgerOptions = {},
): Promise<Ledger | undefined> {
  if (config.usageDb === null) return undefined;
  const path = config.usageDb ?? (options.deployed ? undefined : DEFAULT_USAGE_DB);
  const off = (why: string) => {
    options.log?.info(`usage ledger: off: ${why}`);
    return undefined;
  };
  if (typeof Deno.openKv !== "function") {
    return off("Deno KV needs --unstable-kv (deno task start and deno.json set it)");
  }
  if (path && !/^https?:\/\//i.test(path)) {
    // Ask instead of letting Deno prompt on a terminal.
    for (const name of ["read", "write"] as const) {
      const state = (await Deno.permissions.query({ name, path })).state;
      if (state !== "granted") {
        return off(`no ${name} permission for ${path}: run with --allow-${name}=${dirOf(path)}`);
      }
    }
  }
  try {
    const ledger = await Ledger.open(path, {
      retentionDays: config.usageRetentionDays,
      log: options.log,
    });
    const sweep = () => ledger.sweep().catch((e) => options.log?.info(`usage ledger: sweep: ${e}`));
    void sweep();
    Deno.unrefTimer(setInterval(sweep, SWEEP_MS));
    return ledger;
  } catch (error) {
    return off(error instanceof Error ? error.message : String(error));
  }
}

function dirOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash > 0 ? path.slice(0, slash) : path;
}

/** A {@link UsageTracker} on the configured ledger. */
export function createUsage(config: Config, options: OpenLedgerOptions = {}): UsageTracker {
  return new UsageTracker({
    ledger: openLedger(config, options),
    log: options.log,
    // Azure deployments are priced as the model they run (AZURE_DEPLOYMENT_MODELS).
    azureModels: config.azureDeploymentModels,
    prices: config.modelPrices,
  });
}
