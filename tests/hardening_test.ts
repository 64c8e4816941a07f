/** Security, limits, timeouts and faults: every item of the hardening issue that a test can prove. */
import assert from "node:assert/strict";
import { DIALECTS, type Recorded } from "../bench/fake_upstream.ts";
import type { StreamEvent } from "../lib/anthropic/schema.ts";
import { exposureProblem } from "../lib/config.ts";
import { createLogger } from "../lib/server/log.ts";
import { createHandler } from "../lib/server/handler.ts";
import { assertValidStream, parseClientSse, testConfig } from "./helpers.ts";
import { BODY, proxySetup } from "./proxy_setup.ts";

const encoder = new TextEncoder();

Deno.test("PROXY_API_KEY guards every API route, in constant time, before any upstream call", async (t) => {
  const { call, post, upstream } = proxySetup(
    { PROXY_API_KEY: "proxy-key-one-000001, proxy-key-two-000002" },
    () => DIALECTS.openai.text(["ok"]),
  );
  const cases: Array<[string, Record<string, string>, number]> = [
    ["no key", {}, 401],
    ["wrong x-api-key", { "x-api-key": "proxy-key-three-000003" }, 401],
    ["wrong bearer", { authorization: "Bearer nope" }, 401],
    ["a prefix of a key", { "x-api-key": "proxy-key" }, 401],
    ["first key as x-api-key", { "x-api-key": "proxy-key-one-000001" }, 200],
    ["second key as Bearer", { authorization: "Bearer proxy-key-two-000002" }, 200],
  ];
  for (const [name, headers, status] of cases) {
    await t.step(`messages: ${name} → ${status}`, async () => {
      const before = upstream.requests.length;
      const response = await post(BODY, headers);
      assert.equal(response.status, status);
      const body = await response.json();
      if (status === 401) {
        assert.equal(body.error.type, "authentication_error");
        assert.equal(upstream.requests.length, before, "nothing went upstream");
      }
    });
  }
  await t.step("count_tokens and models need the key too", async () => {
    const count = await call("/v1/messages/count_tokens", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(BODY),
    });
    assert.equal(count.status, 401);
    await count.body?.cancel();
    const models = await call("/v1/models");
    assert.equal(models.status, 401);
    await models.body?.cancel();
  });
  await t.step("/health, HEAD / and GET / stay open, and GET / shows no secret", async () => {
    assert.equal((await call("/health")).status, 200);
    const head = await call("/", { method: "HEAD" });
    assert.equal(head.status, 200);
    const info = await (await call("/")).text();
    assert.ok(!info.includes("proxy-key-one") && !info.includes("sk-test"));
  });
});

Deno.test("exposureProblem(): a non-loopback address or Deploy needs PROXY_API_KEY", async (t) => {
  const cases: Array<[string, Record<string, string>, boolean, boolean]> = [
    ["loopback", { HOST: "127.0.0.1" }, false, false],
    ["localhost", { HOST: "localhost" }, false, false],
    ["::1", { HOST: "::1" }, false, false],
    ["0.0.0.0 without a key", { HOST: "0.0.0.0" }, false, true],
    ["a LAN address without a key", { HOST: "192.168.1.5" }, false, true],
    [
      "0.0.0.0 with a key",
      { HOST: "0.0.0.0", PROXY_API_KEY: "a-long-proxy-key-0001" },
      false,
      false,
    ],
    [
      "0.0.0.0 allowed on purpose",
      { HOST: "0.0.0.0", ALLOW_UNAUTHENTICATED: "true" },
      false,
      false,
    ],
    ["Deploy without a key", {}, true, true],
    ["Deploy with a key", { PROXY_API_KEY: "a-long-proxy-key-0001" }, true, false],
  ];
  for (const [name, env, deployed, refused] of cases) {
    await t.step(name, () => {
      const problem = exposureProblem(testConfig(env), deployed);
      assert.equal(Boolean(problem), refused);
      if (problem) assert.match(problem, /PROXY_API_KEY=/);
    });
  }
});

Deno.test("main refuses to listen on 0.0.0.0 without a key (exit 2, says how to fix)", async () => {
  const result = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net=127.0.0.1,0.0.0.0",
      "--allow-env",
      "--allow-read=.env",
      new URL("../main.ts", import.meta.url).pathname,
    ],
    env: { NO_COLOR: "1", OPENAI_API_KEY: "sk-x", HOST: "0.0.0.0", PORT: "0" },
    clearEnv: true,
    cwd: await Deno.makeTempDir(),
    stderr: "piped",
    stdout: "null",
  }).output();
  assert.equal(result.code, 2);
  assert.match(
    new TextDecoder().decode(result.stderr),
    /without PROXY_API_KEY.*Set PROXY_API_KEY=/s,
  );
});

