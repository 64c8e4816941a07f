/**
 * The connection gate in front of `Deno.serve` (used by `main.ts`). `Deno.serve` keeps any
 * connection open for as long as the client likes, even one that never sends a byte, and ends
 * the process when accepting fails for want of file descriptors. The gate accepts the clients
 * itself and relays each to a `Deno.serve` on a private loopback port, so that it can:
 *
 * - hold at most `maxConnections` client connections: one more is answered with a 503
 *   `overloaded_error` and closed; when the process runs out of descriptors anyway, the gate
 *   lowers its limit, pauses accepting for a moment, and keeps serving;
 * - close a connection that has not sent a complete request head within `headerTimeoutMs` of
 *   opening, or of its previous answer (an idle keep-alive connection);
 * - stop accepting at shutdown while the requests in flight finish.
 *
 * A client connection costs three descriptors (the client's, and both ends of the private one).
 *
 * @module
 */

/** Options of {@link serveGated}. */
export interface GateOptions {
  /** Listen address. */
  hostname: string;
  /** Listen port (0: any free port). */
  port: number;
  /** Most client connections held at once. */
  maxConnections: number;
  /** Longest wait for a complete request head, in ms. */
  headerTimeoutMs: number;
  /** Called once listening, with the address. */
  onListen?: (addr: Deno.NetAddr) => void;
  /** Where the gate says what it did (a connection refused, the limit lowered). */
  log?: (line: string) => void;
}

/** A running gate. */
export interface Gate {
  /** The public address. */
  addr: Deno.NetAddr;
  /** Client connections open now. */
  readonly connections: number;
  /** Requests being answered now. */
  readonly inFlight: number;
  /** Stops accepting; open connections go on. Resolves when the listener is closed. */
  stopAccepting(): Promise<void>;
  /** Resolves when no request is in flight (at once when none is). */
  idle(): Promise<void>;
  /** Closes everything: the listener, every connection, the private server. */
  close(): Promise<void>;
}

const OVERLOADED_BODY = JSON.stringify({
  type: "error",
  error: { type: "overloaded_error", message: "overloaded: too many open connections" },
});
const OVERLOADED = new TextEncoder().encode(
  "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n" +
    `connection: close\r\ncontent-length: ${OVERLOADED_BODY.length}\r\n\r\n${OVERLOADED_BODY}`,
);

