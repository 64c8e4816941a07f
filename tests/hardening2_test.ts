/** The second hardening round: what an outside attack on the running server found. */
import assert from "node:assert/strict";
import { chunk, DIALECTS, type Reply, usageChunk } from "../bench/fake_upstream.ts";
import type { StreamEvent } from "../lib/anthropic/schema.ts";
import { assertValidStream, parseClientSse, testConfig } from "./helpers.ts";
import { BODY, proxySetup } from "./proxy_setup.ts";

Deno.test("an Azure deployment name is a plain name: anything else is a 400", async (t) => {
  const { post, upstream } = proxySetup({
    PREFERRED_PROVIDER: "azure",
    AZURE_OPENAI_API_KEY: "azure-test-key-0001",
    AZURE_OPENAI_ENDPOINT: "http://azure.fake",
  }, () => DIALECTS.azure.text(["ok"]));
  for (const model of ["azure/..", "azure/.", "azure/../../x", "azure/a/b", "azure/%2e%2e"]) {
    await t.step(model, async () => {
      const response = await post({ ...BODY, model });
      assert.equal(response.status, 400);
      const body = await response.json();
      assert.equal(body.error.type, "invalid_request_error");
      assert.match(body.error.message, /not an Azure deployment name/);
    });
  }
  assert.equal(upstream.requests.length, 0, "nothing went upstream");
  await t.step("a plain name goes to its deployment", async () => {
    const response = await post({ ...BODY, model: "azure/gpt-4.1_prod-2" });
    assert.equal(response.status, 200);
    await response.body?.cancel();
    assert.match(upstream.requests[0].url, /\/openai\/deployments\/gpt-4\.1_prod-2\/chat\//);
  });
});

Deno.test("a web page cannot use a keyless local proxy (CSRF, DNS rebinding)", async (t) => {
  const { handler, upstream } = proxySetup({}, () => DIALECTS.openai.text(["ok"]));
  const send = (headers: Record<string, string>, method = "POST") =>
    handler(
      new Request("http://localhost:8082/v1/messages", {
        method,
        headers,
        body: method === "POST" ? JSON.stringify(BODY) : undefined,
      }),
    );
  const json = { "content-type": "application/json" };
  const cases: Array<[string, Record<string, string>, number, string?]> = [
    [
      "a foreign Origin",
      { ...json, host: "localhost:8082", origin: "http://attacker.example" },
      403,
    ],
    ["a rebound Host", { ...json, host: "attacker.example:8082" }, 403],
    ["a rebound Host with its own Origin", {
      ...json,
      host: "attacker.example:8082",
      origin: "http://attacker.example:8082",
    }, 403],
    ["a text/plain body", { "content-type": "text/plain", host: "127.0.0.1:8082" }, 415],
    ["a form body", { "content-type": "application/x-www-form-urlencoded" }, 415],
    ["no content-type", {}, 415],
  ];
  for (const [name, headers, status] of cases) {
    await t.step(`${name} → ${status}, nothing upstream`, async () => {
      const response = await send(headers);
      assert.equal(response.status, status);
      const body = await response.json();
      assert.equal(body.error.type, status === 403 ? "permission_error" : "invalid_request_error");
      assert.equal(upstream.requests.length, 0);
    });
  }
  await t.step("a preflight from a foreign origin is refused", async () => {
    const response = await send({
      host: "localhost:8082",
      origin: "http://attacker.example",
      "access-control-request-method": "POST",
    }, "OPTIONS");
    assert.equal(response.status, 403);
    assert.equal(response.headers.get("access-control-allow-origin"), null);
    await response.body?.cancel();
  });
  await t.step("what Claude Code and the SDKs send is served", async () => {
    for (const host of ["localhost:8082", "127.0.0.1:8082", "[::1]:8082", "localhost"]) {
      const response = await send({ ...json, host, "x-api-key": "anything" });
      assert.equal(response.status, 200, host);
      await response.body?.cancel();
    }
    const charset = await send({ "content-type": "application/json; charset=utf-8" });
    assert.equal(charset.status, 200);
    await charset.body?.cancel();
  });
});

Deno.test("CORS_ORIGINS and ALLOWED_HOSTS let chosen pages and names in", async (t) => {
  const { handler } = proxySetup({
    CORS_ORIGINS: "https://app.example.com/",
    ALLOWED_HOSTS: "ccproxy.internal",
  }, () => DIALECTS.openai.text(["ok"]));
  const origin = "https://app.example.com";
  await t.step("a preflight from an allowed origin is answered", async () => {
    const response = await handler(
      new Request("http://localhost:8082/v1/messages", {
        method: "OPTIONS",
        headers: {
          host: "localhost:8082",
          origin,
          "access-control-request-method": "POST",
          "access-control-request-headers": "content-type, x-api-key",
        },
      }),
    );
    assert.equal(response.status, 204);
    assert.equal(response.headers.get("access-control-allow-origin"), origin);
    assert.match(response.headers.get("access-control-allow-headers")!, /x-api-key/);
  });
  await t.step("its request is served, readable by the page", async () => {
    const response = await handler(
      new Request("http://ccproxy.internal:8082/v1/messages", {
        method: "POST",
        headers: { host: "ccproxy.internal:8082", origin, "content-type": "application/json" },
        body: JSON.stringify(BODY),
      }),
    );
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("access-control-allow-origin"), origin);
    await response.body?.cancel();
  });
  await t.step("a bad value is refused at start", () => {
    assert.throws(() => testConfig({ CORS_ORIGINS: "*" }), /CORS_ORIGINS takes/);
  });
});

