/**
 * `ccproxy usage`: the ledger's totals as a table (or `--json`, the `GET /v1/usage` shape),
 * read straight from the ledger `USAGE_DB` names, so it works whether or not a proxy is running.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { ProxyError } from "../anthropic/errors.ts";
import { Ledger } from "../usage/ledger.ts";
import { DEFAULT_USAGE_DB } from "../usage/open.ts";
import { formatTable, parseQuery, summarize } from "../usage/summary.ts";

/** Help for `ccproxy usage`. */
export const USAGE_HELP =
  `Usage: ccproxy usage [--from DAY] [--to DAY] [--group-by G] [--session ID] [--json]

  --from, --to   UTC days (YYYY-MM-DD) or ISO times; default today (a session: its whole history)
  --group-by     model | key | session | provider | day
  --session      only this Claude Code session
  --json         print the GET /v1/usage JSON instead of a table
Reads the ledger at USAGE_DB (default ${DEFAULT_USAGE_DB}).`;

/** Runs `ccproxy usage` with `args` and the environment `env`; returns the exit code. */
export async function runUsage(
  args: string[],
  env: Record<string, string | undefined>,
  print: (text: string) => void = console.log,
): Promise<number> {
  let flags;
  try {
    flags = parseArgs({
      args,
      options: {
        from: { type: "string" },
        to: { type: "string" },
        "group-by": { type: "string" },
        session: { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean" },
      },
    }).values;
  } catch (error) {
    console.error(
      `ccproxy usage: ${error instanceof Error ? error.message : error}\n${USAGE_HELP}`,
    );
    return 2;
  }
  if (flags.help) {
    print(USAGE_HELP);
    return 0;
  }
  const path = env.USAGE_DB?.trim() || DEFAULT_USAGE_DB;
  if (/^off$/i.test(path)) {
    console.error("ccproxy usage: the ledger is off (USAGE_DB=off)");
    return 1;
  }
  const params = new URLSearchParams();
  if (flags.from) params.set("from", flags.from);
  if (flags.to) params.set("to", flags.to);
  if (flags["group-by"]) params.set("group_by", flags["group-by"]);
  if (flags.session !== undefined) params.set("session", flags.session);
  let query;
  try {
    query = parseQuery(params, { retentionDays: Number(env.USAGE_RETENTION_DAYS) || 30 });
  } catch (error) {
    if (!(error instanceof ProxyError)) throw error;
    console.error(`ccproxy usage: ${error.message}`);
    return 2;
  }
  if (!/^https?:\/\//i.test(path)) {
    try {
      await Deno.stat(path);
    } catch {
      console.error(`ccproxy usage: no ledger at ${path} yet (USAGE_DB)`);
      return 1;
    }
  }
  const ledger = await Ledger.open(path);
  try {
    const summary = await summarize(ledger, query);
    print(flags.json ? JSON.stringify(summary, null, 2) : formatTable(summary));
    return 0;
  } finally {
    await ledger.close();
  }
}
