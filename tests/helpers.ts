/** Shared test helpers: SSE text ⇄ events, golden files, and the protocol invariant checker. */
import assert from "node:assert/strict";
import { SseParseStream } from "../lib/upstream/sse_reader.ts";
import type { StreamEvent } from "../lib/anthropic/schema.ts";
import { SseEncodeStream } from "../lib/anthropic/sse_encode.ts";
import { type Config, loadConfig } from "../lib/config.ts";

const TESTDATA = new URL("./testdata/", import.meta.url);

/** Reads a file of `tests/testdata/`. */
export function testdata(name: string): string {
  return Deno.readTextFileSync(new URL(name, TESTDATA));
}

/**
 * Compares `actual` with the golden file `name`; with `UPDATE_GOLDEN=1` it rewrites the file
 * instead (review the diff before committing).
 */
export function assertGolden(actual: string, name: string): void {
  const url = new URL(name, TESTDATA);
  if (Deno.env.get("UPDATE_GOLDEN") === "1") {
    Deno.writeTextFileSync(url, actual);
    return;
  }
  assert.equal(actual, Deno.readTextFileSync(url), `golden ${name} differs`);
}

/** Client SSE text with the proxy's random `toolu_` ids replaced by a placeholder (goldens). */
export function maskToolIds(text: string): string {
  return text.replace(/"id":"toolu_[A-Za-z0-9]{24}"/g, '"id":"toolu_<random>"');
}

/** SSE text → parsed messages (as the provider translators receive them). */
export function sseMessages(text: string) {
  return ReadableStream.from([new TextEncoder().encode(text)]).pipeThrough(new SseParseStream());
}

/** Anthropic events → the SSE text a client receives. */
export async function encodeEvents(events: StreamEvent[]): Promise<string> {
  const chunks = await Array.fromAsync(
    ReadableStream.from(events).pipeThrough(new SseEncodeStream()).pipeThrough(
      new TextDecoderStream(),
    ),
  );
  return chunks.join("");
}

/** Client SSE text → events, checking each `event:` name equals its data's `type`. */
export function parseClientSse(text: string): StreamEvent[] {
  const events: StreamEvent[] = [];
  for (const block of text.split("\n\n")) {
    if (!block.trim()) continue;
    const [eventLine, dataLine] = block.split("\n");
    assert.match(eventLine, /^event: /);
    const data = JSON.parse(dataLine.replace(/^data: /, ""));
    assert.equal(eventLine.slice(7), data.type, "event name equals data.type");
    events.push(data);
  }
  return events;
}

/**
 * Asserts the Anthropic stream grammar: `message_start` first and once; blocks indexed 0..n in
 * order with one open at a time; deltas match their block; thinking ends with one signature;
 * tool JSON parses; the end is `message_delta` + `message_stop`, or a single `error`.
 */
export function assertValidStream(events: StreamEvent[]): void {
  const real = events.filter((e) => e.type !== "ping");
  assert.equal(real[0]?.type, "message_start", "message_start first");
  assert.equal(real.filter((e) => e.type === "message_start").length, 1, "one message_start");
  let open: { index: number; type: string; json: string; signatures: number } | undefined;
  let next = 0;
  const last = real.at(-1)!;
  const errorEnd = last.type === "error";
  for (const event of real.slice(1)) {
    switch (event.type) {
      case "content_block_start":
        assert.equal(open, undefined, "a block is still open");
        assert.equal(event.index, next++, "indexes in order");
        open = { index: event.index, type: event.content_block.type, json: "", signatures: 0 };
        break;
      case "content_block_delta": {
        assert.equal(event.index, open?.index, "delta for the open block");
        const kind = event.delta.type;
        const allowed: Record<string, string[]> = {
          text: ["text_delta"],
          thinking: ["thinking_delta", "signature_delta"],
          tool_use: ["input_json_delta"],
          server_tool_use: ["input_json_delta"],
          web_search_tool_result: [],
        };
        if (kind === "citations_delta") assert.equal(open!.type, "text", "citations in text");
        else assert.ok(allowed[open!.type].includes(kind), `${kind} in ${open!.type}`);
        if (event.delta.type === "input_json_delta") open!.json += event.delta.partial_json;
        if (kind === "signature_delta") open!.signatures++;
        else assert.equal(open!.signatures, 0, "signature is the last delta");
        break;
      }
      case "content_block_stop":
        assert.equal(event.index, open?.index, "stop for the open block");
        if (open!.type === "tool_use" || open!.type === "server_tool_use") {
          const input = JSON.parse(open!.json);
          assert.ok(input && typeof input === "object" && !Array.isArray(input));
        }
        if (open!.type === "thinking") assert.equal(open!.signatures, 1, "one signature");
        open = undefined;
        break;
      case "message_delta":
        assert.equal(open, undefined, "no open block at message_delta");
        assert.ok(event.delta.stop_reason, "stop_reason set");
        assert.equal(typeof event.usage.output_tokens, "number");
        break;
    }
  }
  if (errorEnd) {
    assert.equal(real.filter((e) => e.type === "error").length, 1);
    assert.ok(!real.some((e) => e.type === "message_stop"), "no message_stop after an error");
  } else {
    assert.equal(real.at(-2)?.type, "message_delta", "message_delta second to last");
    assert.equal(last.type, "message_stop", "message_stop last");
  }
}

