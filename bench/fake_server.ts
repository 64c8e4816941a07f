/**
 * The fake upstream as its own process, for benchmarks: OpenAI Chat, Responses and Gemini
 * endpoints on loopback. The model name sets the shape of the answer, so a request through the
 * proxy and a direct one get the same: `fake-c<chunks>-i<interval ms>-b<bytes per chunk>`
 * (default `fake-c20-i0-b8`). Every chunk's text starts with its send time
 * (`performance.timeOrigin + performance.now()`, ms) and a `|`.
 *
 * `deno run --allow-net=127.0.0.1 bench/fake_server.ts [port]` prints `listening <port>`.
 *
 * @module
 */
import {
  chunk,
  createFakeUpstream,
  type Recorded,
  type Reply,
  usageChunk,
} from "./fake_upstream.ts";

/** The answer shape a model name asks for. */
export function shapeOf(model: string): { chunks: number; intervalMs: number; bytes: number } {
  const match = /c(\d+)-i(\d+)-b(\d+)/.exec(model);
  return match
    ? { chunks: Number(match[1]), intervalMs: Number(match[2]), bytes: Number(match[3]) }
    : { chunks: 20, intervalMs: 0, bytes: 8 };
}

/** Milliseconds since the epoch, with sub-millisecond precision. */
export const now = (): number => performance.timeOrigin + performance.now();

function stamped(bytes: number): string {
  return `${now().toFixed(3)}|${"x".repeat(bytes)}`;
}

function reply(request: Recorded): Reply {
  const url = new URL(request.url);
  const model = url.pathname.includes(":streamGenerateContent")
    ? decodeURIComponent(url.pathname.split("/").at(-1)!.split(":")[0])
    : String(request.body.model ?? "");
  const shape = shapeOf(model);
  const pieces = Array.from({ length: shape.chunks }, () => () => stamped(shape.bytes));
  if (url.pathname.includes(":streamGenerateContent")) {
    return {
      done: false,
      intervalMs: shape.intervalMs,
      chunks: pieces.map((piece, i) => () => ({
        candidates: [{
          content: { role: "model", parts: [{ text: piece() }] },
          ...(i === pieces.length - 1 ? { finishReason: "STOP" } : {}),
        }],
        usageMetadata: { promptTokenCount: 10, candidatesTokenCount: i + 1 },
      })),
    };
  }
  if (url.pathname.endsWith("/responses")) {
    return {
      done: false,
      intervalMs: shape.intervalMs,
      chunks: [
        { type: "response.created", response: { id: "resp_bench" } },
        ...pieces.map((piece) => () => ({
          type: "response.output_text.delta",
          item_id: "m",
          delta: piece(),
        })),
        {
          type: "response.completed",
          response: {
            id: "resp_bench",
            usage: { input_tokens: 10, output_tokens: shape.chunks, total_tokens: 10 },
          },
        },
      ],
    };
  }
  if (request.body.stream !== true) {
    // A non-streaming Chat request (ccproxy never sends one; peers do) gets a JSON completion.
    return {
      json: {
        id: "chatcmpl-bench",
        object: "chat.completion",
        created: 1,
        model,
        choices: [{
          index: 0,
          message: { role: "assistant", content: pieces.map((piece) => piece()).join("") },
          finish_reason: "stop",
        }],
        usage: {
          prompt_tokens: 10,
          completion_tokens: shape.chunks,
          total_tokens: 10 + shape.chunks,
        },
      },
    };
  }
  return {
    intervalMs: shape.intervalMs,
    chunks: [
      chunk({ role: "assistant", content: "" }),
      ...pieces.map((piece) => () => chunk({ content: piece() })),
      chunk({}, "stop"),
      usageChunk(10, shape.chunks),
    ],
  };
}

if (import.meta.main) {
  const upstream = createFakeUpstream(reply);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: Number(Deno.args[0] ?? 0), onListen: () => {} },
    (request) => {
      const response = upstream.fetch(request);
      upstream.requests.length = 0; // keep memory flat under load
      return response;
    },
  );
  console.log(`listening ${server.addr.port}`);
}
