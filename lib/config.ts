/**
 * Configuration: environment variables (and `.env`) → a validated {@link Config}. Every bad
 * value is reported at once, one line per problem, naming the variable and what it takes.
 *
 * @module
 */
import { z } from "zod";
import { type ClientKey, parseClientKeys } from "./server/auth.ts";
import type { LimitOverride } from "./routing/models.ts";
import type { ModelPrice } from "./usage/prices.ts";

/** Backends a request can be routed to. */
export const PROVIDERS = ["openai", "google", "azure", "anthropic"] as const;
/** A backend name. */
export type Provider = typeof PROVIDERS[number];

/** The models one provider serves Claude names with. */
export interface ModelSet {
  /** Opus-class and unknown `claude-*` names; undefined: the requested name as is. */
  big?: string;
  /** Sonnet names; `big` when unset. */
  middle?: string;
  /** Haiku names. */
  small?: string;
}

/** The proxy's validated configuration. */
export interface Config {
  /** Backend for `claude-*` and unprefixed model names. */
  preferredProvider: Provider;
  /** Providers tried, in order, after the preferred one fails before answering. */
  fallbackProviders: Provider[];
  /** The models of every provider (the preferred one's come from BIG_MODEL etc.). */
  models: Record<Provider, ModelSet>;
  /** Retries of one target before moving on (429, 5xx, timeouts, refused connections). */
  maxRetries: number;
  /** Longest wait between retries in ms, whatever `retry-after` says. */
  maxRetryDelayMs: number;
  /** Model for opus-class (and every unknown `claude-*`) names. */
  bigModel: string;
  /** Model for sonnet names; `bigModel` when unset. */
  middleModel?: string;
  /** Model for haiku names. */
  smallModel: string;
  /** OpenAI (or OpenAI-compatible) key; may be empty for local servers. */
  openaiApiKey: string;
  /** OpenAI base URL, e.g. `https://api.openai.com/v1` or `http://localhost:11434/v1`. */
  openaiBaseUrl: string;
  /** Gemini key. */
  geminiApiKey: string;
  /** Gemini base URL. */
  geminiBaseUrl: string;
  /** Azure OpenAI key. */
  azureApiKey: string;
  /** Azure OpenAI endpoint, `https://<resource>.openai.azure.com`. */
  azureEndpoint: string;
  /** Azure OpenAI api-version, or `v1`. */
  azureApiVersion: string;
  /** Azure api-version for the Responses API (classic form; chat's is often too old). */
  azureResponsesApiVersion: string;
  /** Which OpenAI API serves a model: `auto` (reasoning and Responses-only models use Responses), `chat` or `responses`. */
  openaiApiMode: "auto" | "chat" | "responses";
  /** How much found page text OpenAI's web search gives the model (`low`, `medium`, `high`). */
  webSearchContextSize?: "low" | "medium" | "high";
  /** Anthropic key for the passthrough provider. */
  anthropicApiKey: string;
  /** Anthropic API base URL for the passthrough provider. */
  anthropicBaseUrl: string;
  /** Listen address. */
  host: string;
  /** Listen port. */
  port: number;
  /** Log translated upstream requests (keys redacted). */
  debug: boolean;
  /** Log lines as text (default) or one JSON object per line (`LOG_FORMAT=json`). */
  logFormat: "text" | "json";
  /** Key for signing thinking signatures; derived from the provider keys when unset. */
  signatureSecret: string;
  /** Keys clients must present (`x-api-key` or `Authorization: Bearer`); empty: no check. */
  proxyApiKeys: string[];
  /** The same keys with their names (`PROXY_API_KEY=alice=key1,bob=key2`). */
  clientKeys: ClientKey[];
  /** Daily spending limit of each key in USD (`BUDGET_USD_PER_DAY`), UTC days. */
  budgetUsdPerDay?: number;
  /** Monthly spending limit of each key in USD (`BUDGET_USD_PER_MONTH`), UTC months. */
  budgetUsdPerMonth?: number;
  /**
   * Names of the keys that see every key's usage on `/v1/usage` and the dashboard (`ADMIN_KEYS`);
   * the other keys see only their own.
   */
  adminKeys: string[];
  /** Origins whose pages may call the API from a browser (`CORS_ORIGINS`); none by default. */
  corsOrigins: string[];
  /** Host names accepted besides the loopback ones while listening on loopback (`ALLOWED_HOSTS`). */
  allowedHosts: string[];
  /** Most client connections held at once (`MAX_CONNECTIONS`); more are refused with a 503. */
  maxConnections: number;
  /** Longest wait for a request head, and between two pieces of a body, in ms (`CLIENT_TIMEOUT_MS`). */
  clientTimeoutMs: number;
  /** How long open answers may finish at shutdown before they are cut off, in ms. */
  shutdownGraceMs: number;
  /** Serve without `PROXY_API_KEY` on a non-loopback address (or on Deno Deploy). */
  allowUnauthenticated: boolean;
  /** Largest request body in bytes. */
  maxBodyBytes: number;
  /** Upstream time limits in ms: until response headers, between body chunks, and in all. */
  timeouts: { connectMs: number; idleMs: number; totalMs: number };
  /**
   * The usage ledger (`USAGE_DB`): a SQLite file path or a KV Connect URL; null when off;
   * undefined for the default (`.ccproxy/usage`, or the platform's KV on Deno Deploy).
   */
  usageDb: string | null | undefined;
  /** Days ledger records and totals are kept. */
  usageRetentionDays: number;
  /**
   * Prices of models the price catalog does not know (`MODEL_PRICES`), USD per million input and
   * output tokens, keyed by lower-case `provider/model` or `model`.
   */
  modelPrices: Record<string, ModelPrice>;
  /** The model each Azure deployment runs (`AZURE_DEPLOYMENT_MODELS`), by deployment name. */
  azureDeploymentModels: Record<string, string>;
  /** The user's window and output cap per model (`MODEL_LIMITS`), keyed by lower-case
   * `provider/model` or `model`. */
  modelLimits: Record<string, LimitOverride>;
  /** Task routes: each a list of `provider/model` (the first that answers serves). */
  routes: TaskRoutes;
  /** Counted input tokens above which a request takes `routes.longContext`; undefined: only
   * when the chosen model's window cannot hold it. */
  longContextThreshold?: number;
  /** A user module exporting `route(request, context)` (`ROUTER_SCRIPT`). */
  routerScript?: string;
  /** Longest a router script may take for one request, in ms. */
  routerTimeoutMs: number;
}

