/**
 * Routes → handlers. `createHandler(config, { fetch })` returns a plain
 * `(Request) => Promise<Response>` that can be tested without a port and served by
 * `Deno.serve`, `deno serve` or Deno Deploy.
 *
 * @module
 */
import type { z } from "zod";
import { ProxyError } from "../anthropic/errors.ts";
import { foldUsage } from "../anthropic/accumulate.ts";
import { estimatedUsage, EventWriter } from "../anthropic/events.ts";
import {
  CountTokensRequestSchema,
  deepestIssue,
  type MessagesRequest,
  MessagesRequestSchema,
  type StopReason,
  type Usage,
} from "../anthropic/schema.ts";
import { type Scheduler, SSE_HEADERS } from "../anthropic/sse_encode.ts";
import { type Backend, createBackends, type OpenContext } from "../upstream/backends.ts";
import { type Config, isLoopback, secretsOf } from "../config.ts";
import { randomId } from "../ids.ts";
import { createLogger, type Logger } from "./log.ts";
import { type RequestRecord, trimMessage } from "./request_record.ts";
import { redact, redactMessage } from "./redact.ts";
import { allowOrigin, checkExposure, type ExposureRules } from "./exposure.ts";
import { authenticate } from "./auth.ts";
import { withFallback } from "../upstream/retry.ts";
import { timedFetch } from "../upstream/timeouts.ts";
import { type Answer, relayMessage, type RelayOptions, relayStream } from "../upstream/relay.ts";
import { ADVERTISED_MODELS, limitsOf, route, type Target } from "../routing/route.ts";
import { decideRoute } from "../routing/decide.ts";
import { catalogLoaded, loadCatalog } from "../routing/catalog.ts";
import { loadRouterScript, type RouterScript } from "../routing/router_script.ts";
import { countTokens } from "../routing/tokens.ts";
import { webSearchOf } from "../anthropic/web_search.ts";
import { VERSION } from "../version.ts";
import { type UnpricedRecord, UsageTracker } from "../usage/tracker.ts";
import { checkBudget, reserveBudget } from "../usage/budgets.ts";
import { parseQuery, summarize } from "../usage/summary.ts";
import { usageScope } from "../usage/access.ts";
import { DashboardFeed, type RouteRow } from "../dashboard/feed.ts";
import { serveDashboard } from "../dashboard/routes.ts";
import { startRequestSpan, withSpan } from "../usage/telemetry.ts";
import type { Span } from "@opentelemetry/api";

/** Options of {@link createHandler}. */
export interface HandlerOptions {
  /** The `fetch` used for every upstream call (tests pass a fake). */
  fetch?: typeof fetch;
  /** Logger (default: standard error, debug per `config.debug`). */
  logger?: Logger;
  /** Timer source for keep-alive pings (tests pass a manual one). */
  scheduler?: Scheduler;
  /** Silence before a keep-alive ping, in ms (default 10 000). */
  pingIdleMs?: number;
  /** Waits between retries (tests pass one that records instead of waiting). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Jitter source for retry backoff. */
  random?: () => number;
  /** Usage tracking: the ledger, requests in flight, the dashboard's feed (default: no ledger). */
  usage?: UsageTracker;
  /** Called once per request with its finished record (the one its log line is rendered from). */
  onRecord?: (record: RequestRecord) => void;
  /** The loaded `ROUTER_SCRIPT` (main.ts loads it before serving); loaded on first use when
   * absent and `config.routerScript` is set. */
  routerScript?: RouterScript;
  /**
   * Refuse a `Host` that is not a loopback name or in `ALLOWED_HOSTS` (DNS rebinding). Default:
   * when `config.host` is a loopback address; `deno serve` and Deploy, whose address the
   * configuration does not know, turn it off.
   */
  checkHost?: boolean;
  /**
   * Aborted when the server shuts down: every answer still open ends with an `overloaded_error`
   * (an `event: error` once streaming, a 529 before), and its log line is written.
   */
  shutdown?: AbortSignal;
}

/** A request handler. */
export type Handler = (request: Request, info?: Deno.ServeHandlerInfo) => Promise<Response>;

