/**
 * One decision of how hard the model should think, from Anthropic's `thinking` and
 * `output_config.effort`; each backend maps the result onto its own knob.
 *
 * @module
 */
import type { ThinkingConfig } from "../anthropic/schema.ts";

/** The proxy's effort scale. `off` asks for the least thinking the model allows. */
export type Effort = "off" | "low" | "medium" | "high" | "xhigh" | "max";

/** What the client asked for: an effort (or none, meaning the model's default) and display. */
export interface ThinkingIntent {
  /** Undefined: leave the backend's default. */
  effort?: Effort;
  /** Budget in tokens when the client gave one. */
  budget?: number;
  /** The client wants thinking blocks without text (`display: "omitted"`). */
  omitText: boolean;
  /** The client said anything about thinking (`thinking` or an effort); else: backend default. */
  requested: boolean;
}

/**
 * Decides the effort. An explicit `output_config.effort` wins; `enabled` budgets map below
 * 4 096 → low, below 16 384 → medium, else high; `disabled` → off; `adaptive` → default.
 */
export function decideEffort(
  thinking: ThinkingConfig | undefined,
  effort: string | null | undefined,
): ThinkingIntent {
  const display = thinking && "display" in thinking ? thinking.display : undefined;
  const omitText = display === "omitted";
  const requested = thinking !== undefined || Boolean(effort);
  if (thinking?.type === "disabled") return { effort: "off", omitText, requested };
  if (effort) return { effort: effort as Effort, omitText, requested };
  if (thinking?.type === "enabled") {
    const budget = thinking.budget_tokens;
    const level: Effort = budget < 4_096 ? "low" : budget < 16_384 ? "medium" : "high";
    return { effort: level, budget, omitText, requested };
  }
  return { omitText, requested };
}

/** OpenAI's effort words (Chat `reasoning_effort`, Responses `reasoning.effort`). */
export type OpenAIEffort = "none" | "minimal" | "low" | "medium" | "high";

/** An effort as OpenAI reasoning models take it: `off` is the model's lowest, the top is `high`. */
export function openaiEffort(
  effort: Effort,
  lowest: "none" | "minimal" | "low" = "low",
): OpenAIEffort {
  if (effort === "off") return lowest;
  if (effort === "xhigh" || effort === "max") return "high";
  return effort;
}