/** The task route slots. */
export const ROUTE_SLOTS = [
  "background",
  "think",
  "longContext",
  "image",
  "webSearch",
  "subagent",
] as const;
/** A task route slot. */
export type RouteSlot = typeof ROUTE_SLOTS[number];
/** The configured task routes (an absent slot is not used). */
export type TaskRoutes = Partial<Record<RouteSlot, string[]>>;

/** The environment variable of each slot. */
export const ROUTE_VARIABLE: Record<RouteSlot, string> = {
  background: "ROUTE_BACKGROUND",
  think: "ROUTE_THINK",
  longContext: "ROUTE_LONG_CONTEXT",
  image: "ROUTE_IMAGE",
  webSearch: "ROUTE_WEB_SEARCH",
  subagent: "ROUTE_SUBAGENT",
};

const DEFAULT_MODELS: Record<Provider, ModelSet> = {
  openai: { big: "gpt-4.1", small: "gpt-4.1-mini" },
  google: { big: "gemini-2.5-pro", small: "gemini-2.5-flash" },
  azure: { big: "gpt-4.1", small: "gpt-4.1-mini" },
  anthropic: {},
};

/** The prefix of each provider's own model variables (`GEMINI_BIG_MODEL`, …). */
const MODEL_PREFIX: Record<Provider, string> = {
  openai: "OPENAI",
  google: "GEMINI",
  azure: "AZURE",
  anthropic: "ANTHROPIC",
};

/** The OpenAI base URL used when none is configured. */
export const OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1";

/** The variable holding each provider's key. */
export const KEY_VARIABLE: Record<Provider, string> = {
  openai: "OPENAI_API_KEY",
  google: "GEMINI_API_KEY",
  azure: "AZURE_OPENAI_API_KEY",
  anthropic: "ANTHROPIC_API_KEY",
};

const ALIASES: Record<string, Provider> = { gemini: "google" };