const JSON_HEADERS = { "content-type": "application/json" };

/**
 * Creates the proxy's request handler.
 *
 * @example
 * ```ts
 * import { createHandler } from "./handler.ts";
 * import { loadConfig } from "../config.ts";
 * const handler = createHandler(loadConfig({ OPENAI_API_KEY: "sk-test" }));
 * const response = await handler(new Request("http://localhost/health"));
 * console.log(response.status); // 200
 * ```
 */
export function createHandler(config: Config, options: HandlerOptions = {}): Handler {
  const secrets = secretsOf(config);
  const log = options.logger ??
    createLogger({ debug: config.debug, secrets, format: config.logFormat });
  const backends = createBackends(config, timedFetch(options.fetch ?? fetch, config.timeouts));
  const usage = options.usage ??
    new UsageTracker({
      log,
      azureModels: config.azureDeploymentModels,
      prices: config.modelPrices,
    });
  const ctx: ServerContext = {
    config,
    log,
    backends,
    secrets,
    options,
    usage,
    refusedKeys: new Set(),
    open: new Set(),
    exposure: {
      corsOrigins: config.corsOrigins,
      allowedHosts: config.allowedHosts,
      checkHost: options.checkHost ?? isLoopback(config.host),
    },
  };
  if (config.routerScript) {
    ctx.router = options.routerScript
      ? Promise.resolve(options.routerScript)
      : loadRouterScript(config.routerScript).catch((error) => {
        log.info(`router script ${config.routerScript} not loaded: ${describe(error)}`);
        return undefined;
      });
  }
  let dashboard: DashboardFeed | undefined;
  const feed = () =>
    dashboard ??= new DashboardFeed({
      usage,
      routes: () => routingTable(config),
      version: VERSION,
    });

  options.shutdown?.addEventListener("abort", () => {
    const reason = new ProxyError("overloaded_error", "ccproxy is shutting down: answer cut off");
    for (const answer of ctx.open) answer.abort(reason);
  }, { once: true });

  return async (request, info) => {
    const url = new URL(request.url);
    // The model catalog loads after the server listens (cold start); everything but `/health`
    // may route, so it waits for the catalog rather than see guessed limits.
    if (!catalogLoaded() && url.pathname !== "/health") await loadCatalog();
    const entry = new RequestLog(ctx, request.method, url.pathname);
    // The GenAI span (with OTEL_DENO=true): the upstream fetch runs inside it, as its child.
    if (url.pathname === "/v1/messages") entry.span = startRequestSpan();
    let response: Response;
    try {
      // The rules against browsers guard every route, the dashboard's too.
      response = checkExposure(request, ctx.exposure) ??
        (url.pathname === "/dashboard" || url.pathname.startsWith("/dashboard/")
          ? await serveDashboard(request, url.pathname, {
            keys: config.clientKeys,
            admins: config.adminKeys,
            feed,
            info,
          })
          : await withSpan(entry.span, () => dispatch(request, url, entry, ctx)));
    } catch (error) {
      response = errorResponse(clientGone(error, request) ?? error, entry, ctx);
    }
    response.headers.set("request-id", entry.requestId);
    allowOrigin(request, response, ctx.exposure);
    if (!entry.deferred) entry.write(response.status);
    return response;
  };
}

/**
 * A request's record, filled in as the request goes, and written once at its end: rendered as
 * the log line, and handed to the usage ledger and the `onRecord` hook.
 */
class RequestLog {
  readonly record: RequestRecord;
  /** The logger for lines that belong to this request (they carry its id). */
  readonly log: Logger;
  /** The ledger's facts the record does not carry; a request is recorded once `endpoint` is set. */
  readonly facts: Partial<UnpricedRecord> & { web_search_requests?: number } = {};
  /** Set by a streaming answer: the record is written when the stream ends. */
  deferred = false;
  /** The request's OpenTelemetry span, when telemetry is on. */
  span?: Span;
  #ctx: ServerContext;
  #started = performance.now();
  #written = false;

