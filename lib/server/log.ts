/**
 * Logging: one line per request, debug detail on demand, and no secret ever written.
 *
 * @module
 */
import { redact } from "./redact.ts";

/** Where log lines go and how much detail they carry. */
export interface Logger {
  /** An always-on line (one per request). */
  info(line: string): void;
  /** A line written only with `DEBUG=true`. */
  debug(line: string | (() => string)): void;
  /** True when debug lines are written. */
  readonly debugEnabled: boolean;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Write debug lines too. */
  debug?: boolean;
  /** Values to redact wherever they appear. */
  secrets?: string[];
  /** The sink (default: standard error). */
  write?: (line: string) => void;
}

/** Creates a logger that redacts `secrets` from every line. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const secrets = (options.secrets ?? []).filter((s) => s.length >= 4);
  const write = options.write ?? ((line: string) => console.error(line));
  const emit = (line: string) => write(redact(`${new Date().toISOString()} ${line}`, secrets));
  return {
    debugEnabled: options.debug === true,
    info: emit,
    debug(line) {
      if (options.debug) emit(typeof line === "function" ? line() : line);
    },
  };
}

/** A logger that writes nothing (tests, library users who log themselves). */
export const silentLogger: Logger = { info() {}, debug() {}, debugEnabled: false };