/** A configuration for tests (OpenAI preferred, test keys, no retries unless asked for). */
export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({ OPENAI_API_KEY: "sk-test-openai-key-0001", MAX_RETRIES: "0", ...env });
}

/** A manual keep-alive scheduler: `tick()` fires the registered timers. */
export function manualScheduler() {
  const ticks = new Set<() => void>();
  return {
    scheduler: (tick: () => void) => {
      ticks.add(tick);
      return () => ticks.delete(tick);
    },
    tick: () => ticks.forEach((t) => t()),
    get active() {
      return ticks.size;
    },
  };
}

/**
 * Starts `deno serve` on main.ts (port 0, on `host`) with exactly `env`; resolves with the port once it
 * listens, what it printed so far, and the function that stops it.
 */
export async function denoServe(env: Record<string, string>, host = "127.0.0.1") {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "serve",
      `--allow-net=${host === "127.0.0.1" ? host : `127.0.0.1,${host}`}`,
      "--allow-env",
      "--allow-read=.env",
      "--host",
      host,
      "--port",
      "0",
      new URL("../main.ts", import.meta.url).pathname,
    ],
    env: { NO_COLOR: "1", ...env },
    clearEnv: true,
    // `deno serve` finds deno.json from the working directory (there is no .env in it).
    cwd: new URL("../", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/Listening on http:\/\/[\d.]+:\d+/.test(text)) {
    const next = await output.read();
    if (next.done) throw new Error(`deno serve did not start: ${text}`);
    text += next.value;
  }
  const port = /Listening on http:\/\/[\d.]+:(\d+)/.exec(text)![1];
  return {
    port,
    text,
    close: async () => {
      child.kill();
      await output.cancel();
      await child.status;
      await child.stdout.cancel();
    },
  };
}

/** What `deno run` may do for {@link startMain}: loopback only, and the usage ledger's file. */
const MAIN_PERMISSIONS = ["--allow-net=127.0.0.1", "--allow-env", "--allow-read", "--allow-write"];

/**
 * Starts main.ts as its own process (`deno run` with `permissions`, port 0, no retries) with
 * exactly `env`; resolves once it listens, with its URL and the function that stops it.
 */
export async function startMain(env: Record<string, string>, permissions = MAIN_PERMISSIONS) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissions, new URL("../main.ts", import.meta.url).pathname, "--port", "0"],
    cwd: new URL("../", import.meta.url).pathname,
    env: { NO_COLOR: "1", MAX_RETRIES: "0", ...env },
    clearEnv: true,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/listening on http:\/\/[\d.]+:\d+/.test(text)) {
    const next = await reader.read();
    if (next.done) throw new Error(`ccproxy did not start: ${text}`);
    text += next.value;
  }
  const port = /listening on http:\/\/[\d.]+:(\d+)/.exec(text)![1];
  return {
    url: `http://127.0.0.1:${port}`,
    /** SIGTERM: the ledger writes what is pending, then the process exits. */
    async stop() {
      child.kill("SIGTERM");
      const status = await child.status;
      await reader.cancel();
      return status;
    },
  };
}
