import assert from "node:assert/strict";
import { runFuzz } from "./fuzz.ts";

Deno.test("fuzz slice: mutated requests get a 200 or an Anthropic 4xx, never a proxy 5xx", async (t) => {
  for (const seed of [1, 7, 3]) {
    await t.step(`seed ${seed}: 150 cases`, async () => {
      const result = await runFuzz(150, seed);
      assert.deepEqual(result.failures, []);
      assert.ok((result.status[200] ?? 0) > 0, "some mutations are still valid requests");
      assert.ok((result.status[400] ?? 0) > 0, "some are rejected");
    });
  }
});
