/**
 * OpenTelemetry end to end: ccproxy runs with `OTEL_DENO=true` and exports OTLP/HTTP JSON to a
 * small receiver on loopback; each `/v1/messages` request has a GenAI span under Deno's server
 * span, and the upstream fetch is the GenAI span's child.
 */
import assert from "node:assert/strict";
import { createFakeUpstream, DIALECTS, serveFake } from "../bench/fake_upstream.ts";
import { startMain } from "./helpers.ts";

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Array<{ key: string; value: Record<string, unknown> }>;
  status?: { code?: number };
}

function attributes(span: OtlpSpan): Record<string, unknown> {
  return Object.fromEntries(
    span.attributes.map((a) => {
      const [kind, value] = Object.entries(a.value)[0];
      return [a.key, kind === "intValue" ? Number(value) : value];
    }),
  );
}

interface OtlpMetric {
  name: string;
  unit?: string;
  histogram?: { dataPoints: Array<{ attributes: OtlpSpan["attributes"]; sum: number }> };
  sum?: { dataPoints: Array<{ attributes: OtlpSpan["attributes"]; asDouble?: number }> };
}

/** An OTLP/HTTP JSON receiver on loopback; `arrived` resolves once `enough` says so. */
function otlpReceiver(enough: (spans: OtlpSpan[], metrics: Map<string, OtlpMetric>) => boolean) {
  const spans: OtlpSpan[] = [];
  const metrics = new Map<string, OtlpMetric>();
  let done!: () => void;
  const arrived = new Promise<void>((resolve) => done = resolve);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const body = await request.json().catch(() => ({}));
    const path = new URL(request.url).pathname;
    if (path === "/v1/traces") {
      for (const resource of body.resourceSpans ?? []) {
        for (const scope of resource.scopeSpans ?? []) spans.push(...scope.spans);
      }
    } else if (path === "/v1/metrics") {
      // Cumulative metrics: the latest export has every request so far.
      for (const resource of body.resourceMetrics ?? []) {
        for (const scope of resource.scopeMetrics ?? []) {
          for (const metric of scope.metrics ?? []) metrics.set(metric.name, metric);
        }
      }
    }
    if (enough(spans, metrics)) done();
    return Response.json({});
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    spans,
    metrics,
    arrived,
    close: () => server.shutdown(),
  };
}

Deno.test("each request's GenAI span carries the semantic conventions; the upstream fetch is its child", async () => {
  const chatSpans = (spans: OtlpSpan[]) => spans.filter((s) => s.name.startsWith("chat"));
  const receiver = otlpReceiver((spans, metrics) =>
    chatSpans(spans).length >= 2 &&
    (metrics.get("gen_ai.client.operation.duration")?.histogram?.dataPoints.length ?? 0) >= 2
  );
  const fake = serveFake(
    createFakeUpstream((r) =>
      r.body.model === "gpt-broken"
        ? DIALECTS.openai.error(500, "upstream broke")
        : DIALECTS.openai.text(["hel", "lo"], { prompt: 1000, completion: 20 })
    ),
  );
  const proxy = await startMain({
    OPENAI_API_KEY: "sk-otel",
    OPENAI_BASE_URL: `${fake.url}/v1`,
    OPENAI_API_MODE: "chat",
    USAGE_DB: "off",
    OTEL_DENO: "true",
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_SERVICE_NAME: "ccproxy-test",
    OTEL_BSP_SCHEDULE_DELAY: "100",
    OTEL_METRIC_EXPORT_INTERVAL: "100",
  }, ["--allow-net=127.0.0.1", "--allow-env", "--allow-read"]);
  try {
    const ask = (model: string) =>
      fetch(`${proxy.url}/v1/messages`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-claude-code-session-id": "sess-otel" },
        body: JSON.stringify({
          model,
          max_tokens: 50,
          stream: true,
          messages: [{ role: "user", content: "hi" }],
        }),
      }).then((r) => r.text());
    await ask("claude-opus-5-5");
    await ask("openai/gpt-broken");
    // Deno exports in batches: the test waits for the spans to arrive, not for a set time.
    await Promise.race([
      receiver.arrived,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error("no GenAI spans within 20 s")), 20_000)
      ),
    ]);
  } finally {
    await proxy.stop();
    await fake.close();
    await receiver.close();
  }
  const spans = receiver.spans;
  const [ok, failed] = chatSpans(spans);
  assert.equal(ok.name, "chat gpt-4.1");
  const a = attributes(ok);
  assert.equal(a["gen_ai.operation.name"], "chat");
  assert.equal(a["gen_ai.provider.name"], "openai");
  assert.equal(a["gen_ai.request.model"], "gpt-4.1");
  assert.equal(a["gen_ai.response.model"], "gpt-4.1");
  assert.equal(a["gen_ai.usage.input_tokens"], 1000);
  assert.equal(a["gen_ai.usage.output_tokens"], 20);
  assert.equal(a["gen_ai.conversation.id"], "sess-otel");
  assert.equal(a["ccproxy.client_model"], "claude-opus-5-5");
  assert.equal(a["ccproxy.cost_usd"], (1000 * 2 + 20 * 8) / 1e6);
  assert.equal(a["error.type"], undefined);

  const server = spans.find((s) => s.spanId === ok.parentSpanId);
  assert.ok(server, "the GenAI span has Deno's server span as its parent");
  assert.equal(server.kind, 2, "SERVER");
  const upstream = spans.find((s) => s.parentSpanId === ok.spanId);
  assert.ok(upstream, "the upstream fetch is the GenAI span's child");
  assert.equal(upstream.kind, 3, "CLIENT");
  assert.match(String(attributes(upstream)["url.full"]), /\/v1\/chat\/completions$/);

  assert.equal(failed.name, "chat gpt-broken");
  assert.equal(attributes(failed)["error.type"], "api_error");
  assert.equal(failed.status?.code, 2, "ERROR");

  const tokens = receiver.metrics.get("gen_ai.client.token.usage")!;
  assert.equal(tokens.unit, "{token}");
  const point = (type: string) =>
    tokens.histogram!.dataPoints.find((p) =>
      p.attributes.some((a) => a.key === "gen_ai.token.type" && a.value.stringValue === type)
    )!;
  assert.deepEqual([point("input").sum, point("output").sum], [1000, 20]);
  const cost = receiver.metrics.get("ccproxy.cost")!;
  assert.equal(cost.sum!.dataPoints[0].asDouble, (1000 * 2 + 20 * 8) / 1e6);
});
