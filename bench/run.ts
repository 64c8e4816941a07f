/**
 * The benchmark: what a user of the proxy feels, measured side by side with calling the fake
 * upstream directly in the same run (interleaved rounds), because only differences measured
 * together mean anything on a noisy 2-core machine.
 *
 * Three processes: the fake upstream (`fake_server.ts`), the proxy (`main.ts`), and this one, which
 * makes the load. Loopback only; every loop is bounded.
 *
 * `deno task bench [--quick] [--peers]` prints a Markdown table (each figure beside its target)
 * and writes `bench/results/<date>.json`. See bench/README.md.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { MessagesRequestSchema } from "../lib/anthropic/schema.ts";
import { chatTranslator, toChatRequest } from "../lib/providers/openai_chat.ts";
import { relayStream } from "../lib/upstream/relay.ts";
import { loadCatalog } from "../lib/routing/catalog.ts";
import { now } from "./fake_server.ts";
import { runPeer } from "./peers.ts";
import { claudeCodeTurn, realisticTurn, TURN_MODEL, type TurnFigures, turnRoutes } from "./turn.ts";
import { cpuUsage } from "node:process";
import { Ledger } from "../lib/usage/ledger.ts";
import { noUsage } from "../lib/usage/record.ts";
import { type UnpricedRecord, UsageTracker } from "../lib/usage/tracker.ts";

const args = parseArgs({
  args: Deno.args,
  options: { quick: { type: "boolean" }, peers: { type: "boolean" } },
  // soak.ts imports this module with arguments of its own
  strict: false,
  allowPositionals: true,
}).values;
const QUICK = args.quick === true;
const scale = (full: number, quick: number) => (QUICK ? quick : full);

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

/** Reads a child's output until `pattern` matches, then keeps draining it in the background. */
export async function readUntil(
  stream: ReadableStream<Uint8Array>,
  pattern: RegExp,
): Promise<RegExpExecArray> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (true) {
    const match = pattern.exec(text);
    if (match) {
      (async () => {
        while (!(await reader.read()).done) { /* drain */ }
      })();
      return match;
    }
    const next = await reader.read();
    if (next.done) throw new Error(`process ended before printing ${pattern}: ${text}`);
    text += next.value;
  }
}

async function startFake(
  script = "./fake_server.ts",
  extra: string[] = [],
): Promise<{ url: string; process: Deno.ChildProcess }> {
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net=127.0.0.1", new URL(script, import.meta.url).pathname, ...extra],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const port = (await readUntil(process.stdout, /listening (\d+)/))[1];
  return { url: `http://127.0.0.1:${port}`, process };
}

/** Starts the proxy process; resolves when it printed its banner. */
export async function startProxy(
  env: Record<string, string>,
  permissions: string[] = ["--allow-read=.env"],
): Promise<{ url: string; process: Deno.ChildProcess; startedMs: number }> {
  const started = performance.now();
  const process = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-env",
      ...permissions,
      new URL("../main.ts", import.meta.url).pathname,
      "--port",
      "0",
    ],
    env: { NO_COLOR: "1", MAX_RETRIES: "0", ...env },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const port = (await readUntil(process.stderr, /listening on http:\/\/[\d.]+:(\d+)/))[1];
  return { url: `http://127.0.0.1:${port}`, process, startedMs: started };
}

function rssMb(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Math.round(Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024);
}

// ---------------------------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------------------------

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  return sorted[lo] + (sorted[Math.ceil(at)] - sorted[lo]) * (at - lo);
}
const median = (values: number[]) => quantile(values, 0.5);
const iqr = (values: number[]) => quantile(values, 0.75) - quantile(values, 0.25);

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/** A way of asking: through a proxy (Anthropic API) or straight at the fake (Chat API). */
export interface Route {
  name: string;
  url: string;
  /** The request for a given fake shape. */
  init: (model: string, stream: boolean) => RequestInit;
  path: string;
  /** The serving process, when its CPU time is to be measured. */
  pid?: number;
}

export function proxyRoute(url: string, name = "ccproxy"): Route {
  return {
    name,
    url,
    path: "/v1/messages",
    init: (model, stream) => ({
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-api-key": "bench",
        "anthropic-version": "2023-06-01",
      },
      body: JSON.stringify({
        model,
        max_tokens: 64,
        stream,
        messages: [{ role: "user", content: "hi" }],
      }),
    }),
  };
}

