/**
 * What the proxy knows about backend models: output cap, context window, and whether the model
 * reasons (which changes the parameters it accepts). Windows and caps come from the catalog
 * (`catalog.ts`) when it knows the model; the table below covers what no catalog has.
 *
 * @module
 */
import { catalogEntry, type CatalogFamily } from "./catalog.ts";

/** Limits and capabilities of a backend model. */
export interface ModelInfo {
  /** Largest `max_tokens` the model accepts. */
  maxOutput: number;
  /** Context window in tokens. */
  context: number;
  /** Reasoning model: takes `max_completion_tokens` and `reasoning_effort`, no sampling params. */
  reasoning: boolean;
  /** Lowest reasoning effort the model accepts (`none`, `minimal` or `low`). */
  minEffort?: "none" | "minimal" | "low";
  /** Rejects `stop` (o3, o4-mini). */
  noStop?: boolean;
  /** Served only by the Responses API (codex, -pro, deep research). */
  responsesOnly?: boolean;
  /** Accepts images (undefined: not known). */
  vision?: boolean;
  /** Where the window and cap come from: `MODEL_LIMITS`, a catalog, the table, or a guess. */
  source?: "override" | "models.dev" | "genai-prices" | "table" | "default";
}

/** A user's own limits for a model (`MODEL_LIMITS=model=context/output`). */
export interface LimitOverride {
  /** Context window in tokens. */
  context: number;
  /** Output cap in tokens (default: the known or assumed cap, at most the window). */
  maxOutput?: number;
}

// Ordered: the first pattern that matches wins, so specific names come before families.
const OPENAI_MODELS: Array<[RegExp, ModelInfo]> = [
  [/^gpt-5(\.\d+)?-chat/, { maxOutput: 16_384, context: 128_000, reasoning: false }],
  [/^gpt-5\.[1-9]/, { maxOutput: 128_000, context: 400_000, reasoning: true, minEffort: "none" }],
  [/^gpt-5/, { maxOutput: 128_000, context: 400_000, reasoning: true, minEffort: "minimal" }],
  [/^o1-mini/, { maxOutput: 65_536, context: 128_000, reasoning: true, minEffort: "low" }],
  [/^o(3|4)(-mini)?(-\d|$)/, {
    maxOutput: 100_000,
    context: 200_000,
    reasoning: true,
    minEffort: "low",
    noStop: true,
  }],
  [/^o\d/, { maxOutput: 100_000, context: 200_000, reasoning: true, minEffort: "low" }],
  [/^gpt-4\.1/, { maxOutput: 32_768, context: 1_047_576, reasoning: false }],
  [/^gpt-4o/, { maxOutput: 16_384, context: 128_000, reasoning: false }],
  [/^gpt-4-turbo/, { maxOutput: 4_096, context: 128_000, reasoning: false }],
  [/^gpt-4/, { maxOutput: 8_192, context: 8_192, reasoning: false }],
  [/^gpt-3\.5/, { maxOutput: 4_096, context: 16_385, reasoning: false }],
];

/** Limits assumed for a model the proxy does not know (OpenAI-compatible local servers). */
export const UNKNOWN_MODEL: ModelInfo = { maxOutput: 8_192, context: 128_000, reasoning: false };

/** Options of {@link openaiModelInfo}. */
export interface ModelInfoOptions {
  /** Which catalog lists the model (default `openai`). */
  family?: CatalogFamily;
  /** The user's limits for this model, which win over every catalog. */
  override?: LimitOverride;
}

/**
 * Looks up an OpenAI-family model by id (a `provider/` prefix or date suffix is fine): the
 * table's reasoning facts, with the window and output cap from the user's override, else the
 * catalog, else the table.
 */