Deno.test("request bodies over MAX_BODY_BYTES are 413 request_too_large", async (t) => {
  const { post, call, upstream } = proxySetup(
    { MAX_BODY_BYTES: "1000" },
    () => DIALECTS.openai.text(["ok"]),
  );
  await t.step("declared by content-length", async () => {
    const response = await post({
      ...BODY,
      messages: [{ role: "user", content: "x".repeat(2000) }],
    });
    assert.equal(response.status, 413);
    assert.equal((await response.json()).error.type, "request_too_large");
  });
  await t.step("streamed without a length", async () => {
    const chunks = [
      encoder.encode('{"model":"claude-opus-5-5","messages":[],"max_tokens":1,"x":"'),
      encoder.encode("y".repeat(5000)),
      encoder.encode('"}'),
    ];
    const response = await call("/v1/messages", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: ReadableStream.from(chunks),
    });
    assert.equal(response.status, 413);
    await response.body?.cancel();
  });
  await t.step("invalid UTF-8 is a 400", async () => {
    const response = await call("/v1/messages", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]),
    });
    assert.equal(response.status, 400);
    assert.match((await response.json()).error.message, /UTF-8/);
  });
  assert.equal(upstream.requests.length, 0);
});

/** An upstream whose response never comes, or stops after some chunks. */
function stalling(chunks: string[] = [], headers = true) {
  return {
    fetch: (_input: RequestInfo | URL, init?: RequestInit) =>
      new Promise<Response>((resolve, reject) => {
        init?.signal?.addEventListener("abort", () => reject(init.signal!.reason), { once: true });
        if (!headers) return;
        let i = 0;
        resolve(
          new Response(
            new ReadableStream({
              pull(controller) {
                if (i < chunks.length) controller.enqueue(encoder.encode(chunks[i++]));
                else return new Promise(() => {}); // silent forever
              },
            }),
            { headers: { "content-type": "text/event-stream" } },
          ),
        );
      }),
  };
}

Deno.test("upstream timeouts", async (t) => {
  const limits = {
    UPSTREAM_CONNECT_TIMEOUT_MS: "30",
    UPSTREAM_IDLE_TIMEOUT_MS: "30",
    UPSTREAM_TOTAL_TIMEOUT_MS: "5000",
  };
  const handlerFor = (upstream: ReturnType<typeof stalling>) =>
    createHandler(testConfig(limits), {
      fetch: upstream.fetch,
      logger: createLogger({ write: () => {} }),
    });
  const request = (stream: boolean) =>
    new Request("http://proxy/v1/messages", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...BODY, stream }),
    });
  await t.step("no headers in time → 504 timeout_error", async () => {
    const response = await handlerFor(stalling([], false))(request(true));
    assert.equal(response.status, 504);
    assert.equal((await response.json()).error.type, "timeout_error");
  });
  const chunk =
    'data: {"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}\n\n';
  await t.step("silence after the first byte → event: error timeout_error", async () => {
    const response = await handlerFor(stalling([chunk]))(request(true));
    assert.equal(response.status, 200);
    const events = parseClientSse(await response.text());
    assertValidStream(events);
    const last = events.at(-1) as StreamEvent & { type: "error" };
    assert.equal(last.error.type, "timeout_error");
    assert.match(last.error.message, /silent for 30 ms/);
  });
  await t.step("silence on a non-streaming request → 504", async () => {
    const response = await handlerFor(stalling([chunk]))(request(false));
    assert.equal(response.status, 504);
    assert.equal((await response.json()).error.type, "timeout_error");
  });
  await t.step("total time → the stream ends with timeout_error", async () => {
    const chatty = {
      fetch: (_input: RequestInfo | URL, init?: RequestInit) =>
        Promise.resolve(
          new Response(
            new ReadableStream({
              async pull(controller) {
                await new Promise((r) => setTimeout(r, 5));
                if (init?.signal?.aborted) return controller.error(init.signal.reason);
                controller.enqueue(encoder.encode(chunk));
              },
            }),
          ),
        ),
    };
    const handler = createHandler(testConfig({ ...limits, UPSTREAM_TOTAL_TIMEOUT_MS: "60" }), {
      fetch: chatty.fetch,
      logger: createLogger({ write: () => {} }),
    });
    const events = parseClientSse(await (await handler(request(true))).text());
    assertValidStream(events);
    const last = events.at(-1) as StreamEvent & { type: "error" };
    assert.equal(last.error.type, "timeout_error");
    assert.match(last.error.message, /exceeded 60 ms/);
  });
});