function directRoute(url: string): Route {
  return {
    name: "direct",
    url,
    path: "/v1/chat/completions",
    init: (model) => ({
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer bench" },
      body: JSON.stringify({
        model,
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: "user", content: "hi" }],
      }),
    }),
  };
}

async function timeRequest(route: Route, model: string, stream: boolean): Promise<number> {
  const started = performance.now();
  const response = await fetch(route.url + route.path, route.init(model, stream));
  await response.arrayBuffer();
  if (response.status !== 200) throw new Error(`${route.name}: status ${response.status}`);
  return performance.now() - started;
}

// ---------------------------------------------------------------------------------------------
// 1. Added latency at c=1
// ---------------------------------------------------------------------------------------------

export async function addedLatency(proxy: Route, direct: Route) {
  const rounds = scale(15, 4);
  const perRound = scale(60, 20);
  const model = "fake-c3-i0-b8";
  for (let i = 0; i < 50; i++) {
    await Promise.all([timeRequest(proxy, model, false), timeRequest(direct, model, false)]);
  }
  const roundDiffs: number[] = [];
  const all = { proxy: [] as number[], direct: [] as number[] };
  for (let round = 0; round < rounds; round++) {
    const p: number[] = [];
    const d: number[] = [];
    for (let i = 0; i < perRound; i++) {
      // Alternate which goes first, so drift hits both equally.
      if (i % 2) {
        p.push(await timeRequest(proxy, model, false));
        d.push(await timeRequest(direct, model, false));
      } else {
        d.push(await timeRequest(direct, model, false));
        p.push(await timeRequest(proxy, model, false));
      }
    }
    roundDiffs.push(median(p) - median(d));
    all.proxy.push(...p);
    all.direct.push(...d);
  }
  return {
    p50AddedMs: median(roundDiffs),
    iqrMs: iqr(roundDiffs),
    p99AddedMs: quantile(all.proxy, 0.99) - quantile(all.direct, 0.99),
    directP50Ms: median(all.direct),
    proxyP50Ms: median(all.proxy),
  };
}

// ---------------------------------------------------------------------------------------------
// 2. Throughput
// ---------------------------------------------------------------------------------------------

async function throughputOnce(route: Route, concurrency: number, total: number): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next++ < total) await timeRequest(route, "fake-c3-i0-b8", false);
  }));
  return total / ((performance.now() - started) / 1000);
}

export async function throughput(routes: Route[], concurrency: number) {
  const total = scale(3000, 600);
  const results: Record<string, number[]> = {};
  for (let round = 0; round < 3; round++) {
    for (const route of round % 2 ? [...routes].reverse() : routes) {
      const cpu = route.pid ? cpuMs(route.pid) : 0;
      (results[route.name] ??= []).push(await throughputOnce(route, concurrency, total));
      if (route.pid) cpuSpent[route.name] = (cpuSpent[route.name] ?? 0) + cpuMs(route.pid) - cpu;
      if (route.pid) cpuRequests[route.name] = (cpuRequests[route.name] ?? 0) + total;
    }
  }
  return Object.fromEntries(
    Object.entries(results).map(([name, rps]) => [name, Math.round(median(rps))]),
  );
}

const cpuSpent: Record<string, number> = {};
const cpuRequests: Record<string, number> = {};

