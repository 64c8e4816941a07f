/**
 * Truncated JSON: what a prefix of a JSON object lacks to parse, and where a streamed value ends.
 * Tool arguments are streamed to the client as they come; when an upstream stops in the middle
 * (max tokens, a cut stream) the writer tells a cut call (a prefix that could be completed) from
 * a malformed one, but never completes it: a closed cut string is a valid, different call.
 *
 * @module
 */

const LITERALS = ["true", "false", "null"];

/**
 * The text to append to `prefix` so that `prefix + suffix` is valid JSON, or undefined when no
 * suffix can repair it (the prefix itself is malformed). Valid JSON gets "".
 */
export function completionOf(prefix: string): string | undefined {
  if (parses(prefix)) return "";
  if (!prefix.trim()) return "{}";
  const closers: string[] = [];
  let inString = false;
  let escape = false;
  let unicode = -1;
  for (const c of prefix) {
    if (inString) {
      if (unicode >= 0) unicode = unicode === 3 ? -1 : unicode + 1;
      else if (escape) {
        escape = false;
        if (c === "u") unicode = 0;
      } else if (c === "\\") escape = true;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{") closers.push("}");
    else if (c === "[") closers.push("]");
    else if (c === "}" || c === "]") closers.pop();
  }
  let suffix = "";
  if (inString) {
    if (unicode >= 0) suffix += "0".repeat(4 - unicode);
    else if (escape) suffix += "\\";
    suffix += '"';
  } else {
    const tail = /([A-Za-z]+|-?\d*\.?\d*[eE]?[+-]?)$/.exec(prefix.trimEnd())?.[1] ?? "";
    const literal = LITERALS.find((word) => tail && word.startsWith(tail) && word !== tail);
    if (literal) suffix += literal.slice(tail.length);
    else if (/[-+.eE]$/.test(tail)) suffix += "0";
  }
  const text = prefix + suffix;
  const end = text.trimEnd();
  if (end.endsWith(":")) suffix += "null";
  else if (end.endsWith(",")) suffix += closers.at(-1) === "}" ? '"":null' : "null";
  else if (closers.at(-1) === "}" && /[{,]\s*"(?:[^"\\]|\\.)*"$/.test(end)) suffix += ":null";
  suffix += closers.reverse().join("");
  return parses(prefix + suffix) ? suffix : undefined;
}

/** True when `text` is valid JSON. */
export function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * Follows a JSON value as its text streams in, to find where it ends. Some models write more
 * after their tool arguments (`{"a": 1}} not json`); what follows the end is not part of them.
 * One pass over each character, so a long argument costs linear time.
 */
export class JsonEnd {
  #depth = 0;
  #inString = false;
  #escape = false;
  #opened = false;
  #ended = false;

  /** True once the value (the first object or array) has closed. */
  get ended(): boolean {
    return this.#ended;
  }

  /** How many characters of `fragment` belong to the value: all of them until it closes. */
  take(fragment: string): number {
    if (this.#ended) return 0;
    for (let i = 0; i < fragment.length; i++) {
      const c = fragment.charCodeAt(i);
      if (this.#inString) {
        if (this.#escape) this.#escape = false;
        else if (c === 92) this.#escape = true; // backslash
        else if (c === 34) this.#inString = false;
      } else if (c === 34) this.#inString = true;
      else if (c === 123 || c === 91) {
        this.#depth++;
        this.#opened = true;
      } else if ((c === 125 || c === 93) && this.#opened && --this.#depth === 0) {
        this.#ended = true;
        return i + 1;
      }
    }
    return fragment.length;
  }
}
