/**
 * A first start that explains itself: an `--env-file` that cannot be read is an error, a key
 * still holding the `.env.example` placeholder or a model of another provider is a warning, and a
 * port that cannot be bound is
 * one line, not a stack trace.
 *
 * @module
 */
import { parseEnv } from "node:util";
import { type Config, OPENAI_DEFAULT_BASE_URL, type Provider } from "../config.ts";
import { envFileWarnings } from "../env_file.ts";

/** A start-up problem worth one line and exit code 2. */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StartupError";
  }
}

/**
 * Reads `path` as a `.env` file. The default `.env` may be missing or unreadable (most setups
 * use the environment); a file the user named with `--env-file` (`required`) may not: silence
 * there would start the proxy without the settings they meant to give it. A line the parser
 * would drop or misread (no `=`, an unterminated quote) is a warning on standard error.
 */
export function readEnvFile(path: string, required = false): Record<string, string> {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    if (!required) {
      if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotCapable) {
        return {};
      }
      throw error;
    }
    throw new StartupError(`--env-file ${path}: ${readProblem(error, path)}`);
  }
  for (const warning of envFileWarnings(text)) {
    console.error(`ccproxy: warning: ${path} ${warning}`);
  }
  return parseEnv(text) as Record<string, string>;
}

function readProblem(error: unknown, path: string): string {
  if (error instanceof Deno.errors.NotFound) return "no such file";
  if (error instanceof Deno.errors.NotCapable) {
    return `not readable with this process's permissions (add --allow-read=${path})`;
  }
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.IsADirectory) return "is a directory";
  return `cannot read it: ${error instanceof Error ? error.message : error}`;
}

const KEYS: Record<Provider, [string, (config: Config) => string]> = {
  openai: ["OPENAI_API_KEY", (c) => c.openaiApiKey],
  google: ["GEMINI_API_KEY", (c) => c.geminiApiKey],
  azure: ["AZURE_OPENAI_API_KEY", (c) => c.azureApiKey],
  anthropic: ["ANTHROPIC_API_KEY", (c) => c.anthropicApiKey],
};

/** Values that are instructions, not keys: `sk-...`, `<your key>`, `your-key-here`, `changeme`. */
const PLACEHOLDER = /\.\.\.|^<.*>$|^your[-_ ]|^changeme$|^x{3,}$/i;

/**
 * One warning per provider in use whose key is still a placeholder such as `.env.example`'s
 * `sk-...`: every request to it would fail, so say so before the first one does.
 */
export function placeholderWarnings(config: Config): string[] {
  const warnings: string[] = [];
  for (const provider of [config.preferredProvider, ...config.fallbackProviders]) {
    const [variable, key] = KEYS[provider];
    const value = key(config);
    if (value && PLACEHOLDER.test(value)) {
      warnings.push(
        `warning: ${variable} is still the placeholder "${value}" from .env.example: ` +
          `put your ${provider} key in .env, or every request to ${provider} fails`,
      );
    }
  }
  return warnings;
}

/** Model names that plainly belong to another provider than the one they are sent to. */
const FOREIGN: Record<Provider, { pattern: RegExp; owner: string } | undefined> = {
  // OpenAI's names: gpt-*, chatgpt-*, the o-series (o1, o3-mini, o4-mini), codex-*.
  google: { pattern: /^(gpt-|chatgpt-|codex-|o\d+(-|$))/i, owner: "an OpenAI model" },
  anthropic: { pattern: /^(gpt-|chatgpt-|codex-|o\d+(-|$)|gemini-)/i, owner: "not a Claude model" },
  openai: { pattern: /^gemini-/i, owner: "a Gemini model" },
  azure: { pattern: /^gemini-/i, owner: "a Gemini model" },
};

const PREFIX: Record<Provider, string> = {
  openai: "OPENAI",
  google: "GEMINI",
  azure: "AZURE",
  anthropic: "ANTHROPIC",
};

/** Each provider's default URL: behind any other (a gateway) a model can have any name. */
const PUBLIC_URL: Partial<Record<Provider, (config: Config) => boolean>> = {
  openai: (c) => c.openaiBaseUrl === OPENAI_DEFAULT_BASE_URL,
  google: (c) => c.geminiBaseUrl === "https://generativelanguage.googleapis.com",
  anthropic: (c) => c.anthropicBaseUrl === "https://api.anthropic.com",
};

/**
 * One warning per configured model that plainly belongs to another provider (`gpt-4.1` on
 * google, `gemini-2.5-pro` on openai): typically `BIG_MODEL` left over from another setup, so
 * every request would be a 404 from the provider. Behind a gateway (a base URL of one's own) any
 * name may be right, so none is warned about.
 */
export function modelWarnings(config: Config): string[] {
  const warnings: string[] = [];
  for (const provider of new Set([config.preferredProvider, ...config.fallbackProviders])) {
    const foreign = FOREIGN[provider];
    if (!foreign || PUBLIC_URL[provider]?.(config) === false) continue;
    const set = config.models[provider];
    for (const [size, model] of [["BIG", set.big], ["MIDDLE", set.middle], ["SMALL", set.small]]) {
      if (!model || !foreign.pattern.test(model)) continue;
      const variable = provider === config.preferredProvider
        ? `${size}_MODEL (or ${PREFIX[provider]}_${size}_MODEL)`
        : `${PREFIX[provider]}_${size}_MODEL`;
      warnings.push(
        `warning: ${variable} is "${model}", ${foreign.owner}, but it goes to ${provider}: ` +
          `every request for it fails; unset it for ${provider}'s default or name a ${provider} model`,
      );
    }
  }
  return warnings;
}

/** The one line for a server that could not listen, or undefined for any other error. */
export function listenProblem(error: unknown, host: string, port: number): string | undefined {
  const where = `cannot listen on ${host.includes(":") ? `[${host}]` : host}:${port}`;
  if (error instanceof Deno.errors.AddrInUse) return `${where}: address already in use`;
  if (error instanceof Deno.errors.AddrNotAvailable) {
    return `${where}: address not available on this machine (check HOST)`;
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return `${where}: permission denied (ports below 1024 need privileges)`;
  }
  if (error instanceof Deno.errors.NotCapable) {
    return `${where}: not allowed by this process's permissions (--allow-net)`;
  }
  return undefined;
}
