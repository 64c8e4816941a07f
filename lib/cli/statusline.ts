/**
 * `ccproxy statusline`: Claude Code's status line command. Claude Code runs it with the session's
 * JSON on standard input and shows the first line it prints; this asks the running ccproxy's
 * ledger for the session (`GET /v1/usage?session=…`) and prints the backend model of the last
 * turn, how full its context window is, the session's tokens in and out, and its cost:
 *
 * ```
 * gpt-4.1 · 48k/1M ctx · 48k in / 7 out · $0.0961
 * ```
 *
 * It answers within 200 ms: the ledger gets a short deadline, and without a proxy or a ledger the
 * line says so and shows what Claude Code itself knows.
 *
 * Claude Code runs it with its own environment, which `ccproxy code` filled: `ANTHROPIC_BASE_URL`
 * says where the proxy is, `ANTHROPIC_AUTH_TOKEN` (or `ANTHROPIC_API_KEY`) is its key, and
 * `CCPROXY_MODEL_WINDOWS` (JSON) holds the context window of each configured backend model. It
 * imports nothing else of ccproxy, so it starts in a few milliseconds.
 *
 * @module
 */
/** The parts of Claude Code's status line JSON this command reads (it sends more). */
export interface StatusInput {
  /** The session id; Claude Code sends the same as `x-claude-code-session-id`. */
  session_id?: string;
  /** The Claude model Claude Code believes it talks to. */
  model?: { id?: string; display_name?: string };
  /** Claude Code's own view of the context window. */
  context_window?: {
    context_window_size?: number;
    current_usage?: {
      input_tokens?: number;
      cache_creation_input_tokens?: number;
      cache_read_input_tokens?: number;
    } | null;
    total_input_tokens?: number;
    total_output_tokens?: number;
  };
}

/** What the ledger says about one session. */
export interface SessionUsage {
  /** The backend model that served the last turn. */
  model: string;
  /** Its provider. */
  provider: string;
  /** Requests recorded. */
  requests: number;
  /** Input tokens in all (cache reads and writes included). */
  inputTokens: number;
  /** Output tokens in all. */
  outputTokens: number;
  /** Cost in USD; null when a model's price is unknown. */
  costUsd: number | null;
}

/** What {@link statusLine} could learn from the proxy. */
export type LedgerAnswer =
  | { kind: "session"; usage: SessionUsage }
  | { kind: "empty" }
  | { kind: "off" }
  | { kind: "unreachable" };

/** Options of {@link statusLine}. */
export interface StatusLineOptions {
  /** The proxy's base URL. */
  url: string;
  /** The key to send. */
  key?: string;
  /** Deadline for the ledger, in ms (default 150). */
  timeoutMs?: number;
  /** The main model's window, when `ccproxy code` set one. */
  window?: number;
  /** Context window of each configured backend model. */
  windows?: Record<string, number>;
  /** The fetch to use (tests). */
  fetch?: typeof fetch;
}

/** Reads the session's totals from the proxy's ledger. */
export async function fetchSessionUsage(
  session: string,
  options: StatusLineOptions,
): Promise<LedgerAnswer> {
  const url = `${options.url.replace(/\/+$/, "")}/v1/usage?session=${encodeURIComponent(session)}`;
  try {
    const response = await (options.fetch ?? fetch)(url, {
      headers: options.key ? { authorization: `Bearer ${options.key}` } : {},
      signal: AbortSignal.timeout(options.timeoutMs ?? 150),
    });
    if (!response.ok) {
      await response.body?.cancel();
      return { kind: response.status === 404 || response.status === 503 ? "off" : "unreachable" };
    }
    const usage = sessionUsage(await response.json());
    return usage ? { kind: "session", usage } : { kind: "empty" };
  } catch {
    return { kind: "unreachable" };
  }
}

/** Reads a `/v1/usage` answer (its `last` turn and its `totals`); undefined when empty. */
export function sessionUsage(body: unknown): SessionUsage | undefined {
  if (!body || typeof body !== "object") return undefined;
  const b = body as Record<string, Record<string, unknown> | undefined>;
  const totals = b.totals ?? {};
  const last = b.last ?? {};
  const requests = num(totals.requests);
  if (!requests) return undefined;
  const cost = totals.cost_usd;
  return {
    model: String(last.backend_model ?? last.model ?? ""),
    provider: String(last.provider ?? ""),
    requests,
    inputTokens: num(totals.input_tokens) + num(totals.cache_read_input_tokens) +
      num(totals.cache_creation_input_tokens),
    outputTokens: num(totals.output_tokens),
    costUsd: typeof cost === "number" ? cost : null,
  };
}

