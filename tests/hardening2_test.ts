/** The second hardening round: what an outside attack on the running server found. */
import assert from "node:assert/strict";
import { createFakeUpstream, DIALECTS, type Recorded, type Reply } from "../bench/fake_upstream.ts";
import { secretsOf } from "../lib/config.ts";
import { createLogger } from "../lib/server/log.ts";
import { createHandler, type HandlerOptions } from "../lib/server/handler.ts";
import { testConfig } from "./helpers.ts";

const BODY = {
  model: "claude-opus-5-5",
  max_tokens: 100,
  messages: [{ role: "user", content: "hi" }],
};

function setup(
  env: Record<string, string>,
  responder: (r: Recorded, i: number) => Reply,
  options: HandlerOptions = {},
) {
  const upstream = createFakeUpstream(responder);
  const config = testConfig(env);
  const lines: string[] = [];
  const handler = createHandler(config, {
    fetch: upstream.fetch,
    logger: createLogger({ secrets: secretsOf(config), write: (l) => lines.push(l) }),
    ...options,
  });
  const post = (body: unknown = BODY, headers: Record<string, string> = {}) =>
    handler(
      new Request("http://localhost:8082/v1/messages", {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: typeof body === "string" ? body : JSON.stringify(body),
      }),
    );
  return { upstream, handler, post, lines, config };
}

Deno.test("an Azure deployment name is a plain name: anything else is a 400", async (t) => {
  const { post, upstream } = setup({
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
