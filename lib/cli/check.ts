/**
 * `ccproxy check`: shows what the configuration resolves to and, with `--ping`, sends one tiny
 * request to every configured provider, so a new user can tell a bad key from a bad model or
 * deployment name before starting Claude Code.
 *
 * @module
 */
import { accumulate } from "../anthropic/accumulate.ts";
import { ProxyError } from "../anthropic/errors.ts";
import type { MessagesRequest } from "../anthropic/schema.ts";
import { createBackends } from "../upstream/backends.ts";
import type { Config, Provider } from "../config.ts";
import { silentLogger } from "../server/log.ts";
import { route } from "../routing/route.ts";
import { timedFetch } from "../upstream/timeouts.ts";

/** One line per fact: the providers, and which model each Claude family maps to. */
export function describeConfig(config: Config): string[] {
  const lines = [
    `preferred provider: ${config.preferredProvider}`,
    `fallback providers: ${config.fallbackProviders.join(", ") || "none"}`,
  ];
  for (const family of ["claude-opus-5-5", "claude-sonnet-5-5", "claude-haiku-5-5"]) {
    const targets = route(family, config).map((t) => `${t.provider}/${t.model}`);
    lines.push(`${family} → ${targets.join(" → ")}`);
  }
  lines.push(`client key required: ${config.proxyApiKeys.length ? "yes (PROXY_API_KEY)" : "no"}`);
  return lines;
}

/** The outcome of pinging one provider. */
export interface PingResult {
  /** The provider. */
  provider: Provider;
  /** The model the ping used (the provider's small model). */
  model: string;
  /** True when the provider answered. */
  ok: boolean;
  /** Round trip in ms, or the mapped error (`401 authentication_error: …`). */
  detail: string;
}

/** Sends `max_tokens: 16`, "ping" to each configured provider's small model. */
export async function pingProviders(
  config: Config,
  fetchFn: typeof fetch = fetch,
): Promise<PingResult[]> {
  const backends = createBackends(config, timedFetch(fetchFn, config.timeouts));
  const results: PingResult[] = [];
  for (const provider of [config.preferredProvider, ...config.fallbackProviders]) {
    const target = route("claude-haiku-5-5", {
      ...config,
      preferredProvider: provider,
      fallbackProviders: [],
    })[0];
    const request: MessagesRequest = {
      model: "claude-haiku-5-5",
      max_tokens: 16,
      messages: [{ role: "user", content: "ping" }],
    };
    const started = performance.now();
    try {
      const events = await backends[target.provider].open(request, target, {
        messageId: "msg_ping",
        inputEstimate: 1,
        log: silentLogger,
        notes: [],
      });
      await accumulate(events);
      results.push({
        ...target,
        ok: true,
        detail: `${Math.round(performance.now() - started)} ms`,
      });
    } catch (error) {
      const detail = error instanceof ProxyError
        ? `${error.status} ${error.type}: ${error.message}`
        : String(error);
      results.push({ ...target, ok: false, detail });
    }
  }
  return results;
}
