/**
 * The worker a `ROUTER_SCRIPT` runs in, so that a script stuck in a loop can be stopped (the
 * proxy terminates the worker and starts a new one) without stopping the proxy.
 *
 * The worker is started from a `blob:` URL holding the source of {@linkcode serveRouter}, not
 * from this file: a worker loaded from a file needs read permission for ccproxy's own files
 * (which `deno task start`, the README's `deno run` line and the binaries do not give, and which
 * from JSR would be an https import), while a blob needs nothing. Only the user's script needs
 * `--allow-read`.
 *
 * Messages in: `{ kind: "load", url }`, then `{ kind: "route", id, request, context }`.
 * Messages out: `{ kind: "loaded" }` or `{ kind: "failed", message }`, and
 * `{ kind: "answer", id, answer }` or `{ kind: "answer", id, error }`.
 *
 * @module
 */

/** The part of a worker's global scope the router worker uses. */
interface WorkerScope {
  onmessage: ((event: MessageEvent) => void) | null;
  postMessage(message: unknown): void;
}

/**
 * The worker's whole program. It runs from its source text inside the worker, so it must stay
 * self-contained: it may use nothing from this module's scope (no imports, no outer names).
 */
function serveRouter(scope: WorkerScope): void {
  type Route = (request: unknown, context: unknown) => unknown;
  let route: Route | undefined;
  /** Set by `load`: a `route` message that arrives while the module loads waits for it. */
  let loading: Promise<void> | undefined;
  const describe = (error: unknown): string =>
    error instanceof Error ? `${error.name}: ${error.message}` : String(error);

  scope.onmessage = async (event: MessageEvent) => {
    const message = event.data as {
      kind: string;
      url?: string;
      id?: number;
      request?: unknown;
      context?: unknown;
    };
    if (message.kind === "load") {
      loading = import(message.url!).then((module) => {
        if (typeof module.route !== "function") {
          throw new Error("the module must export a function named route");
        }
        route = module.route;
      });
      try {
        await loading;
        scope.postMessage({ kind: "loaded" });
      } catch (error) {
        scope.postMessage({ kind: "failed", message: describe(error) });
      }
      return;
    }
    try {
      await loading;
      const answer = await route!(message.request, message.context);
      // Only a string or nothing crosses back; anything else is described for the log.
      const plain = answer === undefined || answer === null || typeof answer === "string";
      scope.postMessage({
        kind: "answer",
        id: message.id,
        answer: plain ? answer ?? null : { notAModel: String(answer).slice(0, 80) },
      });
    } catch (error) {
      scope.postMessage({ kind: "answer", id: message.id, error: describe(error) });
    }
  };
}

/** The blob URL of the worker's module, made once (workers started later reuse it). */
let workerUrl: string | undefined;

/**
 * Starts a router worker (a module worker with the proxy's permissions). Its module is
 * {@linkcode serveRouter}'s source in a blob, so starting it reads no file.
 */
export function newRouterWorker(): Worker {
  // The source is the function as the runtime holds it (already JavaScript), called on `self`.
  workerUrl ??= URL.createObjectURL(
    new Blob([`(${serveRouter.toString()})(self);\n`], { type: "text/javascript" }),
  );
  return new Worker(workerUrl, { type: "module" });
}
