/**
 * The realistic Claude Code turn: a captured Claude Code request (`tests/testdata/
 * claude_code_turn2.json`: its system prompt and 12 tools, with a tool history grown to ~48 KB)
 * answered in 40 streamed chunks, sent at concurrency 1 and 16 to the fake upstream alone, to the
 * bare hop, to ccproxy and (with `--peers`) to claude-code-router, in the same run, interleaved.
 *
 * Besides latency and requests/s it reports CPU per request (the process tree's CPU time over the
 * requests it served): on 2 shared cores it is the steadier figure.
 *
 * @module
 */
import { MessagesRequestSchema } from "../lib/anthropic/schema.ts";
import { toChatRequest } from "../lib/providers/openai_chat.ts";

/** The backend model the turn's answer comes from: 40 chunks, no pause, 16 bytes each. */
export const TURN_MODEL = "fake-c40-i0-b16";

/** One way of sending the turn, and the process that serves it (for its CPU time). */
export interface TurnRoute {
  /** Name in the report. */
  name: string;
  /** Full URL of the endpoint. */
  url: string;
  /** The request (a fresh init each time). */
  init: () => RequestInit;
  /** Process serving it, whose CPU time (children included) is counted; none for the fake. */
  pid?: number;
}

/** The captured turn, its tool history grown to about `targetBytes`. */
export function claudeCodeTurn(targetBytes: number): Record<string, unknown> {
  const fixture = JSON.parse(
    Deno.readTextFileSync(new URL("../tests/testdata/claude_code_turn2.json", import.meta.url)),
  );
  const messages = [...fixture.messages];
  let size = JSON.stringify(fixture).length;
  for (let i = 0; size < targetBytes; i++) {
    const id = `toolu_bench${i}`;
    const turn = [
      {
        role: "assistant",
        content: [{ type: "text", text: "Reading the next file." }, {
          type: "tool_use",
          id,
          name: "Read",
          input: { file_path: `/src/file${i}.ts` },
        }],
      },
      {
        role: "user",
        content: [{
          type: "tool_result",
          tool_use_id: id,
          content: `export const x${i} = ${i};\n`.repeat(80),
        }],
      },
    ];
    messages.push(...turn);
    size += JSON.stringify(turn).length;
  }
  return { ...fixture, messages, stream: true };
}

const ANTHROPIC_HEADERS = {
  "content-type": "application/json",
  "x-api-key": "bench",
  "anthropic-version": "2023-06-01",
};

/** The routes of the turn: upstream alone and bare hop get the Chat body ccproxy would send. */
export function turnRoutes(options: {
  fakeUrl: string;
  bareUrl: string;
  barePid: number;
  proxyUrl: string;
  proxyPid: number;
  peerUrl?: string;
  peerPid?: number;
}): TurnRoute[] {
  const turn = claudeCodeTurn(48_000);
  const anthropic = JSON.stringify(turn);
  const chat = JSON.stringify(
    toChatRequest(MessagesRequestSchema.parse(turn), TURN_MODEL).body,
  );
  const chatInit = () => ({
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer bench" },
    body: chat,
  });
  const routes: TurnRoute[] = [
    { name: "upstream alone", url: `${options.fakeUrl}/v1/chat/completions`, init: chatInit },
    {
      name: "bare hop",
      url: `${options.bareUrl}/v1/chat/completions`,
      init: chatInit,
      pid: options.barePid,
    },
    {
      name: "ccproxy",
      url: `${options.proxyUrl}/v1/messages`,
      // The proxy routes claude-opus-* to BIG_MODEL, which the runner sets to TURN_MODEL.
      init: () => ({ method: "POST", headers: ANTHROPIC_HEADERS, body: anthropic }),
      pid: options.proxyPid,
    },
  ];
  if (options.peerUrl) {
    const peerBody = JSON.stringify({ ...turn, model: `fake,${TURN_MODEL}` });
    routes.push({
      name: "claude-code-router",
      url: `${options.peerUrl}/v1/messages`,
      init: () => ({ method: "POST", headers: ANTHROPIC_HEADERS, body: peerBody }),
      pid: options.peerPid,
    });
  }
  return routes;
}

