/**
 * `ROUTER_SCRIPT=./router.ts`: a module the user writes, exporting
 * `route(request, context)` that returns `provider/model` (or nothing, to fall through to the
 * built-in rules). It is imported once at start into a worker of its own, called for every
 * `/v1/messages` request, and bounded in time: a script that does not answer in time (even one
 * stuck in a loop) is stopped and loaded afresh. An exception, a bad answer or a timeout is
 * logged and falls through.
 *
 * @example
 * ```ts ignore
 * // router.ts
 * import type { RouterContext, RouterRequest } from "jsr:@x/ccproxy/mod";
 *
 * export function route(request: RouterRequest, context: RouterContext): string | undefined {
 *   if (context.tokens > 100_000) return "gemini/gemini-2.5-pro";
 *   if (context.traits.think) return "openai/o3";
 * }
 * ```
 *
 * @module
 */
import type { MessagesRequest } from "../anthropic/schema.ts";
import type { Config } from "../config.ts";
import type { Logger } from "../server/log.ts";
import { newRouterWorker } from "./router_worker.ts";
import type { RequestTraits } from "./task_routes.ts";

/** The request a router script sees: the client's Anthropic Messages request (read only). */
export type RouterRequest = Readonly<MessagesRequest>;

/** What a router script is told besides the request. */
export interface RouterContext {
  /** Input tokens, counted as `count_tokens` counts (estimated for small requests). */
  tokens: number;
  /** What the proxy read from the request: sub-agent, think, background, web search, image. */
  traits: Readonly<RequestTraits>;
  /** The target the built-in rules chose (`provider/model`) and the route that chose it. */
  builtIn: { target: string; route: string };
  /** The configured models: `big`, `middle`, `small` of the preferred provider and the task
   * routes, each as written in the configuration. */
  models: {
    big: string;
    middle?: string;
    small: string;
    routes: Readonly<Record<string, readonly string[]>>;
  };
  /** The client's request headers (lower-case names; keys left out). */
  headers: Readonly<Record<string, string>>;
}

/** The function a router script exports as `route`. */
export type RouterFunction = (
  request: RouterRequest,
  context: RouterContext,
) => string | undefined | null | void | Promise<string | undefined | null | void>;

/** A loaded router script. */
export interface RouterScript {
  /** Where it was loaded from. */
  path: string;
  /** Its `route` export (in a worker: a call that posts the request there). */
  route: RouterFunction;
  /** Stops a script that took too long and loads it afresh (workers only). */
  reset?: () => void;
  /** Stops the worker for good. */
  close?: () => void;
}

/**
 * Loads the script into a worker of its own. A missing file or a module without a `route`
 * function throws, so the proxy refuses to start with a script that cannot work.
 */
export async function loadRouterScript(path: string): Promise<RouterScript> {
  const url = /^[a-z]+:/i.test(path) ? path : new URL(path, `file://${Deno.cwd()}/`).href;
  let worker = await startWorker(url, path);
  let next = 0;
  const pending = new Map<number, (reply: { answer?: unknown; error?: string }) => void>();
  const listen = (w: Worker) => {
    w.onmessage = (event: MessageEvent) => {
      const reply = event.data as { kind: string; id: number; answer?: unknown; error?: string };
      if (reply.kind !== "answer") return;
      pending.get(reply.id)?.(reply);
      pending.delete(reply.id);
    };
  };
  listen(worker);
  const failAll = (why: string) => {
    for (const resolve of pending.values()) resolve({ error: why });
    pending.clear();
  };
  return {
    path,
    route: (request, context) =>
      new Promise((resolve, reject) => {
        const id = next++;
        pending.set(id, (reply) => {
          if (reply.error !== undefined) reject(new Error(reply.error));
          else if (reply.answer && typeof reply.answer === "object") {
            resolve((reply.answer as { notAModel: string }).notAModel as never);
          } else resolve((reply.answer as string | null) ?? undefined);
        });
        worker.postMessage({ kind: "route", id, request, context });
      }),
    reset() {
      worker.terminate();
      failAll("stopped: it took too long");
      // Requests that come while the new worker loads wait for it in its message queue.
      worker = newRouterWorker();
      listen(worker);
      worker.postMessage({ kind: "load", url });
    },
    close() {
      worker.terminate();
      failAll("closed");
    },
  };
}

function startWorker(url: string, path: string): Promise<Worker> {
  const worker = newRouterWorker();
  return new Promise((resolve, reject) => {
    worker.onmessage = (event: MessageEvent) => {
      const reply = event.data as { kind: string; message?: string };
      if (reply.kind === "loaded") resolve(worker);
      else {
        worker.terminate();
        reject(new Error(`ROUTER_SCRIPT ${path}: ${reply.message}`));
      }
    };
    worker.onerror = (event) => {
      event.preventDefault();
      worker.terminate();
      reject(new Error(`ROUTER_SCRIPT ${path}: ${event.message}`));
    };
    worker.postMessage({ kind: "load", url });
  });
}

const SPEC = /^[A-Za-z0-9._:\/@-]{1,200}$/;

/**
 * Calls the script for one request. Returns its `provider/model`, or undefined when it answered
 * nothing, threw, answered something that is not a model name, or took longer than
 * `config.routerTimeoutMs` (each of these is logged).
 */
export async function runRouterScript(
  script: RouterScript,
  request: MessagesRequest,
  context: RouterContext,
  options: { config: Config; log: Logger; requestId?: string },
): Promise<string | undefined> {
  const where = `${options.requestId ? `${options.requestId} ` : ""}router script ${script.path}`;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), options.config.routerTimeoutMs);
  });
  try {
    const answer = await Promise.race([
      Promise.resolve().then(() => script.route(request, context)),
      timeout,
    ]);
    if (answer === "timeout") {
      options.log.info(
        `${where}: no answer within ${options.config.routerTimeoutMs} ms; ignored` +
          (script.reset ? ", script restarted" : ""),
      );
      script.reset?.();
      return undefined;
    }
    if (answer === undefined || answer === null || answer === "") return undefined;
    if (typeof answer !== "string" || !SPEC.test(answer.trim())) {
      options.log.info(`${where}: answered ${String(answer).slice(0, 80)}, not a model; ignored`);
      return undefined;
    }
    return answer.trim();
  } catch (error) {
    const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    options.log.info(`${where} failed: ${detail.slice(0, 300)}; using the built-in rules`);
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}