Deno.test("faults over real sockets", async (t) => {
  await t.step("a refused connection → 502 api_error (the SDKs retry 5xx)", async () => {
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (probe.addr as Deno.NetAddr).port;
    probe.close();
    const handler = createHandler(testConfig({ OPENAI_BASE_URL: `http://127.0.0.1:${port}/v1` }), {
      logger: createLogger({ write: () => {} }),
    });
    const response = await handler(
      new Request("http://proxy/v1/messages", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(BODY),
      }),
    );
    assert.equal(response.status, 502);
    assert.match((await response.json()).error.message, /unreachable/);
  });

  await t.step(
    "a reset after some chunks → the chunks so far, then event: error, no message_stop",
    async () => {
      const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
        let sent = 0;
        return new Response(
          new ReadableStream({
            pull(controller) {
              if (sent++ < 2) {
                controller.enqueue(
                  encoder.encode(
                    `data: {"choices":[{"index":0,"delta":{"content":"part${sent} "},"finish_reason":null}]}\n\n`,
                  ),
                );
              } else controller.error(new Error("boom"));
            },
          }),
          { headers: { "content-type": "text/event-stream" } },
        );
      });
      try {
        const handler = createHandler(
          testConfig({ OPENAI_BASE_URL: `http://127.0.0.1:${server.addr.port}/v1` }),
          {
            logger: createLogger({ write: () => {} }),
          },
        );
        const response = await handler(
          new Request("http://proxy/v1/messages", {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ ...BODY, stream: true }),
          }),
        );
        const events = parseClientSse(await response.text());
        assertValidStream(events);
        const text = events.flatMap((e) =>
          e.type === "content_block_delta" && e.delta.type === "text_delta" ? [e.delta.text] : []
        ).join("");
        assert.equal(text, "part1 part2 ");
        assert.equal(events.at(-1)!.type, "error");
        assert.ok(!events.some((e) => e.type === "message_stop"));
      } finally {
        await server.shutdown();
      }
    },
  );

  await t.step("a client that hangs up aborts the upstream request within 100 ms", async () => {
    let closed!: (at: number) => void;
    const upstreamClosed = new Promise<number>((resolve) => (closed = resolve));
    const fake = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
      request.signal.addEventListener("abort", () => closed(performance.now()));
      return new Response(
        new ReadableStream({
          start(controller) {
            controller.enqueue(
              encoder.encode(
                'data: {"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}\n\n',
              ),
            );
          },
          cancel: () => closed(performance.now()),
        }),
        { headers: { "content-type": "text/event-stream" } },
      );
    });
    const proxy = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      createHandler(testConfig({ OPENAI_BASE_URL: `http://127.0.0.1:${fake.addr.port}/v1` }), {
        logger: createLogger({ write: () => {} }),
      }),
    );
    try {
      const client = new AbortController();
      const response = await fetch(`http://127.0.0.1:${proxy.addr.port}/v1/messages`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ...BODY, stream: true }),
        signal: client.signal,
      });
      const reader = response.body!.getReader();
      let seen = "";
      while (!seen.includes("text_delta")) {
        seen += new TextDecoder().decode((await reader.read()).value);
      }
      const hangUp = performance.now();
      client.abort();
      await reader.cancel().catch(() => {});
      const at = await upstreamClosed;
      assert.ok(
        at - hangUp < 100,
        `upstream closed ${Math.round(at - hangUp)} ms after the hang-up`,
      );
    } finally {
      await proxy.shutdown();
      await fake.shutdown();
    }
  });
});

Deno.test("a slow client holds the upstream back (backpressure, no unbounded queue)", async () => {
  let produced = 0;
  const upstream = {
    fetch: () =>
      Promise.resolve(
        new Response(
          new ReadableStream({
            pull(controller) {
              produced++;
              controller.enqueue(
                encoder.encode(
                  `data: {"choices":[{"index":0,"delta":{"content":"${
                    "x".repeat(1000)
                  }"},"finish_reason":null}]}\n\n`,
                ),
              );
            },
          }, { highWaterMark: 0 }),
        ),
      ),
  };
  const handler = createHandler(testConfig(), {
    fetch: upstream.fetch,
    logger: createLogger({ write: () => {} }),
  });
  const response = await handler(
    new Request("http://proxy/v1/messages", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...BODY, stream: true }),
    }),
  );
  const reader = response.body!.getReader();
  await reader.read();
  // Let every stage fill its queue: a few turns of the event loop, no timing involved.
  for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 0));
  const settled = produced;
  for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 0));
  assert.equal(produced, settled, "the upstream stops when nobody reads");
  assert.ok(produced < 20, `only ${produced} upstream chunks buffered`);
  await reader.cancel();
});

