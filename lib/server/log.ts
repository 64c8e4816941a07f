/**
 * Logging: one line per request, debug detail on demand, and no secret ever written. Lines are
 * text by default; `format: "json"` writes one JSON object per line instead, for log collectors.
 *
 * @module
 */
import { redact } from "./redact.ts";
import { formatRecord, type LogFormat, type RequestRecord } from "./request_record.ts";

/** Where log lines go and how much detail they carry. */
export interface Logger {
  /** An always-on line. */
  info(line: string): void;
  /** A line written only with `DEBUG=true`. */
  debug(line: string | (() => string)): void;
  /** The one line of a finished request, rendered from its record. */
  request(record: RequestRecord): void;
  /** A logger whose lines carry `requestId` (every line that belongs to a request does). */
  forRequest(requestId: string): Logger;
  /** True when debug lines are written. */
  readonly debugEnabled: boolean;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Write debug lines too. */
  debug?: boolean;
  /** Values to redact wherever they appear. */
  secrets?: string[];
  /** `text` (default) or `json`: one JSON object per line. */
  format?: LogFormat;
  /** The sink (default: standard error). */
  write?: (line: string) => void;
}

/** Creates a logger that redacts `secrets` from every line. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const secrets = (options.secrets ?? []).filter((s) => s.length >= 4);
  const write = options.write ?? ((line: string) => console.error(line));
  const json = options.format === "json";
  const emit = (level: "info" | "debug", requestId: string | undefined, message: string) => {
    const time = new Date().toISOString();
    const line = json
      ? JSON.stringify({ time, level, ...(requestId ? { requestId } : {}), message })
      : `${time} ${requestId ? `${requestId} ` : ""}${message}`;
    write(redact(line, secrets));
  };
  const make = (requestId: string | undefined): Logger => ({
    debugEnabled: options.debug === true,
    info: (line) => emit("info", requestId, line),
    debug(line) {
      if (options.debug) emit("debug", requestId, typeof line === "function" ? line() : line);
    },
    request(record) {
      const line = json
        ? JSON.stringify({ level: "info", ...record })
        : `${new Date().toISOString()} ${formatRecord(record, "text")}`;
      write(redact(line, secrets));
    },
    forRequest: (id) => make(id),
  });
  return make(undefined);
}

/** A logger that writes nothing (tests, library users who log themselves). */
export const silentLogger: Logger = {
  info() {},
  debug() {},
  request() {},
  forRequest: () => silentLogger,
  debugEnabled: false,
};
