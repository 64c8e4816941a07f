/**
 * End to end over loopback: the official Anthropic SDK → ccproxy (real port) → a fake OpenAI
 * upstream (real port).
 */
import Anthropic from "@anthropic-ai/sdk";
import assert from "node:assert/strict";
import {
  createFakeUpstream,
  type Reply,
  serveFake,
  textReply,
  toolReply,
} from "../bench/fake_upstream.ts";
import { createLogger } from "../lib/server/log.ts";
import { createHandler } from "../lib/server/handler.ts";
import { testConfig } from "./helpers.ts";

async function withProxy(
  replies: Reply[],
  run: (client: Anthropic, upstream: ReturnType<typeof createFakeUpstream>) => Promise<void>,
) {
  const upstream = createFakeUpstream(replies);
  const fake = serveFake(upstream);
  const handler = createHandler(testConfig({ OPENAI_BASE_URL: `${fake.url}/v1` }), {
    logger: createLogger({ write: () => {} }),
  });
  const proxy = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);
  const client = new Anthropic({
    apiKey: "client-key",
    baseURL: `http://127.0.0.1:${proxy.addr.port}`,
    maxRetries: 0,
  });
  try {
    await run(client, upstream);
  } finally {
    await proxy.shutdown();
    await fake.close();
  }
}

const REQUEST = {
  model: "claude-sonnet-5-5",
  max_tokens: 1024,
  messages: [{ role: "user" as const, content: "Say hello" }],
};

Deno.test("SDK: a non-streaming message", async () => {
  await withProxy([textReply(["Hello", " there"])], async (client) => {
    const message = await client.messages.create(REQUEST);
    assert.equal(message.type, "message");
    assert.equal(message.model, "claude-sonnet-5-5");
    assert.deepEqual(message.content, [{ type: "text", text: "Hello there" }]);
    assert.equal(message.stop_reason, "end_turn");
    assert.equal(message.usage.input_tokens, 12);
    assert.match(message._request_id ?? "", /^req_/);
  });
});

Deno.test("SDK: a streamed message accumulates to the non-streaming result", async () => {
  const reply = toolReply([
    { id: "call_1", name: "Write", args: { file_path: "a.txt", content: 'ünï "q"\n' } },
    { id: "call_2", name: "Bash", args: { command: "ls" } },
  ], "Working on it.");
  await withProxy([reply, reply], async (client) => {
    const plain = await client.messages.create(REQUEST);
    const stream = client.messages.stream(REQUEST);
    const texts: string[] = [];
    stream.on("text", (text) => texts.push(text));
    const streamed = await stream.finalMessage();
    // parsed_output is the SDK's own structured-output helper, added on the stream path only.
    const { parsed_output: _, ...accumulated } = streamed as typeof streamed & {
      parsed_output: unknown;
    };
    // Tool ids are minted per answer: compare everything else.
    const withoutIds = (m: typeof plain) => ({
      ...m,
      id: "",
      content: m.content.map((b) => b.type === "tool_use" ? { ...b, id: "" } : b),
    });
    assert.deepEqual(withoutIds(accumulated), withoutIds(plain));
    assert.deepEqual(texts, ["Working on it."]);
    assert.equal(streamed.stop_reason, "tool_use");
    assert.match((streamed.content[1] as { id: string }).id, /^toolu_[A-Za-z0-9]{24}$/);
    assert.deepEqual({ ...streamed.content[1], id: "" }, {
      type: "tool_use",
      id: "",
      name: "Write",
      input: { file_path: "a.txt", content: 'ünï "q"\n' },
    });
  });
});

Deno.test("SDK: a tool round trip reaches the upstream paired", async () => {
  await withProxy([
    toolReply([{ id: "call_w", name: "Write", args: { file_path: "x" } }]),
    textReply(["Done."]),
  ], async (client, upstream) => {
    const tools = [{
      name: "Write",
      description: "write a file",
      input_schema: { type: "object" as const, properties: { file_path: { type: "string" } } },
    }];
    const first = await client.messages.create({ ...REQUEST, tools });
    const call = first.content.find((b) => b.type === "tool_use")!;
    assert.equal(call.type, "tool_use");
    const second = await client.messages.create({
      ...REQUEST,
      tools,
      messages: [
        ...REQUEST.messages,
        { role: "assistant", content: first.content },
        {
          role: "user",
          content: [{ type: "tool_result", tool_use_id: call.id, content: "written" }],
        },
      ],
    });
    assert.deepEqual(second.content, [{ type: "text", text: "Done." }]);
    const messages = upstream.requests[1].body.messages as Array<Record<string, unknown>>;
    assert.deepEqual(messages.slice(1), [
      {
        role: "assistant",
        content: null,
        tool_calls: [{
          id: call.id,
          type: "function",
          function: { name: "Write", arguments: '{"file_path":"x"}' },
        }],
      },
      { role: "tool", tool_call_id: call.id, content: "written" },
    ]);
  });
});

Deno.test("SDK: upstream errors surface as the SDK's typed errors", async (t) => {
  // deno-lint-ignore no-explicit-any
  const cases: Array<[Reply, number, new (...args: any[]) => Error]> = [
    [{ status: 400, error: { error: { message: "bad" } } }, 400, Anthropic.BadRequestError],
    // The provider refused the proxy's key: a 403 the client shows at once, not a 401 it retries.
    [{ status: 401, error: { error: { message: "key" } } }, 403, Anthropic.PermissionDeniedError],
    [{ status: 404, error: { error: { message: "no model" } } }, 404, Anthropic.NotFoundError],
    [
      { status: 429, headers: { "retry-after": "1" }, error: { error: { message: "slow" } } },
      429,
      Anthropic.RateLimitError,
    ],
    [{ status: 500, error: { error: { message: "boom" } } }, 500, Anthropic.InternalServerError],
    [{ status: 503, error: { error: { message: "busy" } } }, 529, Anthropic.APIError],
  ];
  for (const [reply, status, kind] of cases) {
    await t.step(`${status}`, async () => {
      await withProxy([reply], async (client) => {
        for (const stream of [false, true]) {
          const error = await (stream
            ? client.messages.stream(REQUEST).finalMessage()
            : client.messages.create(REQUEST))
            .then(() =>
              undefined, (e) => e);
          assert.ok(error instanceof kind, `${error}`);
          assert.equal((error as InstanceType<typeof Anthropic.APIError>).status, status);
        }
      });
    });
  }
  await t.step("in-stream failure → APIError from the stream", async () => {
    await withProxy([{
      chunks: [{ choices: [{ index: 0, delta: { content: "Hi" }, finish_reason: null }] }],
      done: false,
    }], async (client) => {
      const error = await client.messages.stream(REQUEST).finalMessage().then(
        () => undefined,
        (e) => e,
      );
      assert.ok(error instanceof Anthropic.APIError, `${error}`);
      assert.match(String(error.message), /without a finish reason/);
    });
  });
});

Deno.test("SDK: countTokens via the beta endpoint", async () => {
  await withProxy([], async (client) => {
    const result = await client.beta.messages.countTokens({
      model: "claude-opus-5-5",
      messages: REQUEST.messages,
      system: "You are terse.",
    });
    assert.ok(result.input_tokens > 5);
  });
});
