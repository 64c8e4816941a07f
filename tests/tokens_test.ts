/** count_tokens in bounded work: pieces, a sampled budget, and turns for the event loop. */
import assert from "node:assert/strict";
import { createHandler } from "../lib/server/handler.ts";
import { createLogger } from "../lib/server/log.ts";
import { countTexts, countTokens, EXACT_CHARS, MAX_PIECE, pieces } from "../lib/routing/tokens.ts";
import { testConfig } from "./helpers.ts";

/** `n` pseudo-random CJK characters (seeded: every run counts the same text). */
function cjk(n: number, seed = 1): string {
  const codes = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    codes[i] = 0x4e00 + (seed % 20_000);
  }
  let text = "";
  for (let i = 0; i < n; i += 10_000) text += String.fromCharCode(...codes.slice(i, i + 10_000));
  return text;
}

Deno.test("pieces() cuts long runs into bounded pieces, before whitespace, keeping every character", async (t) => {
  await t.step("a run without spaces", () => {
    const text = "日".repeat(1_000);
    const list = [...pieces(text, MAX_PIECE)];
    assert.ok(list.every((p) => p.length <= MAX_PIECE));
    assert.equal(list.join(""), text);
  });
  await t.step("prose is cut before a space", () => {
    const text = "hello world ".repeat(100);
    const list = [...pieces(text, 64)];
    assert.ok(list.slice(1).every((p) => p.startsWith(" ")));
    assert.equal(list.join(""), text);
  });
  await t.step("a surrogate pair is never split", () => {
    const text = "😀".repeat(300);
    for (const piece of pieces(text, 5)) {
      assert.ok(!/^[\udc00-\udfff]|[\ud800-\udbff]$/.test(piece));
    }
  });
});

Deno.test("countTexts() tokenizes bounded pieces and at most about EXACT_CHARS characters", async () => {
  const seen: number[] = [];
  const counter = (text: string) => {
    seen.push(text.length);
    return text.length;
  };
  const text = "中".repeat(3_000_000);
  const estimate = await countTexts([text, "short"], counter);
  assert.ok(Math.max(...seen) <= MAX_PIECE, "no piece longer than MAX_PIECE");
  const tokenized = seen.reduce((a, b) => a + b, 0);
  assert.ok(tokenized <= EXACT_CHARS + MAX_PIECE, `tokenized ${tokenized} characters`);
  // The sample is scaled to the whole: one token per character here.
  assert.ok(Math.abs(estimate - 3_000_005) < 3_000_005 * 0.01, `estimate ${estimate}`);
  assert.equal(await countTexts(["a few words"], counter), 11, "a small input is counted exactly");
});

Deno.test("countTokens() lets the event loop run while it counts", async () => {
  const request = {
    model: "gpt-4.1",
    messages: [{ role: "user" as const, content: cjk(400_000) }],
  };
  await countTokens(
    { model: "gpt-4.1", messages: [{ role: "user", content: "warm up" }] },
    "gpt-4.1",
  );
  let turns = 0;
  const timer = setInterval(() => turns++, 0);
  try {
    assert.ok(await countTokens(request, "gpt-4.1") > 100_000);
  } finally {
    clearInterval(timer);
  }
  assert.ok(turns > 0, "timers ran during the count");
});

Deno.test("count_tokens answers huge CJK input with a count, not a 500 or a stall", async (t) => {
  const handler = createHandler(testConfig(), {
    fetch: () => Promise.reject(new Error("no upstream call expected")),
    logger: createLogger({ write: () => {} }),
  });
  const count = (content: string) =>
    handler(
      new Request("http://localhost/v1/messages/count_tokens", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "claude-sonnet-4-5", messages: [{ role: "user", content }] }),
      }),
    );
  for (
    const [name, text] of [["40,000 日", "日".repeat(40_000)], ["10 MB of CJK", cjk(3_400_000)]]
  ) {
    await t.step(name, async () => {
      const started = performance.now();
      const response = await count(text);
      assert.equal(response.status, 200);
      const { input_tokens } = await response.json();
      assert.ok(
        input_tokens >= text.length / 4 && input_tokens <= text.length * 3,
        `${input_tokens}`,
      );
      // Generous: the old whole-run tokenizer took minutes here (or overflowed its stack).
      assert.ok(performance.now() - started < 20_000);
    });
  }
});