function providerName(value: string): Provider | undefined {
  const name = value.trim().toLowerCase();
  const provider = ALIASES[name] ?? name;
  return (PROVIDERS as readonly string[]).includes(provider) ? provider as Provider : undefined;
}

/** The longest delay a runtime timer takes (2^31 − 1 ms, ~24.8 days); a longer one fires at once. */
const MAX_TIMER_MS = 2_147_483_647;

const optional = z.string().trim().optional().transform((v) => v || undefined);
const url = (name: string) =>
  optional.refine((v) => v === undefined || /^https?:$/.test(URL.parse(v)?.protocol ?? ""), {
    message: `${name} takes an http(s) URL`,
  });

const EnvSchema = z.object({
  PREFERRED_PROVIDER: optional.refine(
    (v) => v === undefined || providerName(v) !== undefined,
    { message: `PREFERRED_PROVIDER takes one of: ${PROVIDERS.join(", ")}` },
  ),
  FALLBACK_PROVIDERS: optional.refine(
    (v) => v === undefined || v.split(",").every((p) => !p.trim() || providerName(p)),
    { message: `FALLBACK_PROVIDERS takes a comma list of: ${PROVIDERS.join(", ")}` },
  ),
  MAX_RETRIES: optional.refine((v) => v === undefined || /^\d{1,2}$/.test(v), {
    message: "MAX_RETRIES takes a whole number from 0 to 99",
  }),
  MAX_RETRY_DELAY_MS: optional.refine(
    (v) => v === undefined || (/^\d+$/.test(v) && Number(v) <= MAX_TIMER_MS),
    { message: `MAX_RETRY_DELAY_MS takes a whole number of milliseconds up to ${MAX_TIMER_MS}` },
  ),
  ANTHROPIC_API_KEY: optional,
  ANTHROPIC_UPSTREAM_URL: url("ANTHROPIC_UPSTREAM_URL"),
  BIG_MODEL: optional,
  MIDDLE_MODEL: optional,
  SMALL_MODEL: optional,
  OPENAI_API_KEY: optional,
  OPENAI_BASE_URL: url("OPENAI_BASE_URL"),
  GEMINI_API_KEY: optional,
  GEMINI_BASE_URL: url("GEMINI_BASE_URL"),
  AZURE_OPENAI_API_KEY: optional,
  AZURE_OPENAI_ENDPOINT: url("AZURE_OPENAI_ENDPOINT"),
  AZURE_OPENAI_API_VERSION: optional,
  AZURE_OPENAI_RESPONSES_API_VERSION: optional,
  OPENAI_API_MODE: optional.refine((v) => v === undefined || /^(auto|chat|responses)$/i.test(v), {
    message: "OPENAI_API_MODE takes auto, chat or responses",
  }),
  WEB_SEARCH_CONTEXT_SIZE: optional.refine(
    (v) => v === undefined || /^(low|medium|high)$/i.test(v),
    {
      message: "WEB_SEARCH_CONTEXT_SIZE takes low, medium or high",
    },
  ),
  HOST: optional,
  PORT: optional.refine(
    (v) => v === undefined || (/^\d+$/.test(v) && Number(v) >= 0 && Number(v) <= 65535),
    { message: "PORT takes a number from 0 to 65535" },
  ),
  DEBUG: optional.refine(
    (v) => v === undefined || /^(true|false|1|0|yes|no)$/i.test(v),
    { message: "DEBUG takes true or false" },
  ),
  LOG_FORMAT: optional.refine((v) => v === undefined || /^(text|json)$/i.test(v), {
    message: "LOG_FORMAT takes text or json",
  }),
  SIGNATURE_SECRET: optional,
  PROXY_API_KEY: optional.refine(
    (v) => v === undefined || v.split(",").every((key) => !key.trim() || keyPart(key).length >= 16),
    { message: "PROXY_API_KEY takes keys of at least 16 characters (a long random string)" },
  ),
  CORS_ORIGINS: optional.refine(
    (v) => v === undefined || list(v).every((o) => /^https?:$/.test(URL.parse(o)?.protocol ?? "")),
    { message: "CORS_ORIGINS takes a comma list of origins, e.g. https://app.example.com" },
  ),
  ALLOWED_HOSTS: optional.refine(
    (v) => v === undefined || list(v).every((h) => /^[a-z0-9.-]+$/i.test(h)),
    { message: "ALLOWED_HOSTS takes a comma list of host names, e.g. ccproxy.internal" },
  ),
  ALLOW_UNAUTHENTICATED: optional.refine(
    (v) => v === undefined || /^(true|false|1|0|yes|no)$/i.test(v),
    { message: "ALLOW_UNAUTHENTICATED takes true or false" },
  ),
  MAX_BODY_BYTES: whole("MAX_BODY_BYTES", "bytes"),
  MAX_CONNECTIONS: whole("MAX_CONNECTIONS", "connections"),
  CLIENT_TIMEOUT_MS: whole("CLIENT_TIMEOUT_MS", "milliseconds", 30_000),
  SHUTDOWN_GRACE_MS: optional.refine(
    (v) => v === undefined || (/^\d+$/.test(v) && Number(v) <= MAX_TIMER_MS),
    { message: `SHUTDOWN_GRACE_MS takes a whole number of milliseconds up to ${MAX_TIMER_MS}` },
  ),
  UPSTREAM_CONNECT_TIMEOUT_MS: whole("UPSTREAM_CONNECT_TIMEOUT_MS", "milliseconds", MAX_TIMER_MS),
  UPSTREAM_IDLE_TIMEOUT_MS: whole("UPSTREAM_IDLE_TIMEOUT_MS", "milliseconds", MAX_TIMER_MS),
  UPSTREAM_TOTAL_TIMEOUT_MS: whole("UPSTREAM_TOTAL_TIMEOUT_MS", "milliseconds", MAX_TIMER_MS),
  USAGE_DB: optional,
  BUDGET_USD_PER_DAY: usd("BUDGET_USD_PER_DAY"),
  BUDGET_USD_PER_MONTH: usd("BUDGET_USD_PER_MONTH"),
  ADMIN_KEYS: optional,
  USAGE_RETENTION_DAYS: whole("USAGE_RETENTION_DAYS", "days"),
  AZURE_DEPLOYMENT_MODELS: pairs(
    "AZURE_DEPLOYMENT_MODELS",
    "deployment=model pairs, e.g. my-big-deploy=gpt-4.1,my-small-deploy=o4-mini",
    (value) => value.length > 0,
  ),
  MODEL_LIMITS: pairs(
    "MODEL_LIMITS",
    "model=context or model=context/output pairs in tokens, e.g. qwen3-coder=262144/65536",
    (value) => LIMITS.test(value),
  ),
  MODEL_PRICES: pairs(
    "MODEL_PRICES",
    "model=input/output pairs in USD per million tokens, e.g. qwen3-coder:30b=0.2/0.8",
    (value) => PRICES.test(value),
  ),
  LONG_CONTEXT_THRESHOLD: whole("LONG_CONTEXT_THRESHOLD", "tokens"),
  ROUTER_SCRIPT: optional,
  ROUTER_TIMEOUT_MS: whole("ROUTER_TIMEOUT_MS", "milliseconds"),
});

