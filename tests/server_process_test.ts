/** The server as a real process: its banner, its `.env` warnings, connections and shutdown. */
import assert from "node:assert/strict";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** A running `main.ts` (its standard error collected); `stop()` kills it if still running. */
export interface Running {
  child: Deno.ChildProcess;
  /** Host and port as a URL authority. */
  authority: string;
  port: number;
  /** Standard error so far (the banner, warnings, log lines). */
  stderr(): string;
  /** Resolves when standard error contains `pattern`. */
  waitFor(pattern: RegExp): Promise<string>;
  stop(): Promise<Deno.CommandStatus>;
}

/** Starts main.ts with `env` (and `.env` text in its working directory) and waits for the banner. */
export async function startServer(
  env: Record<string, string>,
  options: { dotenv?: string; shell?: string } = {},
): Promise<Running> {
  const cwd = await Deno.makeTempDir();
  if (options.dotenv !== undefined) Deno.writeTextFileSync(`${cwd}/.env`, options.dotenv);
  const deno = [
    Deno.execPath(),
    "run",
    "--allow-net=127.0.0.1,[::1]",
    "--allow-env",
    "--allow-read",
    MAIN,
    "--port",
    "0",
  ];
  const child = new Deno.Command(options.shell ? "bash" : deno[0], {
    args: options.shell ? ["-c", `${options.shell}; exec "$@"`, "bash", ...deno] : deno.slice(1),
    env: { NO_COLOR: "1", OPENAI_API_KEY: "sk-test-openai-key-0001", ...env },
    clearEnv: true,
    cwd,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let text = "";
  let ended = false;
  const waiters: Array<() => void> = [];
  const pump = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      for (const wake of waiters.splice(0)) wake();
    }
    ended = true;
    for (const wake of waiters.splice(0)) wake();
  })();
  const waitFor = async (pattern: RegExp) => {
    while (!pattern.test(text)) {
      if (ended) throw new Error(`not found: ${pattern}\n${text}`);
      await new Promise<void>((wake) => waiters.push(wake));
    }
    return pattern.exec(text)![0];
  };
  const found = await waitFor(/listening on http:\/\/(\S+):(\d+)/);
  const [, host, port] = /listening on http:\/\/(\S+):(\d+)/.exec(found)!;
  let status: Deno.CommandStatus | undefined;
  return {
    child,
    authority: `${host}:${port}`,
    port: Number(port),
    stderr: () => text,
    waitFor,
    stop: async () => {
      if (!status) {
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
        status = await child.status;
        await pump;
      }
      return status;
    },
  };
}

Deno.test("main: an IPv6 address is printed in brackets, and works as printed", async () => {
  const server = await startServer({ HOST: "::1" });
  try {
    assert.match(server.stderr(), /listening on http:\/\/\[::1\]:\d+/);
    assert.match(server.stderr(), /ANTHROPIC_BASE_URL=http:\/\/\[::1\]:\d+ /);
    // The tests may only reach 127.0.0.1: a child process with [::1] access fetches the URL.
    const url = `http://${server.authority}/health`;
    const fetched = await new Deno.Command(Deno.execPath(), {
      args: ["eval", `console.log(await (await fetch(${JSON.stringify(url)})).text())`],
      env: { NO_COLOR: "1" },
      stdout: "piped",
    }).output();
    assert.equal(new TextDecoder().decode(fetched.stdout).trim(), '{"status":"ok"}');
  } finally {
    await server.stop();
  }
});

Deno.test("main: a .env line without '=' or with an unterminated quote is a warning naming it", async () => {
  const server = await startServer({}, {
    dotenv: "DEBUG=false\nSMALL_MODEL\nBIG_MODEL='gpt-4.1\n",
  });
  try {
    assert.match(server.stderr(), /warning: \.env line 2: SMALL_MODEL has no '='/);
    assert.match(server.stderr(), /warning: \.env line 3: BIG_MODEL has an unterminated ' quote/);
  } finally {
    await server.stop();
  }
});
