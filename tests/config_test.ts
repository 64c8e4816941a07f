import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "../lib/config.ts";
import { envFileWarnings } from "../lib/env_file.ts";

Deno.test("loadConfig() applies the documented defaults", () => {
  const config = loadConfig({ OPENAI_API_KEY: "sk-x" });
  assert.equal(config.preferredProvider, "openai");
  assert.equal(config.openaiBaseUrl, "https://api.openai.com/v1");
  assert.equal(config.bigModel, "gpt-4.1");
  assert.equal(config.smallModel, "gpt-4.1-mini");
  assert.equal(config.middleModel, undefined);
  assert.equal(config.host, "127.0.0.1");
  assert.equal(config.port, 8082);
  assert.equal(config.debug, false);
  assert.equal(config.azureApiVersion, "2024-10-21");
});

Deno.test("loadConfig() reads every variable", () => {
  const config = loadConfig({
    PREFERRED_PROVIDER: "Azure",
    AZURE_OPENAI_API_KEY: "az",
    AZURE_OPENAI_ENDPOINT: "https://res.openai.azure.com/",
    BIG_MODEL: "big",
    MIDDLE_MODEL: "mid",
    SMALL_MODEL: "small",
    HOST: "0.0.0.0",
    PORT: "9000",
    DEBUG: "true",
  });
  assert.equal(config.preferredProvider, "azure");
  assert.equal(config.azureEndpoint, "https://res.openai.azure.com");
  assert.deepEqual([config.bigModel, config.middleModel, config.smallModel], [
    "big",
    "mid",
    "small",
  ]);
  assert.equal(config.host, "0.0.0.0");
  assert.equal(config.port, 9000);
  assert.equal(config.debug, true);
});

Deno.test("loadConfig() needs no key for a local OpenAI-compatible server", () => {
  const config = loadConfig({ OPENAI_BASE_URL: "http://localhost:11434/v1" });
  assert.equal(config.openaiApiKey, "");
});

Deno.test("loadConfig() reports every bad value, one line each", async (t) => {
  const cases: Array<[Record<string, string>, RegExp[]]> = [
    [{ PREFERRED_PROVIDER: "bedrock", OPENAI_API_KEY: "k" }, [
      /^PREFERRED_PROVIDER takes one of: openai, google, azure, anthropic$/,
    ]],
    [{ PORT: "eighty", OPENAI_API_KEY: "k" }, [/^PORT takes a number/]],
    [{ PORT: "70000", OPENAI_API_KEY: "k" }, [/^PORT takes a number/]],
    [{}, [/^OPENAI_API_KEY is required when PREFERRED_PROVIDER is openai$/]],
    [{ PREFERRED_PROVIDER: "google" }, [/^GEMINI_API_KEY is required/]],
    [{ PREFERRED_PROVIDER: "azure" }, [
      /^AZURE_OPENAI_API_KEY is required/,
      /^AZURE_OPENAI_ENDPOINT is required/,
    ]],
    [{ OPENAI_BASE_URL: "not a url", DEBUG: "maybe", OPENAI_API_KEY: "k" }, [
      /^OPENAI_BASE_URL takes/,
      /^DEBUG takes/,
    ]],
    // Timers overflow past 2^31 − 1 ms and fire at once: every request would time out.
    [{ UPSTREAM_TOTAL_TIMEOUT_MS: "2147483648", OPENAI_API_KEY: "k" }, [
      /^UPSTREAM_TOTAL_TIMEOUT_MS takes .* up to 2147483647$/,
    ]],
    [{
      UPSTREAM_CONNECT_TIMEOUT_MS: "99999999999",
      UPSTREAM_IDLE_TIMEOUT_MS: "2147483648",
      MAX_RETRY_DELAY_MS: "3000000000",
      OPENAI_API_KEY: "k",
    }, [/^MAX_RETRY_DELAY_MS takes/, /^UPSTREAM_CONNECT_TIMEOUT_MS/, /^UPSTREAM_IDLE_TIMEOUT_MS/]],
    [{ OPENAI_BASE_URL: "ftp://x", GEMINI_BASE_URL: "file:///etc", OPENAI_API_KEY: "k" }, [
      /^OPENAI_BASE_URL takes an http\(s\) URL$/,
      /^GEMINI_BASE_URL takes an http\(s\) URL$/,
    ]],
    [{
      ANTHROPIC_UPSTREAM_URL: "javascript:alert(1)",
      AZURE_OPENAI_ENDPOINT: "x:y",
      OPENAI_API_KEY: "k",
    }, [
      /^ANTHROPIC_UPSTREAM_URL takes/,
      /^AZURE_OPENAI_ENDPOINT takes/,
    ]],
    [{
      PROXY_API_KEY: "long-enough-key-0001,alice=long-enough-key-0002,bob=short-key",
      OPENAI_API_KEY: "k",
    }, [
      /^PROXY_API_KEY takes keys of at least 16 characters/,
    ]],
  ];
  for (const [env, expected] of cases) {
    await t.step(JSON.stringify(env), () => {
      const error = (() => {
        try {
          loadConfig(env);
        } catch (e) {
          return e;
        }
      })();
      assert.ok(error instanceof ConfigError);
      assert.equal(error.problems.length, expected.length, error.problems.join("\n"));
      expected.forEach((pattern, i) => assert.match(error.problems[i], pattern));
    });
  }
});

