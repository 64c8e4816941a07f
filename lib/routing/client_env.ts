/**
 * Tells Claude Code the backend's real context window, so it compacts the conversation before
 * the backend's limit rather than at Claude's own (200k or 1M tokens).
 *
 * Found from Claude Code 2.1.332's behaviour against a recording upstream (not from docs):
 * - `CLAUDE_CODE_AUTO_COMPACT_WINDOW=N` sets the window it compacts in; it compacts when the
 *   conversation reaches N − 20,000 (a buffer for the summary). Values under 100,000 are raised to
 *   100,000.
 * - `CLAUDE_AUTOCOMPACT_PCT_OVERRIDE=P` lowers that threshold to P % of (window − 20,000): with
 *   the window at 100,000 and P = 30 it compacted at 24,000 tokens and not at 23,000. That is how
 *   a window under 100k (local models) is reached.
 * - Without either, a conversation of 150,000 tokens did not compact.
 *
 * @module
 */
import type { Config } from "../config.ts";
import { limitsOf, route, type Target, targetsOf } from "./route.ts";

/** What Claude Code should be told about the backend's window. */
export interface ClaudeCodeWindow {
  /** The window Claude Code should compact in: the smallest that some request of its can be
   * held in (or the long-context route's, which takes what the others cannot hold). */
  window: number;
  /** The model with that window, as `provider/model`. */
  model: string;
  /** The variables to set for Claude Code, e.g. `{ CLAUDE_CODE_AUTO_COMPACT_WINDOW: "400000" }`. */
  env: Record<string, string>;
}

/** The smallest value `CLAUDE_CODE_AUTO_COMPACT_WINDOW` takes (Claude Code raises lower ones). */
export const MIN_COMPACT_WINDOW = 100_000;
/** What Claude Code keeps free below the window for the summary. */
export const SUMMARY_BUFFER = 20_000;

/**
 * The Claude Code settings for `config`'s models, or undefined when no window is known (the
 * Anthropic passthrough, where Claude Code's own defaults are right).
 *
 * @example
 * ```ts
 * import { loadConfig } from "../config.ts";
 * import { claudeCodeWindow } from "./client_env.ts";
 * import { loadCatalog } from "./catalog.ts";
 * await loadCatalog(); // lookups need the model catalog loaded
 * const config = loadConfig({ OPENAI_API_KEY: "sk-test", BIG_MODEL: "gpt-4o", SMALL_MODEL: "gpt-4o-mini" });
 * console.log(claudeCodeWindow(config)?.env); // { CLAUDE_CODE_AUTO_COMPACT_WINDOW: "128000" }
 * ```
 */
export function claudeCodeWindow(config: Config): ClaudeCodeWindow | undefined {
  // A request goes to the first target of its chain whose window holds it, and task routes put
  // their models before the sized chain: so each family can take up to its chain's largest
  // window, and Claude Code must compact at the smallest of those.
  let smallest: { window: number; model: string } | undefined;
  for (const family of ["claude-opus-5-5", "claude-sonnet-5-5", "claude-haiku-5-5"]) {
    const widest = widestOf(route(family, config), config);
    if (widest && (!smallest || widest.window < smallest.window)) smallest = widest;
  }
  if (!smallest) return undefined;
  const long = widestOf(targetsOf(config.routes.longContext ?? [], config), config);
  if (long && long.window > smallest.window) smallest = long;
  return { ...smallest, env: compactEnv(smallest.window) };
}

function widestOf(
  targets: Target[],
  config: Config,
): { window: number; model: string } | undefined {
  let widest: { window: number; model: string } | undefined;
  for (const target of targets) {
    const window = limitsOf(target, config)?.context;
    if (window !== undefined && (!widest || window > widest.window)) {
      widest = { window, model: `${target.provider}/${target.model}` };
    }
  }
  return widest;
}

/** The variables that make Claude Code compact before `window` tokens. */
export function compactEnv(window: number): Record<string, string> {
  if (window >= MIN_COMPACT_WINDOW) return { CLAUDE_CODE_AUTO_COMPACT_WINDOW: String(window) };
  // Keep a quarter of a small window (at most the usual buffer) for the summary and the answer.
  const reserve = Math.min(SUMMARY_BUFFER, Math.ceil(window / 4));
  const percent = Math.max(
    1,
    Math.floor(100 * (window - reserve) / (MIN_COMPACT_WINDOW - SUMMARY_BUFFER)),
  );
  return {
    CLAUDE_CODE_AUTO_COMPACT_WINDOW: String(MIN_COMPACT_WINDOW),
    CLAUDE_AUTOCOMPACT_PCT_OVERRIDE: String(percent),
  };
}

/** `export NAME=value` lines for a shell. */
export function exportLines(env: Record<string, string>): string[] {
  return Object.entries(env).map(([name, value]) => `export ${name}=${shellQuote(value)}`);
}

function shellQuote(value: string): string {
  return /^[\w.,:/@%+=-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}
