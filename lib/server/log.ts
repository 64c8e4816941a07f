/**
 * Logging: one line per request, debug detail on demand, and no secret ever written. Lines are
 * text by default; `format: "json"` writes one JSON object per line instead, for log collectors.
 *
 * @module
 */
import { redact } from "./redact.ts";
import {
  escapeControls,
  formatRecord,
  type LogFormat,
  type RequestRecord,
} from "./request_record.ts";

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
  const write = options.write ?? writeStderr;
  const json = options.format === "json";
  const emit = (level: "info" | "debug", requestId: string | undefined, message: string) => {
    const time = new Date().toISOString();
    const line = json
      ? JSON.stringify({ time, level, ...(requestId ? { requestId } : {}), message })
      : `${time} ${requestId ? `${requestId} ` : ""}${escapeControls(message)}`;
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

/** How long a line may wait for others to share its write (a write costs more than a line). */
const FLUSH_MS = 20;

let queued: string[] = [];
let hooked = false;
let writing: Promise<unknown> = Promise.resolve();
const encoder = new TextEncoder();
const stderr = (globalThis as { Deno?: typeof Deno }).Deno?.stderr;

function flushStderr(): void {
  if (!queued.length) return;
  const bytes = encoder.encode(`${queued.join("\n")}\n`);
  queued = [];
  // Asynchronous and in order: the response path never waits on a slow terminal or pipe.
  writing = writing.then(() => writeAll(bytes)).catch(() => {});
}

async function writeAll(bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await stderr!.write(bytes.subarray(at));
}

/** At exit, whatever is still queued goes out synchronously. */
function flushAtExit(): void {
  if (!queued.length) return;
  const bytes = encoder.encode(`${queued.join("\n")}\n`);
  queued = [];
  try {
    for (let at = 0; at < bytes.length;) at += stderr!.writeSync(bytes.subarray(at));
  } catch {
    // nowhere left to write
  }
}

/**
 * The default sink: standard error, in batches and without blocking. A line is queued; the queue
 * goes out in one asynchronous write at most {@link FLUSH_MS} later, so writing a log line never
 * holds up the response it describes, and the lines of many requests share one write. Lines still queued
 * go out when the process exits. Without `Deno.stderr` (some hosts) lines go to the console.
 */
function writeStderr(line: string): void {
  if (!stderr) return console.error(line);
  if (queued.push(line) > 1) return;
  if (!hooked) {
    hooked = true;
    globalThis.addEventListener("unload", flushAtExit);
  }
  setTimeout(flushStderr, FLUSH_MS);
}

/** A logger that writes nothing (tests, library users who log themselves). */
export const silentLogger: Logger = {
  info() {},
  debug() {},
  request() {},
  forRequest: () => silentLogger,
  debugEnabled: false,
};
