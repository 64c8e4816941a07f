/**
 * Checks a `.env` file for lines the parser would drop or misread in silence: a line without
 * `=`, and a quoted value whose quote is not closed (the parser then keeps the quote in the
 * value, or runs the value on over the next variables).
 *
 * @module
 */

/**
 * One warning per suspicious line of a `.env` text, naming the line (never its value, which
 * may be a key).
 *
 * @example
 * ```ts
 * import { envFileWarnings } from "./env_file.ts";
 * console.log(envFileWarnings("OPENAI_API_KEY=sk-1\nBIG_MODEL\n"));
 * // ["line 2: BIG_MODEL has no '=' (ignored)"]
 * ```
 */
export function envFileWarnings(text: string): string[] {
  const warnings: string[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line || line.startsWith("#")) continue;
    const equals = line.indexOf("=");
    const name = (equals < 0 ? line : line.slice(0, equals)).replace(/^export\s+/, "").trim();
    if (equals < 0) {
      warnings.push(`line ${i + 1}: ${shown(name)} has no '=' (ignored)`);
      continue;
    }
    const value = line.slice(equals + 1).trim();
    const quote = value[0];
    if (quote !== '"' && quote !== "'" && quote !== "`") continue;
    if (value.indexOf(quote, 1) > 0) continue;
    // A quoted value may span lines; it is fine when a later line closes it before anything
    // that looks like the next variable (which the parser would otherwise swallow).
    const closing = lines.findIndex((next, j) => j > i && next.includes(quote));
    const swallowed = closing > i &&
      lines.slice(i + 1, closing + 1).some((next) => /^\s*[A-Za-z_]\w*\s*=/.test(next));
    if (closing > i && !swallowed) {
      i = closing;
      continue;
    }
    warnings.push(`line ${i + 1}: ${shown(name)} has an unterminated ${quote} quote`);
  }
  return warnings;
}

/** A variable name as it may be printed: names only, cut short, never a value. */
function shown(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? name : "the line";
}