/** Serves `handler` behind the gate. Throws like `Deno.listen` (address in use, …). */
export function serveGated(handler: Deno.ServeHandler, options: GateOptions): Gate {
  const listener = Deno.listen({ hostname: options.hostname, port: options.port });
  const links = new Map<number, Link>();
  const log = options.log ?? (() => {});
  // Each connection holds three descriptors, and one more upstream while it is answered.
  const descriptors = descriptorLimit();
  let limit = Math.min(
    options.maxConnections,
    descriptors ? Math.max(8, Math.floor((descriptors - 64) / 4)) : Infinity,
  );
  if (limit < options.maxConnections) {
    log(`ccproxy: ${descriptors} file descriptors allowed: holding at most ${limit} connections`);
  }
  let inFlight = 0;
  let accepting = true;
  let idleWaiters: Array<() => void> = [];
  const settle = () => {
    if (inFlight === 0) { for (const wake of idleWaiters.splice(0)) wake(); }
  };

  const relayed: Deno.ServeHandler<Deno.NetAddr> = (request, info) => {
    const link = links.get(info.remoteAddr.port);
    inFlight++;
    link?.begin();
    const end = () => {
      inFlight--;
      link?.end();
      settle();
    };
    info.completed.then(end, end);
    // The handler sees the client's own address, not the gate's private connection.
    const client = link ? { remoteAddr: link.client.remoteAddr, completed: info.completed } : info;
    return handler(request, client as Deno.ServeHandlerInfo);
  };
  let inner: Deno.HttpServer<Deno.NetAddr>;
  const startInner = () => {
    inner = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, relayed);
    // Its accept can run out of descriptors only when the gate's limit is above them (the limit
    // could not be read): then it is started again, with a lower limit, instead of crashing.
    inner.finished.catch((error) => {
      log(`ccproxy: internal server stopped (${error}); starting it again`);
      lower();
      if (accepting) startInner();
    });
  };
  startInner();

  class Link {
    #inflight = 0;
    #timer: ReturnType<typeof setTimeout> | undefined;
    #closed = false;
    /** Settles when the relay is over. */
    done: Promise<void> = Promise.resolve();
    constructor(readonly client: Deno.Conn, readonly upstream: Deno.Conn) {
      this.#arm();
    }
    begin() {
      this.#inflight++;
      clearTimeout(this.#timer);
    }
    end() {
      if (--this.#inflight === 0 && !this.#closed) this.#arm();
    }
    #arm() {
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => this.close(), options.headerTimeoutMs);
    }
    close() {
      if (this.#closed) return;
      this.#closed = true;
      clearTimeout(this.#timer);
      links.delete((this.upstream.localAddr as Deno.NetAddr).port);
      for (const conn of [this.client, this.upstream]) {
        try {
          conn.close();
        } catch { /* already closed */ }
      }
    }
    async run() {
      // Client → server: a half-close goes on as a half-close. Server → client: its end is the end.
      const forward = pump(this.client, this.upstream).then(() => this.upstream.closeWrite());
      const back = pump(this.upstream, this.client, shapeParserError);
      await Promise.race([back, forward.then(() => back)]).catch(() => {});
      this.close();
    }
  }

  /** Connections admitted, counted from their accept (before their private one is open). */
  let held = 0;
  async function admit(client: Deno.Conn) {
    held++;
    try {
      let upstream: Deno.Conn;
      try {
        upstream = await Deno.connect({ hostname: "127.0.0.1", port: inner.addr.port });
      } catch (error) {
        if (outOfDescriptors(error)) lower();
        return await refuse(client);
      }
      // Relayed writes are small and many: Nagle's algorithm with delayed ACKs would hold each
      // one back by tens of milliseconds.
      for (const conn of [client, upstream]) (conn as Deno.TcpConn).setNoDelay(true);
      const link = new Link(client, upstream);
      links.set((upstream.localAddr as Deno.NetAddr).port, link);
      await (link.done = link.run());
    } finally {
      held--;
    }
  }

  function lower() {
    const lowered = Math.max(8, held - 8);
    if (lowered < limit) {
      limit = lowered;
      log(`ccproxy: out of file descriptors: now holding at most ${limit} connections`);
    }
  }

  const accepted = (async () => {
    while (accepting) {
      let client: Deno.Conn;
      try {
        client = await listener.accept();
      } catch (error) {
        if (!accepting || error instanceof Deno.errors.BadResource) return;
        if (outOfDescriptors(error)) lower();
        // The pending connection stays in the kernel's queue; try again shortly.
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      // Refused one at a time, so a flood of connections cannot hold many descriptors at once.
      if (held >= limit) await refuse(client);
      else admit(client).catch(() => {});
    }
  })();

  const stopAccepting = async () => {
    if (!accepting) return;
    accepting = false;
    try {
      listener.close();
    } catch { /* closed */ }
    await accepted;
  };

  options.onListen?.(listener.addr as Deno.NetAddr);
  return {
    addr: listener.addr as Deno.NetAddr,
    get connections() {
      return held;
    },
    get inFlight() {
      return inFlight;
    },
    stopAccepting,
    idle: () => inFlight === 0 ? Promise.resolve() : new Promise((wake) => idleWaiters.push(wake)),
    async close() {
      await stopAccepting();
      // The private server closes its side of each connection once its answer is out; the
      // links relay those last bytes and end on their own. Whatever is left after a moment goes.
      await within(inner.shutdown().catch(() => {}), 1_000);
      await within(Promise.all([...links.values()].map((link) => link.done)), 1_000);
      for (const link of [...links.values()]) link.close();
      idleWaiters = [];
    },
  };
}

/** Waits for `promise`, or `ms` at most. */
async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const elapsed = new Promise((resolve) => timer = setTimeout(resolve, ms));
  await Promise.race([promise, elapsed]).finally(() => clearTimeout(timer));
}

async function pump(
  from: Deno.Conn,
  to: Deno.Conn,
  shape?: (chunk: Uint8Array) => Uint8Array,
): Promise<void> {
  const buffer = new Uint8Array(16 * 1024);
  while (true) {
    const n = await from.read(buffer);
    if (n === null) return;
    const chunk = shape ? shape(buffer.subarray(0, n)) : buffer.subarray(0, n);
    for (let sent = 0; sent < chunk.length;) sent += await to.write(chunk.subarray(sent));
  }
}

const HTTP_4 = new TextEncoder().encode("HTTP/1.1 4");
const PARSER_ERROR = /^HTTP\/1\.1 (4\d\d) [^\r]*\r\ncontent-length: 0\r\n(?:[^\r]*\r\n)*\r\n$/i;

/**
 * Deno's HTTP server answers a request it cannot parse (a malformed `Content-Length`, …) itself,
 * with an empty 4xx that never reaches ccproxy's handler (which always sends a JSON body): that
 * answer gets an Anthropic error body here, so clients can say what went wrong.
 */
function shapeParserError(chunk: Uint8Array): Uint8Array {
  if (chunk.length > 512 || !HTTP_4.every((byte, i) => chunk[i] === byte)) return chunk;
  const match = PARSER_ERROR.exec(new TextDecoder().decode(chunk));
  if (!match) return chunk;
  const body = JSON.stringify({
    type: "error",
    error: {
      type: "invalid_request_error",
      message:
        "invalid request: malformed HTTP (a bad Content-Length, Transfer-Encoding or header)",
    },
  });
  return new TextEncoder().encode(
    `HTTP/1.1 ${match[1]} Bad Request\r\ncontent-type: application/json\r\n` +
      `content-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
  );
}

function refuse(client: Deno.Conn): Promise<void> {
  return client.write(OVERLOADED).then(() => {}, () => {}).finally(() => {
    try {
      client.close();
    } catch { /* closed */ }
  });
}

/** The process's open-file limit, from /proc (Linux) when readable; undefined otherwise. */
function descriptorLimit(): number | undefined {
  try {
    const limits = Deno.readTextFileSync("/proc/self/limits");
    const soft = /^Max open files\s+(\d+)/m.exec(limits)?.[1];
    return soft ? Number(soft) : undefined;
  } catch {
    return undefined;
  }
}

function outOfDescriptors(error: unknown): boolean {
  return error instanceof Error && /too many open files|os error 24/i.test(error.message);
}
