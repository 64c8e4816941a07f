/** The command line and the `deno serve` / Deploy entry, run as real processes. */
import assert from "node:assert/strict";
import entry from "../main.ts";
import { denoServe } from "./helpers.ts";

const CLI = new URL("../cli.ts", import.meta.url).pathname;

function run(
  args: string[],
  env: Record<string, string>,
  cwd?: string,
  read = "--allow-read",
) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net=127.0.0.1", "--allow-env", read, CLI, ...args],
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
    assert.match(
      banner,
      new RegExp(
        // Unknown models (from-env, small-dotenv) have a 128k window: Claude Code is told it.
        `ANTHROPIC_BASE_URL=http://127\\.0\\.0\\.1:${port} ANTHROPIC_AUTH_TOKEN=ccproxy ` +
          "CLAUDE_CODE_AUTO_COMPACT_WINDOW=128000 claude",
      ),
    );
    assert.ok(!banner.includes("sk-from-dotenv-file"));
    assert.ok(!banner.includes("Detected export default"), "no Deno warning before the banner");
    assert.match(banner, /^ccproxy \d/, "ccproxy's own lines only");
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
      {
        remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 50000 },
      } as Deno.ServeHandlerInfo,
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

Deno.test("main: under `deno serve` without PROXY_API_KEY a peer that is not loopback is refused", async () => {
  // deno serve's default --host is 0.0.0.0, whatever HOST says, so the default export judges the
  // peer. The tests may only reach 127.0.0.1: the peer's address is given, not dialled.
  const saved = Deno.env.get("OPENAI_API_KEY");
  Deno.env.set("OPENAI_API_KEY", "sk-test-default-export");
  const peer = (hostname: string) =>
    ({ remoteAddr: { transport: "tcp", hostname, port: 50000 } }) as Deno.ServeHandlerInfo;
  const body = JSON.stringify({
    model: "claude-sonnet-4-5",
    max_tokens: 5,
    messages: [{ role: "user", content: "x" }],
  });
  try {
    for (const hostname of ["192.0.2.7", "10.1.2.3", "2001:db8::1"]) {
      const response = await entry.fetch!(
        new Request("http://127.0.0.1:8082/v1/messages", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body,
        }),
        peer(hostname),
      );
      assert.equal(response.status, 403, hostname);
      assert.match(
        await response.text(),
        /"permission_error".*PROXY_API_KEY.*--host 127\.0\.0\.1/,
      );
    }
    for (const hostname of ["127.0.0.1", "::1", "::ffff:127.0.0.1"]) {
      const response = await entry.fetch!(
        new Request("http://127.0.0.1:8082/health"),
        peer(hostname),
      );
      assert.equal(response.status, 200, hostname);
      await response.body?.cancel();
    }
  } finally {
    if (saved === undefined) Deno.env.delete("OPENAI_API_KEY");
    else Deno.env.set("OPENAI_API_KEY", saved);
  }
});

/** Starts the command line and collects standard error until `until` appears (or it exits). */
async function startUntil(
  args: string[],
  env: Record<string, string>,
  until: RegExp,
  cwd?: string,
  read?: string,
) {
  const child = run(args, env, cwd, read).spawn();
  const lines = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!until.test(text)) {
    const next = await lines.read();
    if (next.done) break;
    text += next.value;
  }
  return {
    text,
    /** Kills a server that is still serving; one that refused to start exits by itself. */
    async stop() {
      try {
        if (!text.includes("cannot start")) child.kill();
      } catch {
        // already exited
      }
      await lines.cancel();
      await child.stdout.cancel();
      return await child.status;
    },
  };
}

Deno.test("main: a port in use is one line and exit 2, no stack trace", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = taken.addr.port;
    const result = await run(
      ["--port", String(port)],
      { OPENAI_API_KEY: "sk-test-port", USAGE_DB: "off" },
      await Deno.makeTempDir(),
    ).output();
    assert.equal(result.code, 2);
    assert.equal(
      new TextDecoder().decode(result.stderr),
      `ccproxy: cannot listen on 127.0.0.1:${port}: address already in use\n`,
    );
  } finally {
    taken.close();
  }
});

Deno.test("main: an --env-file that cannot be read is an error, not silence", async (t) => {
  const dir = await Deno.makeTempDir();
  // Without the check the proxy would start anyway: wait for either outcome, never hang.
  const outcome = /cannot start|claude\n/;
  await t.step("missing", async () => {
    const server = await startUntil(
      ["--env-file", "nope.env"],
      { OPENAI_API_KEY: "sk-test" },
      outcome,
      dir,
    );
    const status = await server.stop();
    assert.equal(server.text, "ccproxy: cannot start:\n  --env-file nope.env: no such file\n");
    assert.equal(status.code, 2);
  });
  await t.step("not readable with the process's permissions", async () => {
    Deno.writeTextFileSync(`${dir}/other.env`, "BIG_MODEL=x\n");
    const server = await startUntil(
      ["--env-file", "other.env"],
      { OPENAI_API_KEY: "sk-test" },
      outcome,
      dir,
      "--allow-read=.env",
    );
    const status = await server.stop();
    assert.match(
      server.text,
      /^ccproxy: cannot start:\n {2}--env-file other\.env: not readable with this process's permissions \(add --allow-read=other\.env\)\n$/,
    );
    assert.equal(status.code, 2);
  });
  await t.step("the default .env may be missing", async () => {
    const server = await startUntil(
      ["--port", "0"],
      { OPENAI_API_KEY: "sk-test" },
      /claude\n/,
      dir,
    );
    assert.match(server.text, /listening on/);
    await server.stop();
  });
});

Deno.test("main: the .env.example placeholder key left in place is a warning at start", async () => {
  const dir = await Deno.makeTempDir();
  Deno.copyFileSync(new URL("../.env.example", import.meta.url), `${dir}/.env`);
  const server = await startUntil(["--port", "0"], {}, /claude\n/, dir);
  try {
    assert.match(
      server.text,
      /^ccproxy: warning: OPENAI_API_KEY is still the placeholder "sk-\.\.\." from \.env\.example: put your openai key in \.env, or every request to openai fails\n/,
    );
    assert.match(server.text, /listening on/);
  } finally {
    await server.stop();
  }
});

Deno.test("main: .env.example copied, the README's Gemini line maps to Gemini models", async () => {
  const dir = await Deno.makeTempDir();
  Deno.copyFileSync(new URL("../.env.example", import.meta.url), `${dir}/.env`);
  const out = await run(["check"], {
    PREFERRED_PROVIDER: "google",
    GEMINI_API_KEY: "AIzaSyTestGeminiKey0123456789abcdef",
  }, dir).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, text);
  assert.match(text, /gemini-2\.5-pro/);
  assert.match(text, /gemini-2\.5-flash/);
  assert.doesNotMatch(text, /gpt-4\.1/);
  assert.doesNotMatch(text, /warning/);
});

Deno.test("main: a model of another provider is a warning at start and in check", async () => {
  const out = await run(["check"], {
    PREFERRED_PROVIDER: "google",
    GEMINI_API_KEY: "AIzaSyTestGeminiKey0123456789abcdef",
    BIG_MODEL: "gpt-4.1",
  }).output();
  assert.match(
    new TextDecoder().decode(out.stderr),
    /^ccproxy: warning: BIG_MODEL \(or GEMINI_BIG_MODEL\) is "gpt-4\.1", an OpenAI model, but it goes to google: every request for it fails; unset it for google's default or name a google model\n/,
  );
});