/** CPU time (user + system) of `pid` and its descendants, in ms; 0 if it is gone. */
export function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  let ticks = 0;
  const visit = (id: number) => {
    try {
      const stat = Deno.readTextFileSync(`/proc/${id}/stat`);
      // Fields after the command name, which is in parentheses and may contain spaces.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
      for (const task of Deno.readDirSync(`/proc/${id}/task`)) {
        const children = Deno.readTextFileSync(`/proc/${id}/task/${task.name}/children`).trim();
        for (const child of children ? children.split(" ") : []) visit(Number(child));
      }
    } catch {
      // gone
    }
  };
  visit(pid);
  return ticks * 10; // USER_HZ is 100 on Linux
}

async function once(route: TurnRoute): Promise<number> {
  const started = performance.now();
  const response = await fetch(route.url, route.init());
  const body = await response.arrayBuffer();
  if (response.status !== 200 || body.byteLength < 500) {
    throw new Error(`${route.name}: status ${response.status}, ${body.byteLength} bytes`);
  }
  return performance.now() - started;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = (sorted.length - 1) / 2;
  return (sorted[Math.floor(mid)] + sorted[Math.ceil(mid)]) / 2;
}

/** Figures of one route. */
export interface TurnFigures {
  /** Median latency at c=1, ms. */
  p50Ms: number;
  /** Median over rounds of (this route's median − the upstream alone's median), ms. */
  addedMs: number;
  /** CPU per request at c=1, ms. */
  cpuMsC1: number;
  /** Requests/s at c=16 (median of runs). */
  rps16: number;
  /** CPU per request at c=16, ms. */
  cpuMsC16: number;
}

/** Measures every route at c=1 (interleaved rounds) and c=16 (alternating order). */
export async function realisticTurn(
  routes: TurnRoute[],
  options: { rounds: number; perRound: number; total16: number },
): Promise<Record<string, TurnFigures>> {
  for (let i = 0; i < 20; i++) for (const route of routes) await once(route);
  const times = new Map(routes.map((r) => [r.name, [] as number[]]));
  const diffs = new Map(routes.map((r) => [r.name, [] as number[]]));
  const cpu = new Map(routes.map((r) => [r.name, 0]));
  for (let round = 0; round < options.rounds; round++) {
    const roundTimes = new Map(routes.map((r) => [r.name, [] as number[]]));
    for (let i = 0; i < options.perRound; i++) {
      const order = (i + round) % 2 ? [...routes].reverse() : routes;
      for (const route of order) {
        const before = cpuMs(route.pid);
        roundTimes.get(route.name)!.push(await once(route));
        cpu.set(route.name, cpu.get(route.name)! + cpuMs(route.pid) - before);
      }
    }
    const base = median(roundTimes.get(routes[0].name)!);
    for (const route of routes) {
      const t = roundTimes.get(route.name)!;
      times.get(route.name)!.push(...t);
      diffs.get(route.name)!.push(median(t) - base);
    }
  }
  const result: Record<string, TurnFigures> = {};
  const requestsC1 = options.rounds * options.perRound;
  const rps = new Map(routes.map((r) => [r.name, [] as number[]]));
  const cpu16 = new Map(routes.map((r) => [r.name, 0]));
  for (let run = 0; run < 3; run++) {
    for (const route of run % 2 ? [...routes].reverse() : routes) {
      let next = 0;
      const before = cpuMs(route.pid);
      const started = performance.now();
      await Promise.all(Array.from({ length: 16 }, async () => {
        while (next++ < options.total16) await once(route);
      }));
      rps.get(route.name)!.push(options.total16 / ((performance.now() - started) / 1000));
      cpu16.set(route.name, cpu16.get(route.name)! + cpuMs(route.pid) - before);
    }
  }
  for (const route of routes) {
    result[route.name] = {
      p50Ms: median(times.get(route.name)!),
      addedMs: median(diffs.get(route.name)!),
      cpuMsC1: route.pid === undefined ? NaN : cpu.get(route.name)! / requestsC1,
      rps16: Math.round(median(rps.get(route.name)!)),
      cpuMsC16: route.pid === undefined ? NaN : cpu16.get(route.name)! / (3 * options.total16),
    };
  }
  return result;
}
