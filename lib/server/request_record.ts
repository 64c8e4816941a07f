/**
 * The record of one request: every fact the proxy knows about it when it ends, as typed fields.
 * The request's log line is rendered from it (text by default, one JSON object with
 * `--log-format json`), and the same object is what a usage ledger or a metrics exporter stores,
 * so the log and the ledger can never disagree.
 *
 * @example
 * ```ts
 * import { formatRecord, type RequestRecord } from "./request_record.ts";
 * const record: RequestRecord = {
 *   requestId: "req_1",
 *   time: "2026-01-01T00:00:00.000Z",
 *   method: "POST",
 *   path: "/v1/messages",
 *   clientModel: "claude-opus-5-5",
 *   provider: "azure",
 *   backendModel: "my-deploy",
 *   api: "azure-chat",
 *   stream: false,
 *   status: 404,
 *   error: {
 *     type: "not_found_error",
 *     message: "azure returned 404: The API deployment for this resource does not exist.",
 *     upstreamStatus: 404,
 *   },
 *   tries: [],
 *   latencyMs: 9.8,
 *   notes: [],
 * };
 * console.log(formatRecord(record, "text"));
 * ```
 *
 * @module
 */
import type { ErrorType, Usage } from "../anthropic/schema.ts";

/**
 * Which upstream API served a request: the provider and its protocol. `local` is an answer made
 * by the proxy itself (a `max_tokens: 0` cache warm-up, a web search no backend can run, a token
 * count done here): no upstream saw it and no upstream tokens were spent.
 */
export type ApiName =
  | "openai-chat"
  | "openai-responses"
  | "azure-chat"
  | "azure-responses"
  | "gemini"
  | "anthropic"
  | "local";

/** One try of one target, in the order they were made. */
export interface Attempt {
  /** Provider of the try (`openai`, `azure`, `google`, `anthropic`). */
  provider: string;
  /** Backend model (or Azure deployment) of the try. */
  model: string;
  /**
   * How the try ended: `ok` for the one that served the request; the upstream's own HTTP
   * status for a failure it answered (503, not the 529 the client was shown); `timeout` or
   * `unreachable` when no answer came.
   */
  result: "ok" | number | "timeout" | "unreachable";
}

/** Why a request failed, as the client was told (message redacted and trimmed). */
export interface RecordError {
  /** The Anthropic error type the client received. */
  type: ErrorType;
  /** The message, secrets redacted, at most {@link MAX_MESSAGE} characters. */
  message: string;
  /** The upstream's HTTP status when the failure came from an upstream answer. */
  upstreamStatus?: number;
}

/** Everything known about one request when it ends. Fields unknown for a request are absent. */
export interface RequestRecord {
  /** `req_…`, also sent to the client as the `request-id` header. */
  requestId: string;
  /** When the request arrived (ISO 8601). */
  time: string;
  /** HTTP method. */
  method: string;
  /** URL path (no query). */
  path: string;
  /** The model the client asked for. */
  clientModel?: string;
  /** The provider that served the request (or was tried last). */
  provider?: string;
  /** The backend model (or Azure deployment) that served it. */
  backendModel?: string;
  /** What chose the backend model: `default`, `pinned`, `marker`, `script`, `long_context`,
   * `think`, `background`, `subagent`, `image`, `web_search`. */
  route?: string;
  /** Which API served it; `local` for answers made by the proxy. */
  api?: ApiName;
  /** True for a streaming (SSE) answer. */
  stream?: boolean;
  /** Messages in the request. */
  messages?: number;
  /** Tools in the request. */
  tools?: number;
  /** Tools declared upstream (deferred tools only once loaded; server tools never). */
  toolsSent?: number;
  /** Client tools held back: deferred and not loaded yet, or removed. */
  toolsHeld?: number;
  /** HTTP status the client got; 499 when the client went away mid-stream. */
  status: number;
  /** Why it failed (absent on success). */
  error?: RecordError;
  /** Every try when there was more than one (retries, fallbacks); else empty. */
  tries: Attempt[];
  /** From arrival to the last byte, in ms. */
  latencyMs: number;
  /** From arrival to the first generated content, in ms. */
  ttftMs?: number;
  /** Tokens as the upstream reported them; absent for local answers and failures. */
  usage?: Usage;
  /** Other facts worth a line (`content_filter=…`, `client-cancelled`, …). */
  notes: string[];
}