Deno.test("the Host rule is off where the listen address is unknown (deno serve, Deploy)", async () => {
  const { post } = proxySetup({}, () => DIALECTS.openai.text(["ok"]), { checkHost: false });
  const response = await post(BODY, { host: "my-proxy.deno.dev" });
  assert.equal(response.status, 200);
  await response.body?.cancel();
});

/** A Chat answer with one tool call whose arguments arrive as `fragments`. */
function toolArgsReply(fragments: string[]): Reply {
  return {
    chunks: [
      chunk({ role: "assistant", content: null }),
      chunk({
        tool_calls: [{
          index: 0,
          id: "call_0",
          type: "function",
          function: { name: "Write", arguments: "" },
        }],
      }),
      ...fragments.map((f) => chunk({ tool_calls: [{ index: 0, function: { arguments: f } }] })),
      chunk({}, "tool_calls"),
      usageChunk(40, 20),
    ],
  };
}

Deno.test("a tool call's arguments always parse, the same way streaming or not", async (t) => {
  const answer = async (fragments: string[], stream: boolean) => {
    const { post } = proxySetup({}, () => toolArgsReply(fragments));
    return await post({ ...BODY, stream });
  };
  await t.step("text after the arguments' object is dropped (stream)", async () => {
    const response = await answer(['{"a": 1}', "} not json ,,"], true);
    const events = parseClientSse(await response.text());
    assertValidStream(events);
    const json = events.flatMap((e) =>
      e.type === "content_block_delta" && e.delta.type === "input_json_delta"
        ? [e.delta.partial_json]
        : []
    ).join("");
    assert.deepEqual(JSON.parse(json), { a: 1 });
    assert.equal(events.at(-1)?.type, "message_stop");
  });
  await t.step("… and not streaming", async () => {
    const message = await (await answer(['{"a": 1}', "} not json ,,"], false)).json();
    assert.deepEqual(message.content[0].input, { a: 1 });
  });
  await t.step("arguments split anywhere: the end is found inside a fragment", async () => {
    const message = await (await answer(['{"p": "}{\\"', '"}}]', "x"], false)).json();
    assert.deepEqual(message.content[0].input, { p: '}{"' });
  });
  await t.step(
    "arguments that cannot be an object: an error naming the tool (stream)",
    async () => {
      const response = await answer(['{"a": 1 2', "}"], true);
      const events = parseClientSse(await response.text());
      assertValidStream(events);
      const last = events.at(-1) as StreamEvent & { type: "error" };
      assert.equal(last.type, "error");
      assert.match(last.error.message, /arguments of tool "Write" are not a JSON object/);
    },
  );
  await t.step("… and the same error not streaming", async () => {
    const response = await answer(['{"a": 1 2', "}"], false);
    assert.ok(response.status >= 500);
    const body = await response.json();
    assert.match(body.error.message, /arguments of tool "Write" are not a JSON object/);
  });
  await t.step("an array is not an object either", async () => {
    const response = await answer(["[1, 2]"], false);
    assert.match((await response.json()).error.message, /tool "Write"/);
  });
});

Deno.test("a client that half-closes or hangs up is a 499 in the log, never a 500", async () => {
  const { handler, lines } = proxySetup({}, () => DIALECTS.openai.text(["ok"]));
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  const body = JSON.stringify({
    ...BODY,
    messages: [{ role: "user", content: "x".repeat(100_000) }],
  });
  const statuses: string[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
      const head =
        `POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n` +
        `content-length: ${body.length}\r\n\r\n`;
      const bytes = new TextEncoder().encode(head + body);
      for (let sent = 0; sent < bytes.length;) sent += await conn.write(bytes.subarray(sent));
      await conn.closeWrite(); // socket.end(): the request is complete, the answer still wanted
      const answer = await new Response(conn.readable).text();
      statuses.push(answer.split(" ")[1]);
    }
  } finally {
    await server.shutdown();
  }
  // Deno drops a body that was not read before the half-close: 499 then; 200 when it was read.
  for (const status of statuses) assert.ok(status === "200" || status === "499", statuses.join());
  assert.ok(!lines.some((l) => /internal error| 500 /.test(l)), lines.join("\n"));
});
