/**
 * A request with ~130,000 content blocks (a 4 MB body) is answered, never a 500: no code path
 * spreads a client-sized array into a call's arguments (`push(...blocks)` overflows the stack).
 */
import assert from "node:assert/strict";
import { createFakeUpstream, DIALECTS } from "../bench/fake_upstream.ts";
import { createLogger } from "../lib/server/log.ts";
import { createHandler } from "../lib/server/handler.ts";
import { testConfig } from "./helpers.ts";

const N = 130_000;
const blocks = () => Array.from({ length: N }, () => ({ type: "text", text: "a" }));

const REQUESTS: Record<string, [provider: "openai" | "google", body: unknown]> = {
  "a user message of 130,000 text blocks": ["openai", {
    messages: [{ role: "user", content: blocks() }],
  }],
  "a tool result of 130,000 blocks, answering a call": ["openai", {
    messages: [
      { role: "user", content: "list" },
      {
        role: "assistant",
        content: [{ type: "tool_use", id: "toolu_1", name: "Ls", input: {} }],
      },
      {
        role: "user",
        content: [{ type: "tool_result", tool_use_id: "toolu_1", content: blocks() }],
      },
    ],
  }],
  "a tool result of 130,000 blocks answering no call": ["openai", {
    messages: [{
      role: "user",
      content: [{ type: "tool_result", tool_use_id: "toolu_x", content: blocks() }],
    }],
  }],
  "two user messages of 130,000 blocks in a row (merged for Gemini)": ["google", {
    messages: [
      { role: "user", content: blocks() },
      { role: "user", content: blocks() },
    ],
  }],
};

Deno.test("130,000 content blocks: answered, never a 500", async (t) => {
  for (const [name, [provider, request]] of Object.entries(REQUESTS)) {
    await t.step(name, async () => {
      const upstream = createFakeUpstream(() => DIALECTS[provider].text(["ok"]));
      const lines: string[] = [];
      const handler = createHandler(
        testConfig({
          PREFERRED_PROVIDER: provider,
          GEMINI_API_KEY: "AIzaSyTestGeminiKey0123456789abcdef",
        }),
        { fetch: upstream.fetch, logger: createLogger({ write: (l) => lines.push(l) }) },
      );
      const response = await handler(
        new Request("http://proxy/v1/messages", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            model: "claude-sonnet-4-5",
            max_tokens: 5,
            tools: [{ name: "Ls", input_schema: { type: "object" } }],
            ...(request as object),
          }),
        }),
      );
      const body = await response.text();
      assert.ok(
        response.status === 200 || response.status === 400,
        `status ${response.status}: ${body.slice(0, 300)} ${lines.at(-1)}`,
      );
    });
  }
});