Deno.test("loadConfig() reads fallback providers and per-provider models", () => {
  const config = loadConfig({
    PREFERRED_PROVIDER: "gemini",
    GEMINI_API_KEY: "gm",
    FALLBACK_PROVIDERS: "openai, anthropic,google",
    OPENAI_API_KEY: "sk",
    ANTHROPIC_API_KEY: "sk-ant",
    GEMINI_BIG_MODEL: "gemini-3-pro-preview",
    OPENAI_SMALL_MODEL: "gpt-5-mini",
    MAX_RETRIES: "4",
    MAX_RETRY_DELAY_MS: "500",
  });
  assert.equal(config.preferredProvider, "google");
  assert.deepEqual(config.fallbackProviders, ["openai", "anthropic"]);
  assert.equal(config.models.google.big, "gemini-3-pro-preview");
  assert.equal(config.models.google.small, "gemini-2.5-flash");
  assert.equal(config.models.openai.small, "gpt-5-mini");
  assert.equal(config.models.anthropic.big, undefined, "anthropic passes Claude names on");
  assert.equal(config.maxRetries, 4);
  assert.equal(config.maxRetryDelayMs, 500);
  assert.equal(config.anthropicBaseUrl, "https://api.anthropic.com");
});

Deno.test("loadConfig(): BIG_MODEL and friends belong to the preferred provider only", () => {
  const config = loadConfig({
    OPENAI_API_KEY: "sk",
    BIG_MODEL: "o3",
    OPENAI_BIG_MODEL: "ignored-for-preferred",
    FALLBACK_PROVIDERS: "google",
    GEMINI_API_KEY: "gm",
  });
  assert.equal(config.models.openai.big, "o3");
  assert.equal(config.models.google.big, "gemini-2.5-pro");
});

Deno.test("loadConfig() checks the fallback providers' keys and values", () => {
  const error = (() => {
    try {
      loadConfig({
        OPENAI_API_KEY: "sk",
        FALLBACK_PROVIDERS: "google,azure,bedrock",
        MAX_RETRIES: "many",
      });
    } catch (e) {
      return e;
    }
  })();
  assert.ok(error instanceof ConfigError);
  assert.deepEqual(error.problems, [
    "FALLBACK_PROVIDERS takes a comma list of: openai, google, azure, anthropic",
    "MAX_RETRIES takes a whole number from 0 to 99",
  ]);
  const missing = (() => {
    try {
      loadConfig({ OPENAI_API_KEY: "sk", FALLBACK_PROVIDERS: "google,azure" });
    } catch (e) {
      return e;
    }
  })();
  assert.ok(missing instanceof ConfigError);
  assert.deepEqual(missing.problems, [
    "GEMINI_API_KEY is required when FALLBACK_PROVIDERS names google",
    "AZURE_OPENAI_API_KEY is required when FALLBACK_PROVIDERS names azure",
    "AZURE_OPENAI_ENDPOINT is required when FALLBACK_PROVIDERS names azure (https://<resource>.openai.azure.com)",
  ]);
});

Deno.test("loadConfig() takes the largest timer and any http(s) URL", () => {
  const config = loadConfig({
    UPSTREAM_TOTAL_TIMEOUT_MS: "2147483647",
    OPENAI_BASE_URL: "HTTP://localhost:8000/v1",
    PROXY_API_KEY: "exactly-16-chars",
  });
  assert.equal(config.timeouts.totalMs, 2_147_483_647);
  assert.deepEqual(config.proxyApiKeys, ["exactly-16-chars"]);
});

Deno.test("envFileWarnings() names each line the parser would drop or misread", () => {
  const text = [
    "# comment",
    "OPENAI_API_KEY=sk-secret-value",
    "BIG_MODEL",
    'SMALL_MODEL="gpt-4.1-mini',
    "DEBUG=true",
    'SYSTEM="two',
    'lines"',
    "HOST='127.0.0.1",
    "",
  ].join("\n");
  assert.deepEqual(envFileWarnings(text), [
    "line 3: BIG_MODEL has no '=' (ignored)",
    'line 4: SMALL_MODEL has an unterminated " quote',
    "line 8: HOST has an unterminated ' quote",
  ]);
});
