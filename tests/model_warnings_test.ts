/** A model of another provider in BIG/MIDDLE/SMALL_MODEL is a warning (`modelWarnings`). */
import assert from "node:assert/strict";
import { modelWarnings } from "../lib/cli/startup.ts";
import { testConfig } from "./helpers.ts";

const GEMINI = { GEMINI_API_KEY: "AIzaSyTestGeminiKey0123456789abcdef" };
const ANTHROPIC = { ANTHROPIC_API_KEY: "sk-ant-test-anthropic-key-0001" };

Deno.test("modelWarnings() names each model that plainly belongs to another provider", async (t) => {
  const warned = (env: Record<string, string>) => modelWarnings(testConfig(env));
  await t.step("gpt-* and the o-series on google", () => {
    const warnings = warned({
      PREFERRED_PROVIDER: "google",
      ...GEMINI,
      BIG_MODEL: "gpt-4.1",
      MIDDLE_MODEL: "o4-mini",
      SMALL_MODEL: "gemini-2.5-flash",
    });
    assert.equal(warnings.length, 2, warnings.join("\n"));
    assert.match(warnings[0], /BIG_MODEL \(or GEMINI_BIG_MODEL\) is "gpt-4\.1", an OpenAI model/);
    assert.match(warnings[1], /MIDDLE_MODEL .* "o4-mini"/);
  });
  await t.step("OpenAI or Gemini names on anthropic", () => {
    const warnings = warned({
      PREFERRED_PROVIDER: "anthropic",
      ...ANTHROPIC,
      BIG_MODEL: "gpt-4.1",
    });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /not a Claude model, but it goes to anthropic/);
  });
  await t.step("gemini-* on openai and on a fallback's own mapping", () => {
    assert.match(
      warned({ BIG_MODEL: "gemini-2.5-pro" })[0],
      /a Gemini model, but it goes to openai/,
    );
    const fallback = warned({
      FALLBACK_PROVIDERS: "google",
      ...GEMINI,
      GEMINI_SMALL_MODEL: "gpt-4.1-mini",
    });
    assert.equal(fallback.length, 1);
    assert.match(fallback[0], /^warning: GEMINI_SMALL_MODEL is "gpt-4\.1-mini"/);
  });
  await t.step("no warning for each provider's own models, defaults or a gateway", () => {
    assert.deepEqual(warned({}), []);
    assert.deepEqual(warned({ PREFERRED_PROVIDER: "google", ...GEMINI }), []);
    assert.deepEqual(warned({ PREFERRED_PROVIDER: "anthropic", ...ANTHROPIC }), []);
    assert.deepEqual(warned({ BIG_MODEL: "o3", SMALL_MODEL: "gpt-4.1-mini" }), []);
    assert.deepEqual(warned({ BIG_MODEL: "gpt-4.1-mini-omni" }), []);
    // Behind a gateway of one's own any name may be served.
    assert.deepEqual(
      warned({ OPENAI_BASE_URL: "http://127.0.0.1:4000/v1", BIG_MODEL: "gemini-2.5-pro" }),
      [],
    );
  });
});
