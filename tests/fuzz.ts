/**
 * A fuzzer for bad input: mutates valid requests (Claude Code-shaped ones included) and checks
 * that every answer is a 200 or an Anthropic-shaped 4xx, never a 5xx caused by the proxy.
 *
 * `deno task fuzz [cases] [seed]` runs 10,000 cases and prints the counts; `fuzz_test.ts` runs a
 * bounded slice in the normal suite.
 *
 * @module
 */
import { createFakeUpstream, DIALECTS } from "../bench/fake_upstream.ts";
import { loadConfig } from "../lib/config.ts";
import { createLogger } from "../lib/server/log.ts";
import { createHandler } from "../lib/server/handler.ts";

/** A small, fast, seedable PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const SEEDS: Json[] = [
  { model: "claude-opus-5-5", max_tokens: 100, messages: [{ role: "user", content: "hi" }] },
  {
    model: "claude-haiku-5-5",
    max_tokens: 50,
    stream: true,
    system: [{ type: "text", text: "sys", cache_control: { type: "ephemeral" } }],
    tools: [{
      name: "Read",
      description: "d",
      input_schema: { type: "object", properties: { p: { type: "string" } } },
    }],
    tool_choice: { type: "auto" },
    thinking: { type: "enabled", budget_tokens: 2048 },
    messages: [
      {
        role: "user",
        content: [{ type: "text", text: "read" }, {
          type: "image",
          source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" },
        }],
      },
      {
        role: "assistant",
        content: [{ type: "thinking", thinking: "t", signature: "s" }, {
          type: "tool_use",
          id: "toolu_1",
          name: "Read",
          input: { p: "a" },
        }],
      },
      {
        role: "user",
        content: [{
          type: "tool_result",
          tool_use_id: "toolu_1",
          content: [{ type: "text", text: "A" }],
          is_error: false,
        }],
      },
      { role: "system", content: "env" },
    ],
  },
];

const STRANGE: Json[] = [
  null,
  true,
  0,
  -1,
  1e308,
  1.5,
  "",
  "x",
  "\u0000\ud800",
  [],
  {},
  [null],
  { type: "mystery" },
  { type: "text", text: 5 },
  { type: "tool_result" },
  { type: "image", source: { type: "url" } },
];

function pick<T>(random: () => number, list: readonly T[]): T {
  return list[Math.floor(random() * list.length)];
}

function paths(
  value: Json,
  prefix: Array<string | number> = [],
  out: Array<Array<string | number>> = [],
) {
  out.push(prefix);
  if (prefix.length > 12) return out; // mutate near the top; deep values are the mutations
  if (Array.isArray(value)) value.forEach((v, i) => paths(v, [...prefix, i], out));
  else if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) paths(v, [...prefix, k], out);
  }
  return out;
}

/** A copy of `root` with the value at `path` replaced (or removed): copies only along the path. */
function setAt(root: Json, path: Array<string | number>, value: Json | undefined): Json {
  if (!path.length) return value ?? null;
  const [key, ...rest] = path;
  const node = (root ?? {}) as Record<string | number, Json>;
  const copy = (Array.isArray(node) ? [...node] : { ...node }) as Record<string | number, Json>;
  if (rest.length) copy[key] = setAt(node[key], rest, value);
  else if (value !== undefined) copy[key] = value;
  else if (Array.isArray(copy)) copy.splice(key as number, 1);
  else delete copy[key];
  return copy as Json;
}

const DEEP = "__deep_nesting__";

