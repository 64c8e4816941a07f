/**
 * `ccproxy check`: shows what the configuration resolves to and, with `--ping`, sends one tiny
 * request to every configured provider, so a new user can tell a bad key from a bad model or
 * deployment name before starting Claude Code.
 *
 * @module
 */
import { ProxyError } from "../anthropic/errors.ts";
import type { MessagesRequest } from "../anthropic/schema.ts";
import { createBackends, webSearchSupport } from "../upstream/backends.ts";
import {
  type Config,
  type Provider,
  ROUTE_VARIABLE,
  type RouteSlot,
  secretsOf,
} from "../config.ts";
import { silentLogger } from "../server/log.ts";
import { limitsOf, route, type Target, targetsOf } from "../routing/route.ts";
import { claudeCodeWindow } from "../routing/client_env.ts";
import { timedFetch } from "../upstream/timeouts.ts";
import { relayMessage } from "../upstream/relay.ts";

/** Where Claude Code's WebSearch runs: the first target that can search, or why none can. */
function webSearchLine(config: Config): string {
  const routed = config.routes.webSearch;
  const targets = routed ? targetsOf(routed, config) : route("claude-opus-5-5", config);
  const reasons: string[] = [];
  for (const target of targets) {
    const support = webSearchSupport(config, target);
    if (support === true) return `${target.provider}/${target.model}`;
    reasons.push(`${target.provider}: ${support}`);
  }
  return `unavailable (${reasons.join("; ")}): answered with "search is unavailable"`;
}

/** One line per fact: the providers, and which model each Claude family maps to. */
export function describeConfig(config: Config): string[] {
  const lines = [
    `preferred provider: ${config.preferredProvider}`,
    `fallback providers: ${config.fallbackProviders.join(", ") || "none"}`,
  ];
  const seen = new Map<string, Target>();
  const named = (targets: Target[]) =>
    targets.map((t) => {
      seen.set(`${t.provider}/${t.model}`, t);
      return `${t.provider}/${t.model}`;
    }).join(" → ");
  for (const family of ["claude-opus-5-5", "claude-sonnet-5-5", "claude-haiku-5-5"]) {
    lines.push(`${family} → ${named(route(family, config))}`);
  }
  for (const [slot, models] of Object.entries(config.routes)) {
    lines.push(
      `route ${ROUTE_VARIABLE[slot as RouteSlot]} → ${named(targetsOf(models ?? [], config))}`,
    );
  }
  for (const [name, target] of seen) {
    const limits = limitsOf(target, config);
    if (limits) {
      lines.push(
        `window ${name}: ${limits.context} tokens, output ${limits.maxOutput} (${limits.source})`,
      );
    }
  }
  if (config.routerScript) lines.push(`router script: ${config.routerScript}`);
  lines.push(`web search: ${webSearchLine(config)}`);
  const window = claudeCodeWindow(config);
  if (window) {
    lines.push(
      `claude code: ${
        Object.entries(window.env).map(([k, v]) => `${k}=${v}`).join(" ")
      } (${window.model})`,
    );
  }
  lines.push(`client key required: ${config.proxyApiKeys.length ? "yes (PROXY_API_KEY)" : "no"}`);
  return lines;
}

/** The outcome of pinging one model. */
export interface PingResult {
  /** The provider. */
  provider: Provider;
  /** The model (or Azure deployment) pinged. */
  model: string;
  /** Which Claude names route to it: `opus`, `sonnet`, `haiku` (joined when they share one). */
  sizes: string;
  /** True when the model answered. */
  ok: boolean;
  /** Round trip in ms, or the mapped error (`404 not_found_error: …`). */
  detail: string;
}

const SIZES = [
  ["opus", "claude-opus-5-5"],
  ["sonnet", "claude-sonnet-5-5"],
  ["haiku", "claude-haiku-5-5"],
] as const;

/**
 * Sends `max_tokens: 16`, "ping" to every model each configured provider maps a Claude name to
 * (big, middle, small; each distinct model once), so a wrong big deployment name shows up here,
 * not in the middle of a Claude Code session.
 */
export async function pingProviders(
  config: Config,
  fetchFn: typeof fetch = fetch,
): Promise<PingResult[]> {
  const backends = createBackends(config, timedFetch(fetchFn, config.timeouts));
  const results: PingResult[] = [];
  for (const provider of [config.preferredProvider, ...config.fallbackProviders]) {
    const only = { ...config, preferredProvider: provider, fallbackProviders: [] };
    const models = new Map<string, { target: Target; client: string; sizes: string[] }>();
    for (const [size, name] of SIZES) {
      const target = route(name, only)[0];
      const seen = models.get(target.model);
      if (seen) seen.sizes.push(size);
      else models.set(target.model, { target, client: name, sizes: [size] });
    }
    for (const { target, client, sizes } of models.values()) {
      results.push({ ...await ping(backends, target, client, config), sizes: sizes.join("/") });
    }
  }
  return results;
}

async function ping(
  backends: ReturnType<typeof createBackends>,
  target: Target,
  client: string,
  config: Config,
): Promise<Omit<PingResult, "sizes">> {
  const request: MessagesRequest = {
    model: client,
    max_tokens: 16,
    messages: [{ role: "user", content: "ping" }],
  };
  const started = performance.now();
  try {
    const answer = await backends[target.provider].open(request, target, {
      messageId: "msg_ping",
      inputEstimate: 1,
      log: silentLogger,
      notes: [],
    });
    await relayMessage(answer, {
      ...config.timeouts,
      startedAt: started,
      secrets: secretsOf(config),
    });
    return { ...target, ok: true, detail: `${Math.round(performance.now() - started)} ms` };
  } catch (error) {
    const detail = error instanceof ProxyError
      ? `${error.status} ${error.type}: ${error.message}`
      : String(error);
    return { ...target, ok: false, detail };
  }
}
