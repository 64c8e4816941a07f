/** The server as a real process: its banner, its `.env` warnings, connections and shutdown. */
import assert from "node:assert/strict";
import {
  createFakeUpstream,
  responsesDialect,
  serveFake,
  textReply,
} from "../bench/fake_upstream.ts";

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

/**
 * Starts main.ts with `env` (and `.env` text and other `files` in its working directory) and waits
 * for the banner. `permissions` replaces the default `--allow-read` (besides net and env).
 */
export async function startServer(
  env: Record<string, string>,
  options: {
    dotenv?: string;
    shell?: string;
    files?: Record<string, string>;
    permissions?: string[];
  } = {},
): Promise<Running> {
  const cwd = await Deno.makeTempDir();
  if (options.dotenv !== undefined) Deno.writeTextFileSync(`${cwd}/.env`, options.dotenv);
  for (const [name, text] of Object.entries(options.files ?? {})) {
    Deno.writeTextFileSync(`${cwd}/${name}`, text);
  }
  const deno = [
    Deno.execPath(),
    "run",
    "--allow-net=127.0.0.1,[::1]",
    "--allow-env",
    ...options.permissions ?? ["--allow-read"],
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
    // The banner's later lines come once the model catalog has loaded, after the server listens.
    await server.waitFor(/ANTHROPIC_BASE_URL=http:\/\/\[::1\]:\d+ /);
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

/** Reads `conn` to its end; the text it got. Fails (instead of hanging) after `boundMs`. */
async function readToEnd(conn: Deno.Conn, boundMs = 15_000): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("the server kept the connection open")), boundMs);
  });
  try {
    return await Promise.race([new Response(conn.readable).text(), bound]);
  } finally {
    clearTimeout(timer);
  }
}

async function connect(port: number, send = ""): Promise<Deno.Conn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  if (send) await conn.write(new TextEncoder().encode(send));
  return conn;
}

Deno.test("main: a connection that does not send a complete request in time is closed", async (t) => {
  const server = await startServer({ CLIENT_TIMEOUT_MS: "300" });
  try {
    await t.step("nothing at all", async () => {
      assert.equal(await readToEnd(await connect(server.port)), "");
    });
    await t.step("half a header", async () => {
      assert.equal(
        await readToEnd(await connect(server.port, "POST /v1/messages HTTP/1.1\r\nho")),
        "",
      );
    });
    await t.step("headers, then no body: 408", async () => {
      const conn = await connect(
        server.port,
        "POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n" +
          "content-length: 100\r\n\r\n{",
      );
      assert.match(
        await readToEnd(conn),
        /^HTTP\/1\.1 408[^]*the body did not arrive within 600 ms/,
      );
    });
    await t.step("an idle keep-alive connection, after its answer", async () => {
      const conn = await connect(server.port, "GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n");
      assert.match(await readToEnd(conn), /^HTTP\/1\.1 200[^]*"ok"/);
    });
  } finally {
    await server.stop();
  }
});

Deno.test("main: MAX_CONNECTIONS bounds the connections held; one more gets a 503", async () => {
  const server = await startServer({ MAX_CONNECTIONS: "2" });
  const held = [await connect(server.port), await connect(server.port)];
  try {
    // The first two are admitted before the third arrives: one request on each proves it.
    for (const conn of held) {
      await conn.write(new TextEncoder().encode("GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"));
      const buffer = new Uint8Array(1024);
      assert.match(
        new TextDecoder().decode(buffer.subarray(0, (await conn.read(buffer))!)),
        / 200 /,
      );
    }
    const third = await readToEnd(await connect(server.port));
    assert.match(third, /^HTTP\/1\.1 503[^]*"overloaded_error"/);
    for (const conn of held) conn.close();
    // Once they are gone, new connections are served again.
    let health = 0;
    while (health !== 200) {
      const response = await fetch(`http://${server.authority}/health`);
      health = response.status;
      await response.body?.cancel();
    }
  } finally {
    await server.stop();
  }
});

Deno.test("main: out of file descriptors, it sheds connections and serves again after", async () => {
  // 128 descriptors; 300 idle sockets would have ended the process (os error 24).
  const server = await startServer({ CLIENT_TIMEOUT_MS: "30000" }, { shell: "ulimit -n 128" });
  const conns: Deno.Conn[] = [];
  try {
    for (let i = 0; i < 300; i++) conns.push(await connect(server.port));
    // A request on the last socket proves the gate got that far: shed (503) or, later, served.
    const last = conns.at(-1)!;
    await last.write(new TextEncoder().encode("GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"));
    for (const conn of conns) conn.close();
    let health = 0;
    while (health !== 200) {
      const response = await fetch(`http://${server.authority}/health`).catch(() => undefined);
      health = response?.status ?? 0;
      await response?.body?.cancel();
    }
    assert.doesNotMatch(server.stderr(), /Uncaught|os error 24\)$/m);
    assert.match(server.stderr(), /holding at most \d+ connections/);
  } finally {
    for (const conn of conns) {
      try {
        conn.close();
      } catch { /* closed */ }
    }
    await server.stop();
  }
});

