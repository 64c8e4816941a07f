/**
 * The worker a `ROUTER_SCRIPT` runs in, so that a script stuck in a loop can be stopped (the
 * proxy terminates the worker and starts a new one) without stopping the proxy.
 *
 * Messages in: `{ kind: "load", url }`, then `{ kind: "route", id, request, context }`.
 * Messages out: `{ kind: "loaded" }` or `{ kind: "failed", message }`, and
 * `{ kind: "answer", id, answer }` or `{ kind: "answer", id, error }`.
 *
 * @module
 */

type Route = (request: unknown, context: unknown) => unknown;

/** The worker's global scope, typed here so the file checks with the window's types too. */
const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent) => void) | null;
  postMessage(message: unknown): void;
};

let route: Route | undefined;
/** Set by `load`: a `route` message that arrives while the module loads waits for it. */
let loading: Promise<void> | undefined;

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

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