/** Longest error message kept in a record. */
export const MAX_MESSAGE = 300;

/** Log line formats. */
export type LogFormat = "text" | "json";

/** `message` on one line, cut to {@link MAX_MESSAGE} characters. */
export function trimMessage(message: string): string {
  const line = message.replace(/\s+/g, " ").trim();
  return line.length > MAX_MESSAGE ? `${line.slice(0, MAX_MESSAGE - 1)}…` : line;
}

/**
 * Control characters a terminal or a log reader acts on: C0 (newlines, ESC), DEL, C1, the
 * Unicode line and paragraph separators, and the bidirectional overrides.
 */
// deno-lint-ignore no-control-regex
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * `text` with every control character written as a JSON-style escape (`\n`, `\u001b`): client
 * and upstream strings (model names, session ids, error messages) cannot forge a log line or
 * send escape codes to the operator's terminal.
 */
export function escapeControls(text: string): string {
  return text.replace(CONTROLS, (c) => {
    const code = c.charCodeAt(0);
    // JSON's short forms for C0 (`\n`, `\t`); `\uXXXX` for the rest.
    return code < 0x20
      ? JSON.stringify(c).slice(1, -1)
      : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/** A try as text: `openai/gpt-4.1(503)`, or `openai/gpt-4.1` for the one that served. */
export function formatAttempt(attempt: Attempt): string {
  const target = `${attempt.provider}/${attempt.model}`;
  return attempt.result === "ok" ? target : `${target}(${attempt.result})`;
}

/**
 * The record as one log line (without the timestamp the logger adds). Text reads
 * `req_… POST /v1/messages claude-x → openai/gpt-4.1 api=openai-chat stream messages=3 tools=2 200
 * 812.4ms ttft=301.2ms in=120 out=42 …`, with `error=<type> "<message>"` last; JSON is the
 * record itself.
 */
export function formatRecord(record: RequestRecord, format: LogFormat): string {
  if (format === "json") return JSON.stringify(record);
  const parts = [record.requestId, record.method, record.path];
  if (record.clientModel !== undefined) {
    parts.push(record.clientModel);
    if (record.provider) parts.push("→", `${record.provider}/${record.backendModel}`);
    // The sized default is the common case: the text line names only other routes.
    if (record.route && record.route !== "default") parts.push(`route=${record.route}`);
    if (record.api) parts.push(`api=${record.api}`);
    if (record.stream !== undefined) parts.push(record.stream ? "stream" : "sync");
    if (record.messages !== undefined) parts.push(`messages=${record.messages}`);
    if (record.tools !== undefined) parts.push(`tools=${record.tools}`);
    if (record.toolsSent !== undefined) {
      parts.push(`sent=${record.toolsSent}`, `held=${record.toolsHeld ?? 0}`);
    }
  }
  parts.push(String(record.status), `${record.latencyMs.toFixed(1)}ms`);
  if (record.ttftMs !== undefined) parts.push(`ttft=${record.ttftMs.toFixed(1)}ms`);
  if (record.usage) {
    parts.push(`in=${record.usage.input_tokens}`, `out=${record.usage.output_tokens}`);
  }
  if (record.tries.length > 1) parts.push(`tried=${record.tries.map(formatAttempt).join(",")}`);
  parts.push(...record.notes);
  if (record.error) {
    parts.push(`error=${record.error.type}`, JSON.stringify(record.error.message));
  }
  // Client and upstream strings are in it: one line, no escape codes.
  return escapeControls(parts.join(" "));
}