function usd(name: string) {
  return optional.refine((v) => v === undefined || (/^\d+(\.\d+)?$/.test(v) && Number(v) > 0), {
    message: `${name} takes a positive amount of US dollars, e.g. 5 or 12.50`,
  });
}

const LIMITS = /^(\d+)(?:\/(\d+))?$/;
const PRICES = /^(\d+(?:\.\d+)?)\/(\d+(?:\.\d+)?)$/;

function parsePrices(list: string | undefined): Record<string, ModelPrice> {
  const prices: Record<string, ModelPrice> = {};
  for (const [model, value] of splitPairs(list ?? "")) {
    const [, input, output] = PRICES.exec(value)!;
    prices[model.toLowerCase()] = { input: Number(input), output: Number(output) };
  }
  return prices;
}

/** A comma list of `name=value` items (the name may itself contain `=`-free slashes, colons). */
function pairs(name: string, takes: string, valid: (value: string) => boolean) {
  return optional.refine(
    (v) => v === undefined || splitPairs(v).every(([key, value]) => key && valid(value)),
    { message: `${name} takes ${takes}` },
  );
}

function splitPairs(list: string): Array<[string, string]> {
  return list.split(",").filter((item) => item.trim()).map((item) => {
    const at = item.lastIndexOf("=");
    return at < 0 ? ["", ""] : [item.slice(0, at).trim(), item.slice(at + 1).trim()];
  });
}

