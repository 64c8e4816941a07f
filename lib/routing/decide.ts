/**
 * One routing decision per `/v1/messages` request, in this order:
 *
 * 1. a model name with a provider prefix (`/model openai/gpt-5`) → that model (`pinned`);
 * 2. a `<ccproxy-model>provider/model</ccproxy-model>` marker in the system prompt (`marker`);
 * 3. the user's `ROUTER_SCRIPT` (`script`);
 * 4. for `claude-*` names, the task routes: long context above `LONG_CONTEXT_THRESHOLD`, then
 *    web search, image, sub-agent, think, background (`long_context`, `web_search`, …);
 * 5. the sized default (`default`).
 *
 * A task route's own models come first and the default targets follow as its fallbacks. Then
 * the window check ({@link fitWindow}) keeps only targets whose window holds the prompt.
 *
 * @module
 */
import type { MessagesRequest } from "../anthropic/schema.ts";
import type { Config, RouteSlot } from "../config.ts";
import type { Logger } from "../server/log.ts";
import { countTokens, estimateTokens } from "./tokens.ts";
import { ProxyError } from "../anthropic/errors.ts";
import { isPinned, limitsOf, pinProblem, route, type Target, targetsOf } from "./route.ts";
import { type RouterScript, runRouterScript } from "./router_script.ts";
import { requestTraits, taskSlot } from "./task_routes.ts";
import { fitWindow, smallestWindow } from "./windows.ts";

/** Where a request goes and why. */
export interface RouteDecision {
  /** The targets in order (the first that answers serves). */
  targets: Target[];
  /** What chose them: `default`, `pinned`, `marker`, `script`, `long_context`, `think`, … */
  route: string;
  /** Input tokens: counted when near a limit (or for a router script), else estimated. */
  tokens: number;
  /** The quick estimate ({@link estimateTokens}), for `message_start` and budget holds. */
  estimate: number;
}

/** Options of {@link decideRoute}. */
export interface DecideOptions {
  /** The client's request headers. */
  headers?: Headers;
  /** The loaded router script, if any. */
  script?: RouterScript;
  /** For the router script's failures. */
  log: Logger;
  /** Prefixes log lines. */
  requestId?: string;
}

const ROUTE_NAME: Record<RouteSlot, string> = {
  background: "background",
  think: "think",
  longContext: "long_context",
  image: "image",
  webSearch: "web_search",
  subagent: "subagent",
};

/**
 * Decides the targets of a request. Throws Anthropic's exact `prompt is too long` error (400)
 * when no target's window holds the prompt, and a 400 naming what to set when the client pins
 * a provider that is not configured (or a malformed `provider/model`).
 */
