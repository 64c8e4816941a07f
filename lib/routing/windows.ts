/**
 * The window check, before any upstream call: a prompt the chosen model cannot hold goes to the
 * long-context route when that model holds it, else is answered with Anthropic's exact
 * `prompt is too long: N tokens > M maximum` (400), on which Claude Code compacts the
 * conversation and carries on.
 *
 * @module
 */
import { ProxyError } from "../anthropic/errors.ts";
import type { Config } from "../config.ts";
import { limitsOf, type Target } from "./route.ts";

/** The outcome of {@link fitWindow}. */
export interface Fitted {
  /** The targets whose window holds the prompt, in their order. */
  targets: Target[];
  /** True when the long-context route replaced the chosen targets. */
  longContext: boolean;
}

/** The smallest window among `targets` (undefined: none known, e.g. Anthropic passthrough). */
export function smallestWindow(targets: Target[], config: Config): number | undefined {
  let smallest: number | undefined;
  for (const target of targets) {
    const context = limitsOf(target, config)?.context;
    if (context !== undefined && (smallest === undefined || context < smallest)) smallest = context;
  }
  return smallest;
}

/**
 * Keeps the targets whose window holds `tokens`; when none does, the `longContext` targets that
 * do; when none of those does either, throws Anthropic's exact prompt-too-long error naming the
 * first target's window.
 */
export function fitWindow(
  targets: Target[],
  tokens: number,
  config: Config,
  longContext: Target[] = [],
): Fitted {
  const holds = (target: Target) => {
    const context = limitsOf(target, config)?.context;
    return context === undefined || tokens <= context;
  };
  const fitting = targets.filter(holds);
  if (fitting.length) return { targets: fitting, longContext: false };
  const long = longContext.filter(holds);
  if (long.length) return { targets: long, longContext: true };
  const max = limitsOf(targets[0], config)?.context ?? tokens;
  throw new ProxyError(
    "invalid_request_error",
    `prompt is too long: ${tokens} tokens > ${max} maximum`,
  );
}