function parseLimits(list: string | undefined): Record<string, LimitOverride> {
  const limits: Record<string, LimitOverride> = {};
  for (const [model, value] of splitPairs(list ?? "")) {
    const [, context, output] = LIMITS.exec(value)!;
    limits[model.toLowerCase()] = {
      context: Number(context),
      ...(output ? { maxOutput: Number(output) } : {}),
    };
  }
  return limits;
}

function parseRoutes(env: Record<string, string | undefined>): TaskRoutes {
  const routes: TaskRoutes = {};
  for (const slot of ROUTE_SLOTS) {
    const list = (env[ROUTE_VARIABLE[slot]] ?? "").split(",").map((m) => m.trim()).filter(Boolean);
    if (list.length) routes[slot] = list;
  }
  return routes;
}

/** The non-empty items of a comma list. */
function list(value: string): string[] {
  return value.split(",").map((item) => item.trim()).filter(Boolean);
}

/** The key of a `PROXY_API_KEY` entry, `name=key` or a bare key (which may end in `==`). */
function keyPart(entry: string): string {
  return /^[\w.@-]+=([^=].*)$/.exec(entry.trim())?.[1].trim() ?? entry.trim();
}

function whole(name: string, unit: string, max = Number.MAX_SAFE_INTEGER) {
  return optional.refine(
    (v) => v === undefined || (/^\d+$/.test(v) && Number(v) > 0 && Number(v) <= max),
    {
      message: `${name} takes a positive whole number of ${unit}` +
        (max < Number.MAX_SAFE_INTEGER ? ` up to ${max}` : ""),
    },
  );
}

const number = (value: string | undefined, fallback: number) =>
  value === undefined ? fallback : Number(value);

/** Raised by {@link loadConfig}; `problems` has one line per bad variable. */
export class ConfigError extends Error {
  /** One human-readable line per problem. */
  readonly problems: string[];