export async function decideRoute(
  request: MessagesRequest,
  config: Config,
  options: DecideOptions,
): Promise<RouteDecision> {
  const traits = requestTraits(request, options.headers);
  const problem = pinProblem(request.model, config) ??
    (traits.marker ? pinProblem(traits.marker, config) : undefined);
  if (problem) throw new ProxyError("invalid_request_error", problem);
  const defaults = route(request.model, config);
  const routes = config.routes;
  const longContext = routes.longContext ? targetsOf(routes.longContext, config) : [];
  const estimate = estimateTokens(request);
  // Counting costs ~20 ms per 100k tokens: only when some limit is within reach of the
  // estimate (which can be 4× low for dense text), or when a script wants the number.
  const limit = Math.min(
    config.longContextThreshold ?? Infinity,
    smallestWindow([
      ...defaults,
      ...targetsFrom(routes, config),
      ...targetsOf(traits.marker ? [traits.marker] : [], config),
    ], config) ?? Infinity,
  );
  const tokens = options.script || estimate * 4 >= limit
    ? await counted(request, defaults[0].model, estimate)
    : estimate;

  let chosen: { targets: Target[]; route: string };
  const answer = options.script && !isPinned(request.model) && !traits.marker
    ? await runRouterScript(options.script, request, {
      tokens,
      traits,
      builtIn: { target: `${defaults[0].provider}/${defaults[0].model}`, route: "default" },
      models: {
        big: config.bigModel,
        middle: config.middleModel,
        small: config.smallModel,
        routes,
      },
      headers: visibleHeaders(options.headers),
    }, { config, log: options.log, requestId: options.requestId })
    : undefined;
  // A script naming a provider that is not configured is the script's mistake: fall through.
  const scriptProblem = answer ? pinProblem(answer, config) : undefined;
  if (scriptProblem) {
    options.log.info(
      `${options.requestId ? `${options.requestId} ` : ""}router script ${
        options.script!.path
      }: ${scriptProblem}; using the built-in rules`,
    );
  }
  const script = scriptProblem ? undefined : answer;
  if (isPinned(request.model)) chosen = { targets: defaults, route: "pinned" };
  else if (traits.marker) {
    chosen = { targets: targetsOf([traits.marker], config), route: "marker" };
  } else if (script) {
    chosen = { targets: [...targetsOf([script], config), ...defaults], route: "script" };
  } else chosen = taskRoute(request, traits, tokens, defaults, config);

  const fitted = fitWindow(chosen.targets, tokens, config, longContext);
  return {
    targets: fitted.targets.map((target) => roomForOutput(target, tokens)),
    route: fitted.longContext ? "long_context" : chosen.route,
    tokens,
    estimate,
  };
}

/**
 * An OpenAI-family window holds the prompt and the answer together: lower the output cap to
 * what is left, so a prompt that fits is not refused for its `max_tokens`.
 */
function roomForOutput(target: Target, tokens: number): Target {
  const info = target.info;
  if (!info || tokens + info.maxOutput <= info.context) return target;
  return { ...target, info: { ...info, maxOutput: Math.max(1, info.context - tokens) } };
}

function taskRoute(
  request: MessagesRequest,
  traits: ReturnType<typeof requestTraits>,
  tokens: number,
  defaults: Target[],
  config: Config,
): { targets: Target[]; route: string } {
  // Task routes refine Claude Code's `claude-*` names; any other name is the client's choice.
  if (!request.model.trim().toLowerCase().startsWith("claude")) {
    return { targets: defaults, route: "default" };
  }
  const routes = config.routes;
  const threshold = config.longContextThreshold;
  // ROUTE_IMAGE is for a main model without vision: one the catalog says sees images keeps
  // them (an unknown model takes the image route, as it may not).
  const image = traits.image && !seesImages(defaults[0], config);
  const slot: RouteSlot | undefined =
    routes.longContext && threshold !== undefined && tokens > threshold
      ? "longContext"
      : taskSlot({ ...traits, image }, routes);
  if (!slot) return { targets: defaults, route: "default" };
  return {
    targets: [...targetsOf(routes[slot]!, config), ...defaults],
    route: ROUTE_NAME[slot],
  };
}

/** True when the catalog says the target accepts images (Anthropic's models all do). */
function seesImages(target: Target, config: Config): boolean {
  if (target.provider === "anthropic") return true;
  return limitsOf(target, config)?.vision === true;
}

function targetsFrom(routes: Config["routes"], config: Config): Target[] {
  return Object.values(routes).flatMap((models) => targetsOf(models ?? [], config));
}

async function counted(request: MessagesRequest, model: string, estimate: number) {
  try {
    return await countTokens(request, model);
  } catch {
    // No tokenizer: the estimate is better than refusing the request.
    return estimate;
  }
}

const HIDDEN_HEADERS = /^(x-api-key|authorization|cookie|proxy-authorization)$/i;

function visibleHeaders(headers: Headers | undefined): Record<string, string> {
  const visible: Record<string, string> = {};
  headers?.forEach((value, name) => {
    if (!HIDDEN_HEADERS.test(name)) visible[name] = value;
  });
  return visible;
}
