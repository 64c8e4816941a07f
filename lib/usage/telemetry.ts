/**
 * OpenTelemetry: with `OTEL_DENO=true` Deno exports its own HTTP server and fetch spans over
 * OTLP; this adds one span per `/v1/messages` request carrying the GenAI semantic conventions
 * (`gen_ai.operation.name`, `gen_ai.provider.name`, `gen_ai.request.model`,
 * `gen_ai.response.model`, `gen_ai.usage.*`, `error.type`) through `npm:@opentelemetry/api`. It
 * is a child of Deno's server span, and the upstream fetch is its child. The GenAI metrics
 * `gen_ai.client.token.usage` and `gen_ai.client.operation.duration` go beside them, with
 * `ccproxy.cost` (USD). Without `OTEL_DENO` nothing is created.
 *
 * @module
 */
import type { Attributes, Counter, Histogram, Span } from "@opentelemetry/api";
import { VERSION } from "../version.ts";
import type { UsageRecord } from "./record.ts";

/** Whether Deno exports telemetry (`OTEL_DENO=true`). */
export function telemetryEnabled(): boolean {
  try {
    return /^(true|1)$/i.test(Deno.env.get("OTEL_DENO") ?? "");
  } catch {
    return false;
  }
}

const enabled = telemetryEnabled();
// Loaded only when telemetry is on: it costs ~6 ms of every cold start otherwise.
const otel = enabled ? await import("@opentelemetry/api") : undefined;

/** The semantic conventions' provider names. */
const PROVIDER_NAME: Record<string, string> = {
  openai: "openai",
  azure: "azure.ai.openai",
  google: "gcp.gemini",
  anthropic: "anthropic",
};

/** Starts the GenAI span of a `/v1/messages` request (undefined when telemetry is off). */
export function startRequestSpan(): Span | undefined {
  if (!otel) return undefined;
  return otel.trace.getTracer("ccproxy", VERSION).startSpan("chat", {
    kind: otel.SpanKind.INTERNAL,
    attributes: { "gen_ai.operation.name": "chat" },
  });
}

/** Runs `fn` with `span` active, so the upstream fetch becomes its child. */
export function withSpan<T>(span: Span | undefined, fn: () => T): T {
  if (!span || !otel) return fn();
  return otel.context.with(otel.trace.setSpan(otel.context.active(), span), fn);
}

/** Puts a finished request's facts on its span and ends it at the request's end. */
export function endRequestSpan(span: Span | undefined, record: UsageRecord): void {
  if (!span || !otel) return;
  const attributes: Record<string, string | number | boolean> = {
    "gen_ai.provider.name": PROVIDER_NAME[record.provider] ?? record.provider,
    "gen_ai.request.model": record.backendModel,
    "gen_ai.response.model": record.backendModel,
    "gen_ai.usage.input_tokens": record.usage.input_tokens +
      record.usage.cache_read_input_tokens + record.usage.cache_creation_input_tokens,
    "gen_ai.usage.output_tokens": record.usage.output_tokens,
    "ccproxy.client_model": record.model,
    "ccproxy.key": record.key,
    "ccproxy.stream": record.stream,
    "ccproxy.tries": record.tries,
    "http.response.status_code": record.status,
  };
  if (record.session) attributes["gen_ai.conversation.id"] = record.session;
  if (record.api) attributes["ccproxy.api"] = record.api;
  if (record.costUsd !== null) attributes["ccproxy.cost_usd"] = record.costUsd;
  if (record.ttftMs !== undefined) attributes["ccproxy.ttft_ms"] = record.ttftMs;
  span.setAttributes(attributes);
  if (record.backendModel) span.updateName(`chat ${record.backendModel}`);
  if (record.errorType) {
    span.setAttribute("error.type", record.errorType);
    span.setStatus({ code: otel.SpanStatusCode.ERROR, message: record.errorType });
  }
  span.end(record.time);
  recordMetrics(otel, record, attributes);
}

let instruments: { tokens: Histogram; duration: Histogram; cost: Counter } | undefined;

/** The GenAI client metrics of one finished request. */
function recordMetrics(
  api: NonNullable<typeof otel>,
  record: UsageRecord,
  all: Record<string, string | number | boolean>,
): void {
  const meter = api.metrics.getMeter("ccproxy", VERSION);
  instruments ??= {
    tokens: meter.createHistogram("gen_ai.client.token.usage", {
      unit: "{token}",
      description: "Tokens used per request",
    }),
    duration: meter.createHistogram("gen_ai.client.operation.duration", {
      unit: "s",
      description: "Request duration",
    }),
    cost: meter.createCounter("ccproxy.cost", {
      unit: "USD",
      description: "What the requests cost, by the price catalog",
    }),
  };
  const attributes: Attributes = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": all["gen_ai.provider.name"],
    "gen_ai.request.model": record.backendModel,
    "gen_ai.response.model": record.backendModel,
    "ccproxy.key": record.key,
  };
  if (record.errorType) attributes["error.type"] = record.errorType;
  instruments.duration.record(record.latencyMs / 1000, attributes);
  if (!record.errorType) {
    const input = all["gen_ai.usage.input_tokens"] as number;
    instruments.tokens.record(input, { ...attributes, "gen_ai.token.type": "input" });
    instruments.tokens.record(record.usage.output_tokens, {
      ...attributes,
      "gen_ai.token.type": "output",
    });
  }
  if (record.costUsd) instruments.cost.add(record.costUsd, attributes);
}