  constructor(problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/**
 * Builds the configuration from environment variables.
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * const config = loadConfig({ OPENAI_API_KEY: "sk-test", BIG_MODEL: "gpt-4.1" });
 * console.log(config.bigModel); // "gpt-4.1"
 * ```
 */
export function loadConfig(env: Record<string, string | undefined>): Config {
  // Parsed once per process: zod's compiled fast path would cost more to build than it saves.
  const parsed = EnvSchema.safeParse(env, { jitless: true });
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => issue.message));
  }
  const e = parsed.data;
  const preferredProvider = providerName(e.PREFERRED_PROVIDER ?? "openai")!;
  const fallbackProviders = [
    ...new Set(
      (e.FALLBACK_PROVIDERS ?? "").split(",").filter((p) => p.trim()).map((p) => providerName(p)!),
    ),
  ].filter((p) => p !== preferredProvider);
  const models = Object.fromEntries(PROVIDERS.map((provider) => {
    const prefix = MODEL_PREFIX[provider];
    const own = (size: string) => env[`${prefix}_${size}_MODEL`]?.trim() || undefined;
    const set: ModelSet = {
      big: own("BIG") ?? DEFAULT_MODELS[provider].big,
      middle: own("MIDDLE"),
      small: own("SMALL") ?? DEFAULT_MODELS[provider].small,
    };
    if (provider === preferredProvider) {
      set.big = e.BIG_MODEL ?? set.big;
      set.middle = e.MIDDLE_MODEL ?? set.middle;
      set.small = e.SMALL_MODEL ?? set.small;
    }
    return [provider, set];
  })) as Record<Provider, ModelSet>;
  const preferred = models[preferredProvider];
  const openaiBaseUrl = (e.OPENAI_BASE_URL ?? OPENAI_DEFAULT_BASE_URL).replace(/\/+$/, "");
  const config: Config = {
    preferredProvider,
    fallbackProviders,
    models,
    maxRetries: e.MAX_RETRIES === undefined ? 2 : Number(e.MAX_RETRIES),
    maxRetryDelayMs: e.MAX_RETRY_DELAY_MS === undefined ? 10_000 : Number(e.MAX_RETRY_DELAY_MS),
    bigModel: preferred.big ?? "(requested name)",
    middleModel: preferred.middle,
    smallModel: preferred.small ?? "(requested name)",
    openaiApiKey: e.OPENAI_API_KEY ?? "",
    openaiBaseUrl,
    geminiApiKey: e.GEMINI_API_KEY ?? "",
    geminiBaseUrl: (e.GEMINI_BASE_URL ?? "https://generativelanguage.googleapis.com")
      .replace(/\/+$/, ""),
    azureApiKey: e.AZURE_OPENAI_API_KEY ?? "",
    azureEndpoint: (e.AZURE_OPENAI_ENDPOINT ?? "").replace(/\/+$/, ""),
    azureApiVersion: e.AZURE_OPENAI_API_VERSION ?? "2024-10-21",
    azureResponsesApiVersion: e.AZURE_OPENAI_RESPONSES_API_VERSION ?? "2025-04-01-preview",
    openaiApiMode: (e.OPENAI_API_MODE?.toLowerCase() ?? "auto") as Config["openaiApiMode"],
    webSearchContextSize: e.WEB_SEARCH_CONTEXT_SIZE
      ?.toLowerCase() as Config["webSearchContextSize"],
    anthropicApiKey: e.ANTHROPIC_API_KEY ?? "",
    anthropicBaseUrl: (e.ANTHROPIC_UPSTREAM_URL ?? "https://api.anthropic.com").replace(/\/+$/, ""),
    host: e.HOST ?? "127.0.0.1",
    port: e.PORT === undefined ? 8082 : Number(e.PORT),
    debug: /^(true|1|yes)$/i.test(e.DEBUG ?? ""),
    logFormat: e.LOG_FORMAT?.toLowerCase() === "json" ? "json" : "text",
    signatureSecret: "",
    proxyApiKeys: parseClientKeys(e.PROXY_API_KEY ?? "").map((k) => k.key),
    clientKeys: parseClientKeys(e.PROXY_API_KEY ?? ""),
    budgetUsdPerDay: e.BUDGET_USD_PER_DAY === undefined ? undefined : Number(e.BUDGET_USD_PER_DAY),
    budgetUsdPerMonth: e.BUDGET_USD_PER_MONTH === undefined
      ? undefined
      : Number(e.BUDGET_USD_PER_MONTH),
    adminKeys: list(e.ADMIN_KEYS ?? ""),
    corsOrigins: list(e.CORS_ORIGINS ?? "").map((o) => new URL(o).origin),
    allowedHosts: list(e.ALLOWED_HOSTS ?? "").map((h) => h.toLowerCase()),
    allowUnauthenticated: /^(true|1|yes)$/i.test(e.ALLOW_UNAUTHENTICATED ?? ""),
    maxBodyBytes: number(e.MAX_BODY_BYTES, 32 * 1024 * 1024),
    maxConnections: number(e.MAX_CONNECTIONS, 1000),
    clientTimeoutMs: number(e.CLIENT_TIMEOUT_MS, 30_000),
    shutdownGraceMs: number(e.SHUTDOWN_GRACE_MS, 10_000),
    timeouts: {
      connectMs: number(e.UPSTREAM_CONNECT_TIMEOUT_MS, 60_000),
      idleMs: number(e.UPSTREAM_IDLE_TIMEOUT_MS, 300_000),
      totalMs: number(e.UPSTREAM_TOTAL_TIMEOUT_MS, 3_600_000),
    },
    usageDb: e.USAGE_DB === undefined ? undefined : /^off$/i.test(e.USAGE_DB) ? null : e.USAGE_DB,
    usageRetentionDays: number(e.USAGE_RETENTION_DAYS, 30),
    azureDeploymentModels: Object.fromEntries(splitPairs(e.AZURE_DEPLOYMENT_MODELS ?? "")),
    modelLimits: parseLimits(e.MODEL_LIMITS),
    modelPrices: parsePrices(e.MODEL_PRICES),
    routes: parseRoutes(env),
    longContextThreshold: e.LONG_CONTEXT_THRESHOLD === undefined
      ? undefined
      : Number(e.LONG_CONTEXT_THRESHOLD),
    routerScript: e.ROUTER_SCRIPT,
    routerTimeoutMs: number(e.ROUTER_TIMEOUT_MS, 1_000),
  };
  const problems: string[] = [];
  for (const provider of [preferredProvider, ...fallbackProviders]) {
    const where = provider === preferredProvider
      ? `PREFERRED_PROVIDER is ${provider}`
      : `FALLBACK_PROVIDERS names ${provider}`;
    // A local OpenAI-compatible server (Ollama, vLLM, LM Studio) needs no key.
    const keyOptional = provider === "openai" && openaiBaseUrl !== OPENAI_DEFAULT_BASE_URL;
    if (!keyOptional && !providerKey(config, provider)) {
      problems.push(`${KEY_VARIABLE[provider]} is required when ${where}`);
    }
    if (provider === "azure" && !config.azureEndpoint) {
      problems.push(
        `AZURE_OPENAI_ENDPOINT is required when ${where} (https://<resource>.openai.azure.com)`,
      );
    }
  }
  for (const name of config.adminKeys) {
    if (!config.clientKeys.some((key) => key.name === name)) {
      problems.push(`ADMIN_KEYS names ${name}, which is not a key name in PROXY_API_KEY`);
    }
  }
  // A task route may name a provider that is neither preferred nor a fallback: it needs its key.
  for (const slot of ROUTE_SLOTS) {
    for (const model of config.routes[slot] ?? []) {
      const prefix = /^(openai|gemini|google|azure|anthropic)\//i.exec(model)?.[1];
      const provider = prefix ? providerName(prefix)! : undefined;
      if (!provider || provider === preferredProvider) continue;
      if (fallbackProviders.includes(provider)) continue;
      const keyOptional = provider === "openai" && openaiBaseUrl !== OPENAI_DEFAULT_BASE_URL;
      if (!keyOptional && !providerKey(config, provider)) {
        problems.push(
          `${KEY_VARIABLE[provider]} is required when ${ROUTE_VARIABLE[slot]} names ${model}`,
        );
      }
    }
  }
  if (problems.length) throw new ConfigError(problems);
  config.signatureSecret = e.SIGNATURE_SECRET ??
    `ccproxy:${config.openaiApiKey}:${config.geminiApiKey}:${config.azureApiKey}:${config.anthropicApiKey}`;
  return config;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|::1|\[::1\])$/i;