Deno.test("malformed upstream data never crashes the proxy", async (t) => {
  const cases: Array<[string, string[], string]> = [
    ["a malformed SSE line", [
      "garbage without a field name\n\n",
      'data: {"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}\n\n',
      "data: [DONE]\n\n",
    ], "message_stop"],
    ["an invalid JSON chunk", ["data: {oops\n\n"], "error"],
    ["unknown fields and chunk kinds", [
      'data: {"mystery":true,"choices":[{"index":0,"delta":{"new_field":1,"content":"ok"},"finish_reason":"stop"}]}\n\n',
      "event: weird\ndata: {}\n\n",
      "data: [DONE]\n\n",
    ], "message_stop"],
    ["tool arguments cut off at max tokens", [
      'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"Write","arguments":"{\\"content\\": \\"unfinis"}}]},"finish_reason":null}]}\n\n',
      'data: {"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}\n\n',
      "data: [DONE]\n\n",
    ], "error"], // never completed into a shorter call (F22)
    ["a stream that ends mid-call", [
      'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","type":"function","function":{"name":"W","arguments":"{\\"a\\":"}}]},"finish_reason":null}]}\n\n',
    ], "error"],
  ];
  for (const [name, chunks, end] of cases) {
    await t.step(name, async () => {
      const raw = {
        fetch: () =>
          Promise.resolve(new Response(ReadableStream.from(chunks.map((c) => encoder.encode(c))))),
      };
      const handler = createHandler(testConfig(), {
        fetch: raw.fetch,
        logger: createLogger({ write: () => {} }),
      });
      for (const stream of [true, false]) {
        const response = await handler(
          new Request("http://proxy/v1/messages", {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ ...BODY, stream }),
          }),
        );
        if (stream) {
          const events = parseClientSse(await response.text());
          assertValidStream(events);
          assert.equal(events.at(-1)!.type, end);
        } else {
          assert.equal(
            response.status === 200,
            end === "message_stop",
            `status ${response.status}`,
          );
          const body = await response.json();
          if (response.status === 200) {
            for (const block of body.content) {
              if (block.type === "tool_use") assert.equal(typeof block.input, "object");
            }
          } else assert.equal(body.type, "error");
        }
      }
    });
  }
});

Deno.test("no secret appears in any log line or response of a DEBUG session, even when echoed", async () => {
  const secrets = {
    OPENAI_API_KEY: "sk-openai-secret-value-123456",
    GEMINI_API_KEY: "AIzaGeminiSecretValue1234567890abcdef",
    AZURE_OPENAI_API_KEY: "azure-secret-value-abcdef",
    ANTHROPIC_API_KEY: "sk-ant-secret-value-987654",
    PROXY_API_KEY: "proxy-secret-value-424242",
    SIGNATURE_SECRET: "signature-secret-value-777",
  };
  const env = {
    ...secrets,
    DEBUG: "true",
    FALLBACK_PROVIDERS: "google,azure,anthropic",
    AZURE_OPENAI_ENDPOINT: "https://res.openai.azure.com",
    MAX_RETRIES: "0",
  };
  const echo = (r: Recorded) =>
    `echo ${r.headers.get("authorization") ?? ""} ${r.headers.get("x-goog-api-key") ?? ""} ${
      r.headers.get("api-key") ?? ""
    } ${r.headers.get("x-api-key") ?? ""}`;
  const { post, call, lines } = proxySetup(env, (r, i) => {
    if (i % 3 === 0) return { status: 503, error: { error: { message: echo(r) } } };
    if (i % 3 === 1) {
      return { chunks: [{ error: { message: echo(r), code: "server_error" } }], done: false };
    }
    return DIALECTS.openai.text([echo(r)]);
  });
  const texts: string[] = [];
  const auth = { "x-api-key": secrets.PROXY_API_KEY };
  for (let i = 0; i < 6; i++) {
    const response = await post({ ...BODY, stream: i % 2 === 0 }, auth);
    texts.push(await response.text());
  }
  texts.push(await (await call("/", {})).text());
  texts.push(await (await call("/v1/models", { headers: auth })).text());
  texts.push(await (await post(BODY, { "x-api-key": "wrong" })).text());
  const everything = [...texts, ...lines].join("\n");
  assert.match(lines.join("\n"), /upstream \w+ request:/, "debug lines were written");
  for (const [name, value] of Object.entries(secrets)) {
    const at = everything.indexOf(value);
    assert.ok(at < 0, `${name} leaked: ${everything.slice(Math.max(0, at - 300), at + 50)}`);
  }
});