function num(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) ? value : 0;
}

/** Tokens for a narrow line: 7, 950, 48k, 1.2M, 1M. */
export function shortTokens(n: number): string {
  if (n < 1000) return String(Math.round(n));
  if (n < 1_000_000) {
    const k = n / 1000;
    return `${k < 10 ? trim(k.toFixed(1)) : Math.round(k)}k`;
  }
  return `${trim((n / 1_000_000).toFixed(1))}M`;
}

function trim(fixed: string): string {
  return fixed.replace(/\.0$/, "");
}

/** Dollars: cents above a dime, more digits below, `$?` when a price is unknown. */
export function shortCost(usd: number | null): string {
  if (usd === null) return "$?";
  return usd >= 0.1 ? `$${usd.toFixed(2)}` : `$${usd.toFixed(4)}`;
}

/** The prompt of the last turn as Claude Code counted it (what fills the window). */
function contextUsed(input: StatusInput): number | undefined {
  const current = input.context_window?.current_usage;
  if (!current) return undefined;
  return (current.input_tokens ?? 0) + (current.cache_creation_input_tokens ?? 0) +
    (current.cache_read_input_tokens ?? 0);
}

// Control characters (C0, DEL, C1, line separators, bidi overrides): a model name from the ledger
// (a client's pinned name) must not break the bar or send escape codes to the terminal.
// deno-lint-ignore no-control-regex
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** The one line for Claude Code's status bar, without control characters. */
export function formatStatus(
  input: StatusInput,
  answer: LedgerAnswer,
  options: { window?: number; windows?: Record<string, number> } = {},
): string {
  return statusText(input, answer, options).replace(CONTROLS, "");
}

function statusText(
  input: StatusInput,
  answer: LedgerAnswer,
  options: { window?: number; windows?: Record<string, number> } = {},
): string {
  const used = contextUsed(input);
  const ctx = (window: number | undefined) =>
    used === undefined || !window ? [] : [`${shortTokens(used)}/${shortTokens(window)} ctx`];
  const claudeWindow = options.window ?? input.context_window?.context_window_size;
  if (answer.kind === "session") {
    const u = answer.usage;
    const window = options.windows?.[u.model] ?? claudeWindow;
    return [
      u.model || "ccproxy",
      ...ctx(window),
      `${shortTokens(u.inputTokens)} in / ${shortTokens(u.outputTokens)} out`,
      shortCost(u.costUsd),
    ].join(" · ");
  }
  const state = {
    empty: "ccproxy · no turns yet",
    off: "ccproxy · ledger off",
    unreachable: "ccproxy unreachable",
  }[answer.kind];
  const model = input.model?.display_name ?? input.model?.id;
  return [state, ...(answer.kind === "empty" || !model ? [] : [model]), ...ctx(claudeWindow)]
    .join(" · ");
}

/** Reads Claude Code's JSON; anything unreadable is an empty input, never an error. */
export function parseStatusInput(text: string): StatusInput {
  try {
    const value = JSON.parse(text);
    return value && typeof value === "object" ? value : {};
  } catch {
    return {};
  }
}

/** Where the proxy is and its key, from the environment Claude Code passes on. */
export function proxyFromEnv(env: Record<string, string | undefined>): StatusLineOptions {
  const window = Number(env.CLAUDE_CODE_MAX_CONTEXT_TOKENS || env.CLAUDE_CODE_AUTO_COMPACT_WINDOW);
  return {
    url: env.ANTHROPIC_BASE_URL || `http://127.0.0.1:${env.PORT || "8082"}`,
    key: env.ANTHROPIC_AUTH_TOKEN || env.ANTHROPIC_API_KEY || undefined,
    window: Number.isFinite(window) && window > 0 ? window : undefined,
    windows: windowsOf(env.CCPROXY_MODEL_WINDOWS),
  };
}

function windowsOf(json: string | undefined): Record<string, number> | undefined {
  if (!json) return undefined;
  try {
    const value = JSON.parse(json);
    return value && typeof value === "object" ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Reads standard input, prints the line; always exits 0 (a failing command blanks the bar). */
export async function runStatusLine(
  stdin: ReadableStream<Uint8Array> = Deno.stdin.readable,
  env: Record<string, string | undefined> = Deno.env.toObject(),
): Promise<string> {
  const input = parseStatusInput(await new Response(stdin).text());
  const options = proxyFromEnv(env);
  const answer = input.session_id
    ? await fetchSessionUsage(input.session_id, options)
    : { kind: "empty" as const };
  return formatStatus(input, answer, options);
}

if (import.meta.main) console.log(await runStatusLine());