/** One mutated request body (as bytes: some mutations are not JSON, or not even UTF-8). */
export function mutate(random: () => number): Uint8Array<ArrayBuffer> {
  const encoder = new TextEncoder();
  let body: Json = structuredClone(pick(random, SEEDS));
  let deep = 0;
  const rounds = 1 + Math.floor(random() * 3);
  for (let r = 0; r < rounds; r++) {
    const all = paths(body);
    const path = pick(random, all);
    switch (Math.floor(random() * 9)) {
      case 0:
        body = setAt(body, path, pick(random, STRANGE));
        break;
      case 1:
        if (path.length) body = setAt(body, path, undefined);
        break;
      case 2:
        body = setAt(
          body,
          [...path.slice(0, -1), `unknown_${Math.floor(random() * 100)}`],
          pick(random, STRANGE),
        );
        break;
      case 3:
        body = setAt(body, path, "y".repeat(Math.floor(random() * 200_000)));
        break;
      case 4:
        deep = 100 + Math.floor(random() * (random() < 0.3 ? 100_000 : 5_000));
        body = setAt(body, path, DEEP);
        break;
      case 5:
        body = setAt(
          body,
          path,
          Array.from({ length: Math.floor(random() * 20_000) }, () => pick(random, STRANGE)),
        );
        break;
      case 6:
        body = setAt(
          body,
          ["messages"],
          Array.from({ length: Math.floor(random() * 5_000) }, (_, i) => ({
            role: i % 2 ? "assistant" : "user",
            content: pick(
              random,
              [[{ type: "weird_block", x: i }], "m", [{ type: "text", text: "" }]] as Json[],
            ),
          })),
        );
        break;
      case 7:
        body = setAt(
          body,
          path,
          pick(
            random,
            [{ type: "tool_use", id: "", name: "x", input: [] }, {
              type: "tool_result",
              tool_use_id: "nope",
              content: 5,
            }] as Json[],
          ),
        );
        break;
      case 8: {
        const text = JSON.stringify(body);
        const cut = Math.floor(random() * text.length);
        return random() < 0.5 ? encoder.encode(text.slice(0, cut)) : new Uint8Array([
          ...encoder.encode(text.slice(0, cut)),
          0xff,
          0xc3,
          ...encoder.encode(text.slice(cut)),
        ]);
      }
    }
  }
  const text = JSON.stringify(body);
  // Nesting deeper than JSON.stringify can write is spliced in as text.
  return encoder.encode(
    deep ? text.replace(`"${DEEP}"`, "[".repeat(deep) + "1" + "]".repeat(deep)) : text,
  );
}

/** Counts of one fuzz run. */
export interface FuzzResult {
  cases: number;
  status: Record<number, number>;
  failures: Array<{ index: number; status: number; body: string }>;
}

/** Runs `cases` mutated requests through a handler with a fake upstream. */
export async function runFuzz(cases: number, seed = 1): Promise<FuzzResult> {
  const random = prng(seed);
  const upstream = createFakeUpstream(() => DIALECTS.openai.text(["fuzzed"]));
  const handler = createHandler(
    loadConfig({ OPENAI_API_KEY: "sk-fuzz-key-0001", MAX_RETRIES: "0" }),
    {
      fetch: upstream.fetch,
      logger: createLogger({
        write: (line) => void (line.includes("internal error") && console.error(line)),
      }),
    },
  );
  const result: FuzzResult = { cases, status: {}, failures: [] };
  for (let index = 0; index < cases; index++) {
    const body = mutate(random);
    const path = random() < 0.85 ? "/v1/messages" : "/v1/messages/count_tokens";
    const response = await handler(
      new Request(`http://fuzz${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      }),
    );
    const text = await response.text();
    result.status[response.status] = (result.status[response.status] ?? 0) + 1;
    const ok = response.status === 200 ||
      (response.status >= 400 && response.status < 500 &&
        /^\{"type":"error","error":\{"type":"\w+","message":/.test(text));
    if (!ok) result.failures.push({ index, status: response.status, body: text.slice(0, 300) });
    upstream.requests.length = 0;
  }
  return result;
}

if (import.meta.main) {
  const cases = Number(Deno.args[0] ?? 10_000);
  const seed = Number(Deno.args[1] ?? 1);
  const started = performance.now();
  const result = await runFuzz(cases, seed);
  const rss = Math.round(Deno.memoryUsage().rss / 1024 / 1024);
  console.log(
    `fuzz: ${result.cases} cases, seed ${seed}, ${
      ((performance.now() - started) / 1000).toFixed(1)
    } s`,
  );
  console.log(`status counts: ${JSON.stringify(result.status)}`);
  console.log(
    `failures (a 5xx, or a body that is not an Anthropic error): ${result.failures.length}`,
  );
  for (const failure of result.failures.slice(0, 10)) console.log(JSON.stringify(failure));
  console.log(`rss at the end: ${rss} MB`);
  Deno.exit(result.failures.length ? 1 : 0);
}
