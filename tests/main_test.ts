/** The command line and the `deno serve` / Deploy entry, run as real processes. */
import assert from "node:assert/strict";
import entry from "../main.ts";
import { denoServe } from "./helpers.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

function run(args: string[], env: Record<string, string>, cwd?: string) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net=127.0.0.1", "--allow-env", "--allow-read", MAIN, ...args],
    env: { NO_COLOR: "1", ...env },
    clearEnv: true,
    cwd,
    stdout: "piped",
    stderr: "piped",
  });
}

Deno.test("main: --version and --help", async () => {
  const version = await run(["--version"], {}).output();
  assert.equal(version.code, 0);
  assert.match(new TextDecoder().decode(version.stdout), /^\d+\.\d+\.\d+\n$/);
  const help = await run(["--help"], {}).output();
  assert.equal(help.code, 0);
  const text = new TextDecoder().decode(help.stdout);
  for (
    const word of [
      "--port",
      "--host",
      "--env-file",
      "PREFERRED_PROVIDER",
      "BIG_MODEL",
      "SMALL_MODEL",
    ]
  ) {
    assert.ok(text.includes(word), word);
  }
});

Deno.test("main: a bad configuration exits 2 with one line per problem", async () => {
  const result = await run([], { PREFERRED_PROVIDER: "nope", PORT: "x" }, await Deno.makeTempDir())
    .output();
  assert.equal(result.code, 2);
  const stderr = new TextDecoder().decode(result.stderr);
  assert.match(stderr, /PREFERRED_PROVIDER takes one of/);
  assert.match(stderr, /PORT takes a number/);
});

Deno.test("main: serves with .env underneath the environment and prints the banner", async () => {
  const dir = await Deno.makeTempDir();
  Deno.writeTextFileSync(
    `${dir}/.env`,
    "OPENAI_API_KEY=sk-from-dotenv-file\nBIG_MODEL=from-dotenv\nSMALL_MODEL=small-dotenv\n",
  );
  const child = run(["--port", "0"], { BIG_MODEL: "from-env" }, dir).spawn();
  const lines = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let banner = "";
  while (!banner.includes("claude")) {
    const next = await lines.read();
    if (next.done) throw new Error(`ccproxy did not start: ${banner}`);
    banner += next.value;
  }
  const port = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(banner)![1];
  try {
    assert.match(banner, /opus → from-env/, "the environment wins over .env");
    assert.match(banner, /haiku → small-dotenv/, ".env fills what the environment lacks");
    assert.match(banner, new RegExp(`ANTHROPIC_BASE_URL=http://127\\.0\\.0\\.1:${port} claude`));
    assert.ok(!banner.includes("sk-from-dotenv-file"));
    const response = await fetch(`http://127.0.0.1:${port}/health`);
    assert.deepEqual(await response.json(), { status: "ok" });
  } finally {
    child.kill();
    await lines.cancel();
    await child.status;
    await child.stdout.cancel();
  }
});

Deno.test("main: the default export serves requests (deno serve, Deno Deploy)", async () => {
  const saved = Deno.env.get("OPENAI_API_KEY");
  Deno.env.set("OPENAI_API_KEY", "sk-test-default-export");
  try {
    const response = await entry.fetch!(
      new Request("http://deploy/health"),
      {} as Deno.ServeHandlerInfo,
    );
    assert.deepEqual(await response.json(), { status: "ok" });
    assert.match(response.headers.get("request-id")!, /^req_/);
  } finally {
    if (saved === undefined) Deno.env.delete("OPENAI_API_KEY");
    else Deno.env.set("OPENAI_API_KEY", saved);
  }
});

Deno.test("main: under `deno serve` only the runtime serves (no second listener)", async () => {
  const server = await denoServe({ OPENAI_API_KEY: "sk-test-serve" });
  try {
    const response = await fetch(`http://127.0.0.1:${server.port}/health`);
    assert.deepEqual(await response.json(), { status: "ok" });
    assert.ok(
      !server.text.includes("ccproxy 0."),
      "the command line did not start a server of its own",
    );
  } finally {
    await server.close();
  }
});