export function openaiModelInfo(model: string, options: ModelInfoOptions = {}): ModelInfo {
  const id = model.toLowerCase().replace(/^.*\//, "");
  const responsesOnly = RESPONSES_ONLY.test(id);
  const known = OPENAI_MODELS.find(([pattern]) => pattern.test(id))?.[1];
  let info: ModelInfo = known
    ? { ...known, source: "table" }
    : { ...UNKNOWN_MODEL, source: "default" };
  if (responsesOnly) info = { ...info, responsesOnly, reasoning: known ? info.reasoning : true };
  const listed = TABLE_WINS.test(id) ? undefined : catalogEntry(options.family ?? "openai", id);
  if (listed) {
    info.context = listed.context ?? info.context;
    info.maxOutput = listed.maxOutput ?? (known ? info.maxOutput : Math.min(info.context, 32_768));
    info.vision = listed.vision;
    info.source = listed.source;
  }
  return withOverride(info, options.override);
}

/** Applies a user's limits; the output cap never exceeds the window. */
export function withOverride<T extends { maxOutput: number; context?: number }>(
  info: T,
  override: LimitOverride | undefined,
): T & { source?: ModelInfo["source"] } {
  if (!override) return info;
  const maxOutput = Math.min(override.maxOutput ?? info.maxOutput, override.context);
  return { ...info, context: override.context, maxOutput, source: "override" };
}

/**
 * The model an Azure deployment runs: its `AZURE_DEPLOYMENT_MODELS` entry, else the deployment
 * name itself (a deployment named after its model needs no entry). Limits, reasoning parameters
 * and the Chat/Responses choice follow this model; the ledger prices it.
 *
 * @example
 * ```ts
 * import { modelBehindDeployment } from "./models.ts";
 * const config = { azureDeploymentModels: { "my-big-deploy": "gpt-4.1" } };
 * console.log(modelBehindDeployment(config, "my-big-deploy")); // "gpt-4.1"
 * console.log(modelBehindDeployment(config, "o4-mini")); // "o4-mini"
 * ```
 */
export function modelBehindDeployment(
  config: { azureDeploymentModels: Record<string, string> },
  deployment: string,
): string {
  return config.azureDeploymentModels[deployment] ??
    config.azureDeploymentModels[deployment.toLowerCase()] ?? deployment;
}

const RESPONSES_ONLY = /codex|(^|-)pro($|-)|deep-research|computer-use/;

/** Where the catalog is wrong: models.dev gives gpt-5-chat gpt-5's 400k/128k, OpenAI 128k/16k. */
const TABLE_WINS = /^gpt-5(\.\d+)?-chat/;

/** Limits and thinking controls of a Gemini model. */
export interface GeminiModelInfo {
  /** Largest `maxOutputTokens`. */
  maxOutput: number;
  /** Context window in tokens (from the catalog; 1M for the 2.5 and 3 families). */
  context?: number;
  /** Thinking control: a token budget (2.5), a level (3), or none. */
  thinking: "budget" | "level" | "none";
  /** Smallest and largest budget (2.5). */
  budget?: { min: number; max: number; canDisable: boolean };
  /** Levels the model accepts, lowest first (3). */
  levels?: string[];
}

/** Looks up a Gemini model by id, with its window (and cap) from the override or the catalog. */
export function geminiModelInfo(model: string, override?: LimitOverride): GeminiModelInfo {
  const info = geminiTable(model);
  const listed = catalogEntry("google", model);
  const context = listed?.context ??
    (/^gemini-(2\.5|3)/.test(model.replace(/^.*\//, "")) ? 1_048_576 : 32_768);
  return withOverride(
    { ...info, context, maxOutput: listed?.maxOutput ?? info.maxOutput },
    override,
  );
}

function geminiTable(model: string): GeminiModelInfo {
  const id = model.toLowerCase().replace(/^.*\//, "").replace(/^models\//, "");
  if (/^gemini-3/.test(id)) {
    const levels = id.includes("pro") ? ["LOW", "HIGH"] : ["MINIMAL", "LOW", "MEDIUM", "HIGH"];
    return { maxOutput: 65_536, thinking: "level", levels };
  }
  if (/^gemini-2\.5-pro/.test(id)) {
    return {
      maxOutput: 65_536,
      thinking: "budget",
      budget: { min: 128, max: 32_768, canDisable: false },
    };
  }
  if (/^gemini-2\.5-flash-lite/.test(id)) {
    return {
      maxOutput: 65_536,
      thinking: "budget",
      budget: { min: 512, max: 24_576, canDisable: true },
    };
  }
  if (/^gemini-2\.5/.test(id)) {
    return {
      maxOutput: 65_536,
      thinking: "budget",
      budget: { min: 1, max: 24_576, canDisable: true },
    };
  }
  return { maxOutput: 8_192, thinking: "none" };
}