/** True for a loopback listen address (`127.x.x.x`, `localhost`, `::1`). */
export function isLoopback(host: string): boolean {
  return LOOPBACK.test(host);
}

/**
 * The reason this configuration must not serve, or undefined: an address other than loopback
 * (or Deno Deploy, where anyone can reach it) without `PROXY_API_KEY`, unless
 * `ALLOW_UNAUTHENTICATED=true` says so on purpose.
 */
export function exposureProblem(config: Config, deployed = false): string | undefined {
  if (config.proxyApiKeys.length || config.allowUnauthenticated) return undefined;
  if (!deployed && LOOPBACK.test(config.host)) return undefined;
  const where = deployed ? "on Deno Deploy" : `on ${config.host} (not a loopback address)`;
  return `refusing to serve ${where} without PROXY_API_KEY: anyone who finds it could spend your ` +
    "provider credit. Set PROXY_API_KEY=<a long random key> (clients send it as ANTHROPIC_API_KEY), " +
    "or ALLOW_UNAUTHENTICATED=true if another layer already authenticates.";
}

/** The configured key of a provider ("" when none). */
export function providerKey(config: Config, provider: Provider): string {
  switch (provider) {
    case "openai":
      return config.openaiApiKey;
    case "google":
      return config.geminiApiKey;
    case "azure":
      return config.azureApiKey;
    case "anthropic":
      return config.anthropicApiKey;
  }
}

/** Every secret in the configuration, for redaction. */
export function secretsOf(config: Config): string[] {
  return [
    config.openaiApiKey,
    config.geminiApiKey,
    config.azureApiKey,
    config.anthropicApiKey,
    config.signatureSecret,
    ...config.proxyApiKeys,
  ].filter((s) => s.length >= 4);
}