  constructor(ctx: ServerContext, method: string, path: string) {
    const requestId = randomId("req_");
    this.#ctx = ctx;
    this.log = ctx.log.forRequest(requestId);
    this.record = {
      requestId,
      time: new Date().toISOString(),
      method,
      path,
      status: 0,
      tries: [],
      latencyMs: 0,
      notes: [],
    };
  }

  get requestId(): string {
    return this.record.requestId;
  }

  get notes(): string[] {
    return this.record.notes;
  }

  /** Notes the first generated content (time to first token). */
  firstContent(): void {
    this.record.ttftMs ??= performance.now() - this.#started;
  }

  /** Records why the request failed (message redacted and trimmed). */
  fail(error: ProxyError | { type: ProxyError["type"]; message: string }): void {
    this.record.error = {
      type: error.type,
      message: trimMessage(redact(error.message, this.#ctx.secrets)),
      ...(error instanceof ProxyError && error.upstreamStatus
        ? { upstreamStatus: error.upstreamStatus }
        : {}),
    };
  }

  /** Writes the record (once). */
  write(status: number, usage?: Usage): void {
    if (this.#written) return;
    this.#written = true;
    this.record.status = status;
    this.record.latencyMs = performance.now() - this.#started;
    if (usage && this.record.api !== "local") this.record.usage = usage;
    this.#ctx.log.request(this.record);
    if (this.facts.endpoint) {
      this.#ctx.usage.end(usageRecord(this.record, this.facts), this.span);
    } else this.span?.end();
    try {
      this.#ctx.options.onRecord?.(this.record);
    } catch (error) {
      // A failing hook never fails an answer.
      this.log.info(`record hook failed: ${describe(error)}`);
    }
  }
}

const tenths = (ms: number) => Math.round(ms * 10) / 10;

/** The ledger's record of a finished request: its record plus the ledger's own facts. */
function usageRecord(
  record: RequestRecord,
  facts: RequestLog["facts"],
): UnpricedRecord {
  // A message answered here used no model; a token count done here still counts for its model.
  const local = record.api === "local" && facts.endpoint === "messages";
  return {
    time: Date.now(),
    requestId: record.requestId,
    endpoint: facts.endpoint!,
    key: facts.key ?? "anonymous",
    session: facts.session ?? "",
    route: record.route ?? facts.route,
    model: record.clientModel ?? "",
    provider: local ? "local" : record.provider ?? "",
    backendModel: local ? "" : record.backendModel ?? "",
    api: record.api,
    stream: record.stream ?? false,
    status: record.status,
    errorType: record.error?.type,
    tries: Math.max(record.tries.length, 1),
    latencyMs: tenths(record.latencyMs),
    ttftMs: record.ttftMs === undefined ? undefined : tenths(record.ttftMs),
    usage: {
      input_tokens: record.usage?.input_tokens ?? 0,
      output_tokens: record.usage?.output_tokens ?? 0,
      cache_read_input_tokens: record.usage?.cache_read_input_tokens ?? 0,
      cache_creation_input_tokens: record.usage?.cache_creation_input_tokens ?? 0,
      // Each search the server tool ran is a line of the cost (priced per search).
      web_search_requests: facts.web_search_requests ??
        record.usage?.server_tool_use?.web_search_requests ?? 0,
    },
  };
}

interface ServerContext {
  config: Config;
  log: Logger;
  backends: Record<string, Backend>;
  secrets: string[];
  options: HandlerOptions;
  usage: UsageTracker;
  /** Key variables whose refusal has been logged loudly already. */
  refusedKeys: Set<string>;
  /** The `ROUTER_SCRIPT`, loaded once. */
  router?: Promise<RouterScript | undefined>;
  /** The rules against browsers (CSRF, DNS rebinding). */
  exposure: ExposureRules;
  /** One controller per answer in progress, aborted at shutdown. */
  open: Set<AbortController>;
}

const ROUTES: Record<string, string[]> = {
  "/": ["GET", "HEAD"],
  "/health": ["GET", "HEAD"],
  "/v1/models": ["GET"],
  "/v1/messages": ["POST"],
  "/v1/messages/count_tokens": ["POST"],
  "/v1/usage": ["GET"],
};

function dispatch(
  request: Request,
  url: URL,
  entry: RequestLog,
  ctx: ServerContext,
): Promise<Response> | Response {
  const path = url.pathname.replace(/\/+$/, "") || "/";
  const method = request.method;
  const model = /^\/v1\/models\/(.+)$/.exec(path);
  const allowed = model ? ["GET"] : ROUTES[path];
  if (!allowed) {
    throw new ProxyError("not_found_error", `not found: ${method} ${url.pathname}`);
  }
  if (!allowed.includes(method)) {
    throw new ProxyError("invalid_request_error", `method not allowed: ${method} ${path}`, {
      status: 405,
      headers: { allow: allowed.join(", ") },
    });
  }
  const key = path.startsWith("/v1/")
    ? authenticate(request.headers, ctx.config.clientKeys)
    : undefined;
  if (path === "/v1/messages" || path === "/v1/messages/count_tokens") {
    entry.facts.endpoint = path === "/v1/messages" ? "messages" : "count_tokens";
    entry.facts.key = key;
    entry.facts.session = request.headers.get("x-claude-code-session-id")?.slice(0, 200) ?? "";
  }
  if (model) return modelInfo(decodeURIComponent(model[1]), ctx.config);
  switch (path) {
    case "/":
      return method === "HEAD" ? new Response(null) : json(serviceInfo(ctx.config));
    case "/health":
      return json({ status: "ok" });
    case "/v1/models":
      return json(modelList(ctx.config));
    case "/v1/messages/count_tokens":
      return handleCountTokens(request, entry, ctx);
    case "/v1/usage":
      return usageAnswer(url, ctx, key!);
  }
  return handleMessages(request, entry, ctx);
}

/** `GET /v1/usage`: the ledger's totals as JSON; a 404 when the ledger is off. */
async function usageAnswer(url: URL, ctx: ServerContext, key: string): Promise<Response> {
  const query = parseQuery(url.searchParams, { retentionDays: ctx.config.usageRetentionDays });
  // A key outside ADMIN_KEYS reads only its own usage.
  query.key = usageScope(ctx.config, key);
  const ledger = await ctx.usage.ledger();
  if (!ledger) throw new ProxyError("not_found_error", "usage: the ledger is off (USAGE_DB)");
  return json(await summarize(ledger, query));
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: JSON_HEADERS });
}

/**
 * A failure caused by the client going away is a 499, not an internal error: a hang-up aborts
 * the request, and a client that half-closes its socket before Deno has read its body loses
 * the body (the runtime closes it as a hang-up).
 */
function clientGone(error: unknown, request: Request): ProxyError | undefined {
  if (error instanceof ProxyError) return undefined;
  const gone = request.signal.aborted || error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.Interrupted || error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.BrokenPipe || error instanceof Deno.errors.UnexpectedEof;
  if (!gone) return undefined;
  return new ProxyError(
    "invalid_request_error",
    "client closed the request: the connection closed before the request was answered " +
      "(keep it open, both ways, until the answer has arrived)",
    { status: 499 },
  );
}

function errorResponse(error: unknown, entry: RequestLog, ctx: ServerContext): Response {
  const proxyError = error instanceof ProxyError
    ? error
    : new ProxyError("api_error", "internal error: the proxy failed to handle this request");
  if (!(error instanceof ProxyError)) {
    entry.log.info(`internal error: ${redact(describe(error), ctx.secrets)}`);
  }
  const variable = proxyError.keyVariable;
  if (variable && !ctx.refusedKeys.has(variable)) {
    // Once per variable: every later request to that provider fails the same way.
    ctx.refusedKeys.add(variable);
    entry.log.info(
      `WARNING: ${
        redact(proxyError.message, ctx.secrets)
      }. Every request to this provider fails until ${variable} holds a valid key.`,
    );
  }
  entry.fail(proxyError);
  const body = proxyError.toBody(entry.requestId);
  (body.error as { message: string }).message = redactMessage(proxyError.message, ctx.secrets);
  return new Response(JSON.stringify(body), {
    status: proxyError.status,
    headers: { ...JSON_HEADERS, ...proxyError.headers },
  });
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** Reads and validates a JSON body; every problem is a 400 naming the field. */
async function readBody<T extends z.ZodType>(
  request: Request,
  schema: T,
  maxBytes: number,
  idleMs: number,
): Promise<z.infer<T>> {
  // A compressed body would otherwise fail as "not valid UTF-8", which does not say why.
  const encoding = request.headers.get("content-encoding")?.trim().toLowerCase();
  if (encoding && encoding !== "identity") {
    await request.body?.cancel();
    throw new ProxyError(
      "invalid_request_error",
      `unsupported Content-Encoding "${encoding.slice(0, 40)}": send the body uncompressed`,
      { status: 415 },
    );
  }
  const text = await readText(request, maxBytes, idleMs);
  if (nestingDepth(text) > MAX_DEPTH) {
    throw new ProxyError(
      "invalid_request_error",
      `invalid request: JSON nested deeper than ${MAX_DEPTH} levels`,
    );
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new ProxyError(
      "invalid_request_error",
      `invalid JSON body: ${error instanceof Error ? error.message : error}`,
    );
  }
  if (!data || typeof data !== "object" || Array.isArray(data)) {
    throw new ProxyError(
      "invalid_request_error",
      "invalid request: the body must be a JSON object",
    );
  }
  const result = schema.safeParse(data);
  if (!result.success) {
    const { path, message } = deepestIssue(result.error.issues[0]);
    throw new ProxyError("invalid_request_error", `${path.join(".") || "body"}: ${message}`);
  }
  return result.data;
}

/** Deeper nesting than any real request needs; recursive code downstream stays safe. */
const MAX_DEPTH = 200;

/**
 * The deepest `[`/`{` nesting of a JSON text, in one pass. Strings (most of a Claude Code request)
 * are skipped with `indexOf` instead of character by character: ~10× faster on a 48 KB request.
 */
function nestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) {
      // To the closing quote: the next one not escaped by an odd run of backslashes.
      let end = i;
      while (true) {
        end = text.indexOf('"', end + 1);
        if (end < 0) return max;
        let slashes = 0;
        while (text.charCodeAt(end - 1 - slashes) === 92) slashes++;
        if (slashes % 2 === 0) break;
      }
      i = end;
    } else if (c === 123 || c === 91) {
      if (++depth > max) max = depth;
    } else if (c === 125 || c === 93) depth--;
  }
  return max;
}

