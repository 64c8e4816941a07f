/**
 * What the proxy knows about backend models: output cap, context window, and whether the model
 * reasons (which changes the parameters it accepts).
 *
 * @module
 */

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

/** Looks up an OpenAI-family model by id (a `provider/` prefix or date suffix is fine). */
export function openaiModelInfo(model: string): ModelInfo {
  const id = model.toLowerCase().replace(/^.*\//, "");
  const responsesOnly = RESPONSES_ONLY.test(id);
  for (const [pattern, info] of OPENAI_MODELS) {
    if (pattern.test(id)) return responsesOnly ? { ...info, responsesOnly } : info;
  }
  return responsesOnly ? { ...UNKNOWN_MODEL, reasoning: true, responsesOnly } : UNKNOWN_MODEL;
}

const RESPONSES_ONLY = /codex|(^|-)pro($|-)|deep-research|computer-use/;

/** Limits and thinking controls of a Gemini model. */
export interface GeminiModelInfo {
  /** Largest `maxOutputTokens`. */
  maxOutput: number;
  /** Thinking control: a token budget (2.5), a level (3), or none. */
  thinking: "budget" | "level" | "none";
  /** Smallest and largest budget (2.5). */
  budget?: { min: number; max: number; canDisable: boolean };
  /** Levels the model accepts, lowest first (3). */
  levels?: string[];
}

/** Looks up a Gemini model by id. */
export function geminiModelInfo(model: string): GeminiModelInfo {
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