Deno.test("main: SIGTERM stops accepting, cuts open streams off after the grace with an error event, exits 0", async () => {
  // An upstream that starts answering and then never ends.
  const encoder = new TextEncoder();
  const upstream = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    const first = { choices: [{ index: 0, delta: { role: "assistant", content: "Hello" } }] };
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode(`data: ${JSON.stringify(first)}\n\n`));
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  });
  const server = await startServer({
    OPENAI_BASE_URL: `http://127.0.0.1:${upstream.addr.port}/v1`,
    SHUTDOWN_GRACE_MS: "200",
    USAGE_DB: "off",
  });
  try {
    const response = await fetch(`http://${server.authority}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "claude-sonnet-4-5",
        max_tokens: 50,
        stream: true,
        messages: [{ role: "user", content: "hi" }],
      }),
    });
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("Hello")) text += (await reader.read()).value ?? "";
    server.child.kill("SIGTERM");
    for (let next = await reader.read(); !next.done; next = await reader.read()) text += next.value;
    assert.match(text, /event: error\ndata: \{"type":"error","error":\{"type":"overloaded_error"/);
    assert.doesNotMatch(text, /message_stop/);
    const status = await server.child.status;
    assert.equal(status.code, 0);
    await server.waitFor(/stopped on SIGTERM/);
    assert.match(server.stderr(), /POST \/v1\/messages .* 200 .*overloaded_error/);
    assert.match(
      server.stderr(),
      /ccproxy: stopped on SIGTERM: 1 answer\(s\) open, 0 finished, 1 cut off after 200 ms/,
    );
    // It no longer accepts connections.
    await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: server.port }));
  } finally {
    await server.stop();
    await upstream.shutdown();
  }
});

Deno.test("main: SIGINT with nothing open exits 0 at once, with one line", async () => {
  const server = await startServer({ USAGE_DB: "off" });
  server.child.kill("SIGINT");
  assert.equal((await server.child.status).code, 0);
  await server.waitFor(/stopped on SIGINT: 0 answer\(s\) open/);
  await server.stop();
});

Deno.test("main: a ROUTER_SCRIPT runs with the README's permissions (read access to it only)", async () => {
  const upstream = createFakeUpstream((request) =>
    request.url.includes("/responses") ? responsesDialect().text(["ok"]) : textReply(["ok"])
  );
  const fake = serveFake(upstream);
  const server = await startServer({ ROUTER_SCRIPT: "./router.ts", OPENAI_BASE_URL: fake.url }, {
    // The README's router (its type import is erased: nothing is fetched).
    files: {
      "router.ts": `import type { RouterContext, RouterRequest } from "jsr:@x/ccproxy/mod";
export function route(request: RouterRequest, context: RouterContext): string | undefined {
  if (context.tokens > 100_000) return "gemini/gemini-2.5-pro";
  return "openai/o3";
}
`,
    },
    permissions: ["--allow-read=.env,.ccproxy,router.ts", "--allow-write=.ccproxy"],
  });
  try {
    const response = await fetch(`http://${server.authority}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "claude-sonnet-4-5",
        max_tokens: 5,
        messages: [{ role: "user", content: "x" }],
      }),
    });
    assert.equal(response.status, 200, await response.text());
    assert.equal(upstream.requests.at(-1)?.body.model, "o3");
    await server.waitFor(/→ openai\/o3 route=script/);
  } finally {
    await server.stop();
    await fake.close();
  }
});

Deno.test("main: a request Deno's parser refuses (bad Content-Length) gets an Anthropic error body", async () => {
  const server = await startServer({ USAGE_DB: "off" });
  try {
    const conn = await connect(
      server.port,
      "POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n" +
        "content-length: abc\r\n\r\n{}",
    );
    const answer = await readToEnd(conn);
    assert.match(answer, /^HTTP\/1\.1 400 /);
    const body = JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4));
    assert.equal(body.error.type, "invalid_request_error");
    assert.match(body.error.message, /malformed HTTP/);
  } finally {
    await server.stop();
  }
});
