/**
 * Distribution: the release workflow, the compile task, the Dockerfile and the tasks agree on
 * targets and permissions; the Deploy entry refuses to run open; `ccproxy check --ping` tells a
 * working provider from a failing one. (Compiling itself needs the internet: not run here.)
 */
import assert from "node:assert/strict";
import { createFakeUpstream, DIALECTS, serveFake } from "../bench/fake_upstream.ts";
import meta from "../deno.json" with { type: "json" };
import { compileArgs, PERMISSIONS, TARGETS } from "../scripts/compile.ts";
import { denoServe } from "./helpers.ts";

const root = new URL("../", import.meta.url);
const read = (path: string) => Deno.readTextFileSync(new URL(path, root));
const CLI = new URL("cli.ts", root).pathname;

Deno.test("release workflow, compile task, Dockerfile and tasks agree", async (t) => {
  const workflow = read(".github/workflows/release.yml");
  const ci = read(".ci/run");
  await t.step(
    "the workflow builds on a version tag, checks, compiles, checksums, releases, publishes",
    () => {
      assert.match(workflow, /on:\s*\n\s*push:\s*\n\s*tags: \["v\*"\]/);
      for (
        const step of [
          "deno task ok",
          "deno task compile",
          "sha256sum ccproxy-*",
          "gh release create",
          "deno publish",
        ]
      ) {
        assert.ok(workflow.includes(step), step);
      }
      assert.match(workflow, /id-token: write/);
    },
  );
  await t.step("the workflow and CI use the same Deno version", () => {
    const ciVersion = /DENO_VERSION=(\S+)/.exec(ci)![1];
    assert.match(workflow, new RegExp(`deno-version: ${ciVersion.replaceAll(".", "\\.")}`));
  });
  await t.step("every target gets a binary named after it, with the narrowest permissions", () => {
    assert.deepEqual([...TARGETS].sort(), [
      "aarch64-apple-darwin",
      "aarch64-unknown-linux-gnu",
      "x86_64-apple-darwin",
      "x86_64-pc-windows-msvc",
      "x86_64-unknown-linux-gnu",
    ]);
    for (const target of TARGETS) {
      const args = compileArgs(target);
      assert.equal(args[args.indexOf("--target") + 1], target);
      assert.match(
        args[args.indexOf("--output") + 1],
        new RegExp(`^dist/ccproxy-${target}(\\.exe)?$`),
      );
      assert.ok(!args.includes("-A") && !args.includes("--allow-all"));
      assert.deepEqual(args.filter((a) => a.startsWith("--allow")), [...PERMISSIONS]);
      // The router worker is a blob made from a static import: nothing to --include.
      assert.ok(!args.includes("--include"));
      // The binary's entry has no default export: no "Detected export default" warning.
      assert.equal(args.at(-1), "cli.ts");
    }
    assert.match(meta.tasks.compile, /scripts\/compile\.ts/);
  });
  await t.step(
    "start, dev and the Dockerfile run with the same permissions as the binaries",
    () => {
      const flags = (command: string) =>
        command.split(/\s+/).filter((a) => a.startsWith("--allow") || a === "-A");
      assert.deepEqual(flags(meta.tasks.start), [...PERMISSIONS]);
      assert.deepEqual(flags(meta.tasks.dev), [...PERMISSIONS]);
      for (const task of [meta.tasks.start, meta.tasks.dev]) assert.match(task, / cli\.ts$/);
      const cmd = JSON.parse(/^CMD (.+)$/m.exec(read("Dockerfile"))![1]) as string[];
      assert.deepEqual(cmd.filter((a) => a.startsWith("--allow")), [...PERMISSIONS]);
      assert.match(read("Dockerfile"), /^USER deno$/m);
      assert.match(read("Dockerfile"), /^FROM denoland\/deno:/m);
    },
  );
  await t.step("the package publishes cli.ts as its entry, mod.ts as the library", () => {
    // `deno run jsr:@x/ccproxy` runs cli.ts: no default export, so no Deno serve warning.
    assert.deepEqual(meta.exports, { ".": "./cli.ts", "./mod": "./mod.ts" });
    for (
      const path of ["cli.ts", "main.ts", "mod.ts", "lib/", "README.md", "LICENSE", "deno.json"]
    ) {
      assert.ok(meta.publish.include.includes(path), path);
    }
    assert.ok(!meta.publish.include.some((p) => p.startsWith("tests") || p.startsWith("bench")));
  });
});

Deno.test("Deno Deploy: without PROXY_API_KEY every request is refused with what to set", async () => {
  const server = await denoServe({
    OPENAI_API_KEY: "sk-deploy-test",
    DENO_DEPLOYMENT_ID: "test-deployment",
  });
  try {
    const response = await fetch(`http://127.0.0.1:${server.port}/v1/messages`, {
      method: "POST",
      body: JSON.stringify({ model: "claude-opus-5-5", max_tokens: 1, messages: [] }),
    });
    assert.equal(response.status, 500);
    const body = await response.json();
    assert.match(body.error.message, /on Deno Deploy without PROXY_API_KEY/);
  } finally {
    await server.close();
  }
});

Deno.test("ccproxy check --ping tells a working provider from a failing one", async () => {
  const upstream = createFakeUpstream((r) =>
    r.url.includes("generativelanguage") || r.url.includes(":streamGenerateContent")
      ? DIALECTS.google.error(400, "API key not valid. Please pass a valid API key.")
      : r.body.model === "wrong-big"
      ? DIALECTS.openai.error(404, "The model `wrong-big` does not exist")
      : DIALECTS.openai.text(["pong"])
  );
  const fake = serveFake(upstream);
  try {
    const result = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net=127.0.0.1",
        "--allow-env",
        "--allow-read=.env",
        CLI,
        "check",
        "--ping",
      ],
      env: {
        NO_COLOR: "1",
        OPENAI_API_KEY: "sk-check",
        OPENAI_BASE_URL: `${fake.url}/v1`,
        BIG_MODEL: "wrong-big",
        FALLBACK_PROVIDERS: "google",
        GEMINI_API_KEY: "bad-gemini-key",
        GEMINI_BASE_URL: fake.url,
        MAX_RETRIES: "0",
      },
      clearEnv: true,
      cwd: await Deno.makeTempDir(),
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(result.stdout);
    assert.equal(result.code, 1, out);
    assert.match(out, /configuration is valid/);
    assert.match(out, /claude-opus-5-5 → openai\/wrong-big → google\/gemini-2\.5-pro/);
    // Every configured model is pinged, so a wrong big model is caught, not only the small one.
    assert.match(
      out,
      /ping openai\/wrong-big \(opus\/sonnet\): FAILED \(404 not_found_error: openai returned 404: The model `wrong-big` does not exist\)/,
    );
    assert.match(out, /ping openai\/gpt-4\.1-mini \(haiku\): ok \(\d+ ms\)/);
    assert.match(out, /ping google\/gemini-2\.5-pro \(opus\/sonnet\): FAILED \(400 /);
    assert.match(
      out,
      /ping google\/gemini-2\.5-flash \(haiku\): FAILED \(400 invalid_request_error: gemini returned 400: API key not valid/,
    );
  } finally {
    await fake.close();
  }
});