/** A process's CPU time (user + system, all threads) in ms, from /proc. */
function cpuMs(pid: number): number {
  const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
  // utime and stime are fields 14 and 15 of the line, in clock ticks (100 per second).
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** CPU µs per request of each measured process over every throughput run. */
export function cpuPerRequest(): Record<string, number> {
  return Object.fromEntries(
    Object.entries(cpuSpent).map(([name, ms]) => [name, (ms * 1000) / cpuRequests[name]]),
  );
}

// ---------------------------------------------------------------------------------------------
// 3. Streaming: TTFB, per-chunk latency, fidelity
// ---------------------------------------------------------------------------------------------

interface StreamSample {
  ttfbMs: number;
  latencies: number[];
  chunks: number;
  coalesced: number;
}

const STAMP = /(\d{13}\.\d{3})\|/g;

async function streamOnce(route: Route, model: string): Promise<StreamSample> {
  const started = performance.now();
  const response = await fetch(route.url + route.path, route.init(model, true));
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let ttfb = -1;
  const latencies: number[] = [];
  let chunks = 0;
  let coalesced = 0;
  let carry = "";
  while (true) {
    const next = await reader.read();
    if (next.done) break;
    const arrived = now();
    if (ttfb < 0) ttfb = performance.now() - started;
    const text = carry + decoder.decode(next.value, { stream: true });
    const cut = text.lastIndexOf("\n\n");
    carry = cut >= 0 ? text.slice(cut + 2) : text;
    const complete = cut >= 0 ? text.slice(0, cut) : "";
    const stamps = [...complete.matchAll(STAMP)].map((m) => Number(m[1]));
    for (const stamp of stamps) latencies.push(arrived - stamp);
    chunks += stamps.length;
    if (stamps.length > 1) coalesced += stamps.length - 1;
  }
  return { ttfbMs: ttfb, latencies, chunks, coalesced };
}

export async function streaming(proxy: Route, direct: Route) {
  const model = "fake-c50-i5-b16";
  const runs = scale(12, 4);
  const samples: Record<string, StreamSample[]> = { proxy: [], direct: [] };
  for (let i = 0; i < runs; i++) {
    samples.direct.push(await streamOnce(direct, model));
    samples.proxy.push(await streamOnce(proxy, model));
  }
  const flat = (name: string) => samples[name].flatMap((s) => s.latencies);
  const ttfb = (name: string) => samples[name].map((s) => s.ttfbMs);
  return {
    ttfbOverheadMs: median(ttfb("proxy")) - median(ttfb("direct")),
    perChunkAddedP50Ms: median(flat("proxy")) - median(flat("direct")),
    perChunkAddedP99Ms: quantile(flat("proxy"), 0.99) - quantile(flat("direct"), 0.99),
    chunksSent: runs * 50,
    chunksReceived: samples.proxy.reduce((n, s) => n + s.chunks, 0),
    coalesced: samples.proxy.reduce((n, s) => n + s.coalesced, 0),
    coalescedDirect: samples.direct.reduce((n, s) => n + s.coalesced, 0),
  };
}

// ---------------------------------------------------------------------------------------------
// 4. Memory with open streams
// ---------------------------------------------------------------------------------------------

async function openStreams(route: Route, count: number): Promise<() => Promise<void>> {
  const readers = await Promise.all(Array.from({ length: count }, async () => {
    const response = await fetch(route.url + route.path, route.init("fake-c600-i1000-b8", true));
    const reader = response.body!.getReader();
    await reader.read();
    return reader;
  }));
  return async () => {
    await Promise.all(readers.map((r) => r.cancel().catch(() => {})));
  };
}

export async function memory(proxy: Route, pid: number) {
  const idle = rssMb(pid);
  const result: Record<string, number> = { idleMb: idle };
  for (const count of [100, 1000]) {
    const close = await openStreams(proxy, count);
    result[`streams${count}Mb`] = rssMb(pid);
    await close();
    await new Promise((r) => setTimeout(r, 300));
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// 5. Cold start
// ---------------------------------------------------------------------------------------------

export async function coldStart(fakeUrl: string) {
  const times: number[] = [];
  for (let i = 0; i < scale(7, 3); i++) {
    const { url, process, startedMs } = await startProxy({
      OPENAI_API_KEY: "sk-bench",
      OPENAI_BASE_URL: `${fakeUrl}/v1`,
    });
    const port = new URL(url).port;
    for (let tries = 0; tries < 5000; tries++) {
      const response = await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined);
      await response?.body?.cancel();
      if (response?.status === 200) break;
    }
    times.push(performance.now() - startedMs);
    try {
      process.kill();
    } catch { /* already gone */ }
    await process.status;
  }
  return { medianMs: median(times), minMs: Math.min(...times) };
}

// ---------------------------------------------------------------------------------------------
// 6. Translation cost of a 1 MB Claude Code-shaped request
// ---------------------------------------------------------------------------------------------

export async function translation() {
  const body = claudeCodeTurn(1_000_000);
  const text = JSON.stringify(body);
  const iterations = scale(40, 10);
  const request: number[] = [];
  for (let i = 0; i < iterations + 5; i++) {
    const started = performance.now();
    const parsed = MessagesRequestSchema.parse(JSON.parse(text));
    JSON.stringify(toChatRequest(parsed, "gpt-4.1").body);
    if (i >= 5) request.push((performance.now() - started) * 1000);
  }
  // Response direction: a 1,000-chunk answer (text and a tool call) through translation + SSE.
  const chunks = [
    ...Array.from(
      { length: 900 },
      (_, i) =>
        `data: {"choices":[{"index":0,"delta":{"content":"token${i} "},"finish_reason":null}]}\n\n`,
    ),
    ...Array.from(
      { length: 100 },
      (_, i) =>
        `data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,${
          i ? "" : '"id":"call_1","type":"function",'
        }"function":{${i ? "" : '"name":"Write",'}"arguments":"${
          i ? "xx" : '{\\"a\\":\\"'
        }"}}]},"finish_reason":null}]}\n\n`,
    ),
    'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\\"}"}}]},"finish_reason":"tool_calls"}]}\n\ndata: [DONE]\n\n',
  ];
  const encoder = new TextEncoder();
  const bytes = chunks.map((chunk) => encoder.encode(chunk));
  const response: number[] = [];
  for (let i = 0; i < iterations + 5; i++) {
    const started = performance.now();
    // The proxy's own path: the relay, one pass per upstream chunk.
    const out = relayStream({
      body: ReadableStream.from(bytes),
      provider: "openai",
      translate: (emit) =>
        chatTranslator({
          id: "msg_bench",
          model: "claude-opus-5-5",
          inputTokens: 1,
          toolNames: new Map(),
          upstreamModel: "gpt-4.1",
          provider: "openai",
          signThinking: () => "sig",
        }, emit),
    }, { idleMs: 60_000, totalMs: 600_000, startedAt: performance.now(), secrets: ["sk-bench"] });
    for await (const _ of out) { /* consume */ }
    if (i >= 5) response.push((performance.now() - started) * 1000);
  }
  return {
    requestBytes: text.length,
    requestUs: Math.round(median(request)),
    responseChunks: chunks.length,
    responseUs: Math.round(median(response)),
    responseUsPerChunk: Number((median(response) / chunks.length).toFixed(2)),
  };
}

// ---------------------------------------------------------------------------------------------
// 7. The usage ledger's own cost
// ---------------------------------------------------------------------------------------------

/**
 * CPU µs per request of recording usage, in this process: pricing alone (done with the ledger
 * off too), and pricing plus the KV write. Requests end 50 at a time, as under load. Measured
 * here because two proxy processes on a loaded 2-core machine differ by more than 5% even when
 * they are identical.
 */
export async function ledgerCost(): Promise<{ pricingUs: number; ledgerUs: number }> {
  const n = scale(20_000, 5_000);
  const dir = await Deno.makeTempDir({ prefix: "ccproxy-bench-" });
  const ledger = await Ledger.open(`${dir}/usage`);
  const facts = (i: number): UnpricedRecord => ({
    time: Date.now(),
    requestId: `req_bench_${i}`,
    endpoint: "messages",
    key: "anonymous",
    session: `session-${i % 7}`,
    model: "claude-opus-4-1",
    provider: "openai",
    backendModel: i % 3 ? "gpt-4.1" : "gpt-4.1-mini",
    api: "openai-chat",
    stream: true,
    status: 200,
    tries: 1,
    latencyMs: 12.3,
    ttftMs: 4.5,
    usage: { ...noUsage(), input_tokens: 1000 + i % 500, output_tokens: 20 + i % 80 },
  });
  const measure = async (tracker: UsageTracker) => {
    for (let i = 0; i < 500; i++) tracker.end(facts(i)); // warm up
    await tracker.settled();
    const before = cpuUsage();
    for (let i = 0; i < n; i++) {
      tracker.end(facts(i));
      if (i % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 0));
    }
    await tracker.settled();
    const spent = cpuUsage(before);
    return (spent.user + spent.system) / n;
  };
  try {
    const pricingUs = await measure(new UsageTracker());
    const ledgerUs = await measure(new UsageTracker({ ledger }));
    return { pricingUs, ledgerUs };
  } finally {
    await ledger.close();
    await Deno.remove(dir, { recursive: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

const fmt = (n: number, digits = 2) => n.toFixed(digits);

if (import.meta.main) {
  const started = performance.now();
  // The in-process figures call the translators directly: they look models up in the catalog.
  await loadCatalog();
  const fake = await startFake();
  const proxyEnv = {
    OPENAI_API_KEY: "sk-bench",
    OPENAI_BASE_URL: `${fake.url}/v1`,
    OPENAI_API_MODE: "chat",
    // The realistic turn asks for claude-opus-*: its answer takes the turn's shape.
    BIG_MODEL: TURN_MODEL,
  };
  const proxyProcess = await startProxy({ ...proxyEnv, USAGE_DB: "off" });
  const proxy = { ...proxyRoute(proxyProcess.url), pid: proxyProcess.process.pid };
  // The same proxy writing every request to a usage ledger (a SQLite file in a temp folder).
  const ledgerDir = await Deno.makeTempDir({ prefix: "ccproxy-bench-" });
  const ledgerProcess = await startProxy(
    { ...proxyEnv, USAGE_DB: `${ledgerDir}/usage` },
    [`--allow-read=.env,${ledgerDir}`, `--allow-write=${ledgerDir}`],
  );
  const withLedger = {
    ...proxyRoute(ledgerProcess.url, "ccproxy+ledger"),
    pid: ledgerProcess.process.pid,
  };
  const direct = directRoute(fake.url);
  const bare = await startFake("./bare_proxy.ts", [fake.url]);
  const floor = { ...directRoute(bare.url), name: "bare pass-through" };
  const report: Record<string, unknown> = {
    date: new Date().toISOString(),
    cores: navigator.hardwareConcurrency,
    deno: Deno.version.deno,
    quick: QUICK,
  };
  try {
    console.error("bench: 1/7 added latency");
    report.latency = await addedLatency(proxy, direct);
    report.floor = await addedLatency(floor, direct);
    console.error("bench: 2/7 throughput");
    let peer: Route | undefined;
    let peerClose: (() => Promise<void>) | undefined;
    let peerPid: number | undefined;
    if (args.peers) {
      const started = await runPeer(fake.url);
      if (started) ({ route: peer, close: peerClose, pid: peerPid } = started);
      else report.peerError = "claude-code-router could not be installed or started";
    }
    const routes = peer ? [direct, proxy, withLedger, peer] : [direct, proxy, withLedger];
    report.throughput16 = await throughput(routes, 16);
    report.throughput64 = await throughput(routes, 64);
    report.cpuPerRequestUs = cpuPerRequest();
    console.error("bench: 3/7 realistic Claude Code turn");
    report.turn = await realisticTurn(
      turnRoutes({
        fakeUrl: fake.url,
        bareUrl: bare.url,
        barePid: bare.process.pid,
        proxyUrl: proxyProcess.url,
        proxyPid: proxyProcess.process.pid,
        peerUrl: peer?.url,
        peerPid,
      }),
      { rounds: scale(8, 3), perRound: scale(25, 10), total16: scale(800, 200) },
    );
    console.error("bench: 4/7 streaming");
    report.streaming = await streaming(proxy, direct);
    if (peer) {
      report.peerLatency = await addedLatency(peer, direct);
      report.peerStreaming = await streaming(peer, direct);
    }
    await peerClose?.();
    console.error("bench: 5/7 memory");
    report.memory = await memory(proxy, proxyProcess.process.pid);
    report.floorMemory = await memory(floor, bare.process.pid);
    console.error("bench: 6/7 cold start");
    report.coldStart = await coldStart(fake.url);
    console.error("bench: 7/7 translation");
    report.translation = await translation();
    report.ledgerCost = await ledgerCost();
  } finally {
    for (const child of [proxyProcess.process, ledgerProcess.process, fake.process, bare.process]) {
      child.kill();
      await child.status;
    }
    await Deno.remove(ledgerDir, { recursive: true }).catch(() => {});
  }
  report.seconds = Math.round((performance.now() - started) / 1000);

  const l = report.latency as Awaited<ReturnType<typeof addedLatency>>;
  const f = report.floor as Awaited<ReturnType<typeof addedLatency>>;
  const t16 = report.throughput16 as Record<string, number>;
  const t64 = report.throughput64 as Record<string, number>;
  const cpu = report.cpuPerRequestUs as Record<string, number>;
  const lc = report.ledgerCost as { pricingUs: number; ledgerUs: number };
  const s = report.streaming as Awaited<ReturnType<typeof streaming>>;
  const m = report.memory as Record<string, number>;
  const fm = report.floorMemory as Record<string, number>;
  const turn = report.turn as Record<string, TurnFigures>;
  const tp = turn.ccproxy;
  const tb = turn["bare hop"];
  const tpeer = turn["claude-code-router"] as TurnFigures | undefined;
  const pl = report.peerLatency as Awaited<ReturnType<typeof addedLatency>> | undefined;
  const c = report.coldStart as { medianMs: number };
  const tr = report.translation as Awaited<ReturnType<typeof translation>>;
  const peerRps = t64["claude-code-router"];
  const rows = [
    [
      "added latency p50, c=1 (ms)",
      fmt(l.p50AddedMs, 3),
      "≤ 0.3",
      `IQR ${fmt(l.iqrMs, 3)}; direct p50 ${fmt(l.directP50Ms)}`,
    ],
    ["added latency p99, c=1 (ms)", fmt(l.p99AddedMs, 3), "≤ 1", ""],
    [
      "tiny request over the bare hop, p50 c=1 (ms)",
      fmt(l.p50AddedMs - f.p50AddedMs, 3),
      "≤ 0.4, ahead of claude-code-router",
      pl ? `claude-code-router ${fmt(pl.p50AddedMs - f.p50AddedMs, 3)}` : "peer not run (--peers)",
    ],
    [
      "realistic turn over the bare hop, c=1 (ms)",
      fmt(tp.addedMs - tb.addedMs, 3),
      "≤ 2",
      `over the upstream alone: ccproxy ${fmt(tp.addedMs, 3)}, bare hop ${fmt(tb.addedMs, 3)}${
        tpeer ? `, claude-code-router ${fmt(tpeer.addedMs, 3)}` : ""
      }`,
    ],
    [
      "realistic turn requests/s at c=16, % of the bare hop",
      `${fmt((100 * tp.rps16) / tb.rps16, 0)}%`,
      "≥ 50%",
      `ccproxy ${tp.rps16}, bare hop ${tb.rps16}, upstream alone ${turn["upstream alone"].rps16}`,
    ],
    [
      "realistic turn requests/s at c=16, × claude-code-router",
      tpeer ? `${fmt(tp.rps16 / tpeer.rps16, 1)}×` : "-",
      "≥ 2×",
      tpeer ? `claude-code-router ${tpeer.rps16}` : "peer not run (--peers)",
    ],
    [
      "realistic turn CPU per request, c=1 / c=16 (ms)",
      `${fmt(tp.cpuMsC1)} / ${fmt(tp.cpuMsC16)}`,
      "",
      `bare hop ${fmt(tb.cpuMsC1)} / ${fmt(tb.cpuMsC16)}${
        tpeer ? `; claude-code-router ${fmt(tpeer.cpuMsC1)} / ${fmt(tpeer.cpuMsC16)}` : ""
      }`,
    ],
    [
      "bare fetch pass-through, added p50 / p99 (ms)",
      `${fmt(f.p50AddedMs, 3)} / ${fmt(f.p99AddedMs, 3)}`,
      "(floor)",
      "the extra HTTP hop alone",
    ],
    [
      "requests/s at c=16 (proxy / direct)",
      `${t16.ccproxy} / ${t16.direct}`,
      "",
      peerRps ? `claude-code-router ${t16["claude-code-router"]}` : "",
    ],
    [
      "requests/s at c=64 (proxy / direct)",
      `${t64.ccproxy} / ${t64.direct}`,
      "≥ 2× claude-code-router",
      peerRps
        ? `claude-code-router ${peerRps} (${fmt(t64.ccproxy / peerRps, 1)}×)`
        : "peer not run (--peers)",
    ],
    [
      "usage ledger: CPU per request (µs); share of a realistic turn's / a tiny request's",
      `${fmt(lc.ledgerUs, 1)}; ${fmt(lc.ledgerUs / (tp.cpuMsC16 * 1000) * 100, 1)}% / ${
        fmt(lc.ledgerUs / cpu.ccproxy * 100, 1)
      }%`,
      "< 5%",
      `pricing ${fmt(lc.pricingUs, 1)} µs of it (priced with the ledger off too); ` +
      `CPU per request: realistic turn ${fmt(tp.cpuMsC16 * 1000, 0)} µs, tiny ${
        fmt(cpu.ccproxy, 0)
      } µs`,
    ],
    [
      "proxy CPU per request, usage ledger off / on (µs)",
      `${fmt(cpu.ccproxy, 0)} / ${fmt(cpu["ccproxy+ledger"], 0)}`,
      "",
      "two processes: ±6% apart on this machine even when identical",
    ],
    [
      "requests/s at c=16 / c=64, usage ledger on ÷ off",
      `${fmt(t16["ccproxy+ledger"] / t16.ccproxy * 100, 1)}% / ${
        fmt(t64["ccproxy+ledger"] / t64.ccproxy * 100, 1)
      }%`,
      "≥ 95% (noisy)",
      `${t16["ccproxy+ledger"]} / ${t64["ccproxy+ledger"]} req/s with every request in Deno KV`,
    ],
    ["streaming TTFB overhead (ms)", fmt(s.ttfbOverheadMs, 3), "≤ 1", ""],
    [
      "per-chunk added latency p50 (ms)",
      fmt(s.perChunkAddedP50Ms, 3),
      "≤ 0.1",
      `p99 ${fmt(s.perChunkAddedP99Ms, 3)}`,
    ],
    [
      "chunks coalesced (of received / sent)",
      `${s.coalesced} (${s.chunksReceived} / ${s.chunksSent})`,
      "0",
      `direct: ${s.coalescedDirect}`,
    ],
    ["RSS idle (MB)", String(m.idleMb), "", ""],
    ["RSS, 100 open streams (MB)", String(m.streams100Mb), "", ""],
    [
      "RSS growth with 1,000 open streams (MB)",
      `+${m.streams1000Mb - m.idleMb}`,
      `≤ the bare hop's + 100 (${fm.streams1000Mb - fm.idleMb + 100})`,
      `bare hop +${fm.streams1000Mb - fm.idleMb}; ccproxy ${m.streams1000Mb} MB in all`,
    ],
    ["cold start to first /health 200 (ms)", fmt(c.medianMs, 0), "≤ 200", ""],
    [
      "1 MB request translated (µs)",
      String(tr.requestUs),
      "≤ 5,000",
      `${tr.requestBytes} bytes, validation included`,
    ],
    [
      "1,000-chunk response translated (µs)",
      String(tr.responseUs),
      "",
      `${tr.responseUsPerChunk} µs per chunk`,
    ],
  ];
  console.log(
    `\n## ccproxy benchmark (${report.date}, ${report.cores} cores, Deno ${report.deno}${
      QUICK ? ", quick" : ""
    })\n`,
  );
  console.log("| figure | measured | target | notes |\n| --- | --- | --- | --- |");
  for (const row of rows) console.log(`| ${row.join(" | ")} |`);
  if (pl) {
    const ps = report.peerStreaming as Awaited<ReturnType<typeof streaming>>;
    console.log(
      `| claude-code-router: added latency p50 / p99 (ms) | ${fmt(pl.p50AddedMs, 3)} / ${
        fmt(pl.p99AddedMs, 3)
      } | | |`,
    );
    console.log(
      `| claude-code-router: TTFB overhead / per-chunk p50 (ms), coalesced | ${
        fmt(ps.ttfbOverheadMs, 3)
      } / ${fmt(ps.perChunkAddedP50Ms, 3)}, ${ps.coalesced} | | |`,
    );
  }
  console.log(
    "\n### Realistic Claude Code turn (48 KB request, 12 tools, 40 streamed chunks)\n\n" +
      "| route | p50 c=1 (ms) | added over upstream, c=1 (ms) | CPU/request c=1 (ms) | " +
      "requests/s c=16 | CPU/request c=16 (ms) |\n| --- | --- | --- | --- | --- | --- |",
  );
  for (const [name, t] of Object.entries(turn)) {
    console.log(
      `| ${name} | ${fmt(t.p50Ms)} | ${fmt(t.addedMs, 3)} | ${fmt(t.cpuMsC1)} | ${t.rps16} | ${
        fmt(t.cpuMsC16)
      } |`,
    );
  }
  if (report.peerError) console.log(`\npeer: ${report.peerError}`);
  console.log(`\n${report.seconds} s in all.`);
  const dir = new URL("./results/", import.meta.url);
  Deno.mkdirSync(dir, { recursive: true });
  const file = new URL(`${String(report.date).replace(/[:.]/g, "-")}.json`, dir);
  Deno.writeTextFileSync(file, JSON.stringify(report, null, 2));
  console.log(`results: ${file.pathname}`);
}