/**
 * The body as UTF-8 text, refusing more than `maxBytes` before reading it all, and a body that
 * stalls (a client that sends its headers and then nothing would hold its connection forever).
 */
async function readText(request: Request, maxBytes: number, idleMs: number): Promise<string> {
  const tooLarge = () =>
    new ProxyError("request_too_large", `request too large: the body exceeds ${maxBytes} bytes`);
  const length = Number(request.headers.get("content-length"));
  if (length > maxBytes) {
    await request.body?.cancel();
    throw tooLarge();
  }
  let bytes: Uint8Array;
  if (request.headers.has("content-length")) {
    // The length is known and within the limit (HTTP framing holds the body to it): one native
    // read instead of a loop over the body's chunks, within `idleMs` and as much again per MiB.
    const ms = idleMs * (1 + Math.ceil(length / 1_048_576));
    bytes = new Uint8Array(await beforeStall(request.arrayBuffer(), ms));
    if (bytes.byteLength > maxBytes) throw tooLarge(); // a constructed Request may say less
  } else bytes = await readChunks(request, maxBytes, idleMs, tooLarge);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new ProxyError("invalid_request_error", "invalid request: the body is not valid UTF-8");
  }
}

/** `read`, or a 408 when it has not settled within `ms`. */
async function beforeStall<T>(read: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(
        new ProxyError(
          "invalid_request_error",
          `request timeout: the body did not arrive within ${ms} ms`,
          { status: 408 },
        ),
      );
    }, ms);
  });
  try {
    return await Promise.race([read, stalled]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A body of unknown length, chunk by chunk, refusing it once it passes `maxBytes` or when no
 * chunk comes for `idleMs`.
 */
async function readChunks(
  request: Request,
  maxBytes: number,
  idleMs: number,
  tooLarge: () => ProxyError,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body?.getReader();
  while (reader) {
    let next: ReadableStreamReadResult<Uint8Array>;
    try {
      next = await beforeStall(reader.read(), idleMs);
    } catch (error) {
      reader.cancel().catch(() => {});
      throw error;
    }
    if (next.done) break;
    size += next.value.byteLength;
    if (size > maxBytes) {
      reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(next.value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

async function handleCountTokens(
  request: Request,
  entry: RequestLog,
  ctx: ServerContext,
): Promise<Response> {
  const body = await readBody(
    request,
    CountTokensRequestSchema,
    ctx.config.maxBodyBytes,
    ctx.config.clientTimeoutMs,
  );
  const [target] = route(body.model, ctx.config);
  Object.assign(entry.record, {
    clientModel: body.model,
    provider: target.provider,
    backendModel: target.model,
  });
  const backend = ctx.backends[target.provider];
  if (backend.count) {
    try {
      const count = await backend.count(body, target, request.signal);
      entry.record.api = target.provider === "google" ? "gemini" : "anthropic";
      return json({ input_tokens: count });
    } catch (error) {
      // The provider could not count: a local count is a better answer than an error.
      entry.notes.push(
        `remote-count-failed=${error instanceof ProxyError ? error.status : "error"}`,
      );
    }
  }
  entry.record.api = "local";
  return json({ input_tokens: await countTokens(body, target.model) });
}

async function handleMessages(
  request: Request,
  entry: RequestLog,
  ctx: ServerContext,
): Promise<Response> {
  const body = await readBody(
    request,
    MessagesRequestSchema,
    ctx.config.maxBodyBytes,
    ctx.config.clientTimeoutMs,
  );
  entry.facts.model = body.model;
  await checkBudget(ctx.usage, entry.facts.key!, ctx.config);
  // A prompt too long for every window fails here: the record still names the model.
  entry.record.clientModel = body.model;
  const decision = await decideRoute(body, ctx.config, {
    headers: request.headers,
    script: await ctx.router,
    // The request's logger puts its id on the line (a field in JSON), as on every request line.
    log: entry.log,
  });
  const { targets } = decision;
  entry.facts.route = decision.route;
  await reserveBudget(ctx.usage, entry.facts.key!, ctx.config, {
    requestId: entry.requestId,
    targets,
    inputTokens: () => decision.estimate,
    maxTokens: body.max_tokens,
  });
  const [first] = targets;
  const stream = body.stream === true;
  Object.assign(entry.record, {
    clientModel: body.model,
    provider: first.provider,
    backendModel: first.model,
    route: decision.route,
    stream,
    messages: body.messages.length,
    tools: body.tools?.length ?? 0,
  });
  ctx.usage.start({
    requestId: entry.requestId,
    started: Date.now(),
    key: entry.facts.key ?? "anonymous",
    model: body.model,
    target: `${first.provider}/${first.model}`,
  });
  // Aborted by the client's hang-up, or at shutdown; the upstream call follows it.
  const open = new AbortController();
  const hangUp = () => open.abort(request.signal.reason);
  if (request.signal.aborted) hangUp();
  else request.signal.addEventListener("abort", hangUp, { once: true });
  ctx.open.add(open);
  const close = () => {
    ctx.open.delete(open);
    request.signal.removeEventListener("abort", hangUp);
  };
  let answered;
  try {
    answered = await openAnswer(body, targets, request, ctx, entry, {
      signal: open.signal,
      inputEstimate: decision.estimate,
    });
  } catch (error) {
    close();
    throw error;
  }
  const { answer, relay } = answered;
  if (!stream) {
    try {
      const message = await relayMessage(answer, relay, open.signal);
      entry.write(200, message.usage);
      return json(message);
    } finally {
      close();
    }
  }
  const done = relay.done;
  relay.done = (how) => {
    close();
    done?.(how);
  };
  entry.deferred = true;
  const pings = { idleMs: ctx.options.pingIdleMs, scheduler: ctx.options.scheduler };
  return new Response(relayStream(answer, relay, pings), { headers: SSE_HEADERS });
}

/**
 * Opens the upstream call, retrying and falling back per the routing rules, and returns its
 * answer with the relay's options: limits, redaction, and the facts the request's record needs.
 */
async function openAnswer(
  body: MessagesRequest,
  targets: Target[],
  request: Request,
  ctx: ServerContext,
  entry: RequestLog,
  { signal, inputEstimate }: { signal: AbortSignal; inputEstimate: number },
): Promise<{ answer: Answer; relay: RelayOptions }> {
  const notes = entry.notes;
  const messageId = randomId("msg_");
  const record = entry.record;
  let served: Target = targets[0];
  let startedAt = performance.now();
  const context: OpenContext = {
    messageId,
    inputEstimate,
    signal,
    headers: request.headers,
    log: entry.log,
    notes,
  };
  try {
    // `max_tokens: 0` pre-warms a prompt cache at Anthropic; server tools (Claude Code's
    // WebSearch sub-request) that no target can run: both are answered here.
    if (body.max_tokens !== 0) targets = searchTargets(body, targets, ctx, notes);
    const local = body.max_tokens === 0
      ? { stop: "max_tokens" as const }
      : !targets.length
      ? { text: NO_WEB_SEARCH, stop: "end_turn" as const }
      : undefined;
    if (local) record.api = "local";
    const answer = local
      ? localAnswer(body.model, messageId, inputEstimate, local)
      : await withFallback(targets, (target) => {
        served = target;
        startedAt = performance.now();
        context.api = undefined;
        context.toolCount = undefined;
        return ctx.backends[target.provider].open(body, target, context);
      }, {
        maxRetries: ctx.config.maxRetries,
        maxDelayMs: ctx.config.maxRetryDelayMs,
        sleep: ctx.options.sleep,
        random: ctx.options.random,
        signal,
      }, record.tries);
    let usage: Usage | undefined;
    let started: Usage | undefined;
    // Seen by the relay in its one pass: the record's facts, and failures for the log.
    const relay: RelayOptions = {
      idleMs: ctx.config.timeouts.idleMs,
      totalMs: ctx.config.timeouts.totalMs,
      startedAt,
      secrets: ctx.secrets,
      onFailure: (error) => {
        if (!(error instanceof ProxyError)) {
          entry.log.info(`stream failed: ${redact(describe(error), ctx.secrets)}`);
        }
      },
      observe: (event) => {
        if (event.type === "content_block_delta") entry.firstContent();
        // message_start's counts stand where message_delta has none (Anthropic's own shape);
        // a stream that fails before message_delta records no usage.
        else if (event.type === "message_start") started = event.message.usage;
        else if (event.type === "message_delta") usage = foldUsage(started, event.usage);
        else if (event.type === "error") entry.fail(event.error);
      },
      done: (how) => {
        // A streaming answer's log line is written when the stream ends.
        if (!entry.deferred) return;
        if (how === "cancel") entry.notes.push("client-cancelled");
        entry.write(how === "cancel" ? 499 : 200, usage);
      },
    };
    return { answer, relay };
  } finally {
    if (record.api !== "local") {
      record.provider = served.provider;
      record.backendModel = served.model;
      record.api = context.api;
      if (context.toolCount && (context.toolCount.sent || context.toolCount.held)) {
        record.toolsSent = context.toolCount.sent;
        record.toolsHeld = context.toolCount.held;
      }
    }
  }
}

/** An answer made here, without an upstream call, through the same event state machine. */
function localAnswer(
  model: string,
  id: string,
  inputTokens: number,
  answer: { text?: string; stop: StopReason },
): Answer {
  return {
    body: null,
    provider: "ccproxy",
    translate: (emit) => {
      const out = new EventWriter(emit, { id, model, inputTokens, signThinking: () => "" });
      out.start();
      if (answer.text) out.text(answer.text);
      out.stop(answer.stop, estimatedUsage(inputTokens, answer.text?.length ?? 0));
      return { message() {}, end() {} };
    },
  };
}

const NO_WEB_SEARCH = "Web search is not available through this proxy: the backend model has no " +
  "search tool, so no results were retrieved. Answer from what is already known, or say that " +
  "current information could not be looked up.";

/** A request whose only tools are server tools (web search, …). */
function onlyServerTools(request: MessagesRequest): boolean {
  const tools = request.tools ?? [];
  return tools.length > 0 && tools.every((tool) => tool.type && tool.type !== "custom");
}

/**
 * The targets that can serve a request with server tools, noting why search is off where it
 * is: a request whose only tools are server tools keeps the targets that can search (none: it
 * is answered here); in a request that also has client tools the server tool is dropped on a
 * target that cannot search.
 */
function searchTargets(
  body: MessagesRequest,
  targets: Target[],
  ctx: ServerContext,
  notes: string[],
): Target[] {
  const only = onlyServerTools(body);
  if (!only && !webSearchOf(body.tools)) return targets;
  const why = (t: Target) =>
    webSearchOf(body.tools)
      ? ctx.backends[t.provider].canSearch?.(t) ?? "the backend has no search tool"
      : "of the server tools only web search is emulated";
  const searching = targets.filter((t) => why(t) === true);
  const reason = targets.map((t) => why(t)).find((r) => r !== true);
  if (!only) {
    if (why(targets[0]) !== true) notes.push(`web-search=dropped (${reason})`);
    return targets;
  }
  if (!searching.length) notes.push(`web-search=unavailable (${reason})`);
  else notes.push(`web-search=${searching[0].provider}`);
  return searching;
}

/** The routing table the dashboard shows: each advertised name and its targets in order. */
function routingTable(config: Config): RouteRow[] {
  return ADVERTISED_MODELS.map((m) => ({
    model: m.id,
    target: route(m.id, config).map((t) => `${t.provider}/${t.model}`).join(", "),
  }));
}

function mappedModels(config: Config) {
  return ADVERTISED_MODELS.map((m) => mapped(m, config));
}

function mapped(m: { id: string; display_name: string }, config: Config) {
  const [target] = route(m.id, config);
  return { ...m, target: `${target.provider}/${target.model}`, limits: limitsOf(target, config) };
}

function serviceInfo(config: Config) {
  return {
    name: "ccproxy",
    version: VERSION,
    preferred_provider: config.preferredProvider,
    fallback_providers: config.fallbackProviders,
    models: {
      big: config.bigModel,
      middle: config.middleModel ?? config.bigModel,
      small: config.smallModel,
    },
    routes: Object.fromEntries(mappedModels(config).map((m) => [m.id, m.target])),
  };
}

const CREATED_AT = "2025-01-01T00:00:00Z";

function modelEntry(m: ReturnType<typeof mappedModels>[number]) {
  const window = m.limits ? `, ${m.limits.context.toLocaleString("en-US")} tokens` : "";
  return {
    type: "model",
    id: m.id,
    display_name: `${m.display_name} (${m.target}${window})`,
    created_at: CREATED_AT,
    // ccproxy's own fields: where the name goes and that model's limits.
    target: m.target,
    ...(m.limits
      ? {
        context_window: m.limits.context,
        max_output_tokens: m.limits.maxOutput,
        limits_source: m.limits.source,
      }
      : {}),
  };
}

function modelList(config: Config) {
  const data = mappedModels(config).map(modelEntry);
  return { data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null };
}

function modelInfo(id: string, config: Config): Response {
  // Any claude-* name is served (sized to BIG/MIDDLE/SMALL_MODEL), so it is a model here too:
  // clients look up the name they were given (`claude-3-5-sonnet-20241022`) before using it.
  const known = mappedModels(config).find((m) => m.id === id) ??
    (/^claude/i.test(id.trim()) ? mapped({ id, display_name: id }, config) : undefined);
  if (!known) throw new ProxyError("not_found_error", `model: ${id} is not listed by this proxy`);
  return json(modelEntry(known));
}
