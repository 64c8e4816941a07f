/**
 * `count_tokens`: counts what would go upstream (system, messages, tools, images) with the
 * target model's tokenizer. The tokenizer loads on first use, keeping start-up fast.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { normalize, type Part } from "../anthropic/conversation.ts";
import { ProxyError } from "../anthropic/errors.ts";
import type { CountTokensRequest } from "../anthropic/schema.ts";
import { selectTools } from "../anthropic/tools.ts";

type Counter = (text: string) => number;

let o200k: Promise<Counter> | undefined;
let cl100k: Promise<Counter> | undefined;

/** The tokenizer of an OpenAI-family model: cl100k for gpt-4 / gpt-3.5, o200k otherwise. */
function tokenizerFor(model: string): Promise<Counter> {
  const id = model.toLowerCase().replace(/^.*\//, "");
  if (/^gpt-(3\.5|4)(?!o|\.\d)/.test(id)) {
    cl100k ??= import("gpt-tokenizer/encoding/cl100k_base").then((m) => m.countTokens);
    return cl100k;
  }
  o200k ??= import("gpt-tokenizer/encoding/o200k_base").then((m) => m.countTokens);
  return o200k;
}

// Chat framing per message and for the reply, as in OpenAI's published counting recipe.
const PER_MESSAGE = 3;
const PER_REPLY = 3;
const PER_TOOL = 8;

/**
 * Counts the input tokens of a request for `model`. Throws a {@link ProxyError} (500) when it
 * cannot count, so clients fall back to their own estimate instead of trusting a zero.
 */
export async function countTokens(request: CountTokensRequest, model: string): Promise<number> {
  let count: Counter;
  try {
    count = await tokenizerFor(model);
  } catch (error) {
    throw new ProxyError("api_error", `count_tokens: tokenizer unavailable: ${error}`);
  }
  const conversation = normalize(request);
  let total = PER_REPLY;
  const text = (value: unknown) => (typeof value === "string" && value ? count(value) : 0);
  const parts = (list: Part[]) => {
    let sum = 0;
    for (const part of list) sum += part.kind === "text" ? text(part.text) : attachmentTokens(part);
    return sum;
  };
  if (conversation.system.length) {
    total += PER_MESSAGE + text(conversation.system.join("\n\n"));
  }
  for (const turn of conversation.turns) {
    total += PER_MESSAGE;
    if (turn.role === "system") total += text(turn.text);
    else if (turn.role === "user") total += parts(turn.parts);
    else {
      for (const item of turn.items) {
        if (item.kind === "text") total += text(item.text);
        else if (item.kind === "call") {
          total += PER_TOOL + text(item.name) + text(JSON.stringify(item.input));
        }
      }
      for (const result of turn.results) total += PER_MESSAGE + parts(result.parts);
    }
  }
  // Deferred tools not loaded yet are not sent, so they cost nothing.
  for (const tool of selectTools(request).tools) {
    total += PER_TOOL + text(tool.name) + text(tool.description ?? "");
    if (tool.input_schema) total += text(JSON.stringify(tool.input_schema));
  }
  return Math.max(1, total);
}

/** A quick estimate (characters / 4) for `message_start` before the upstream reports usage. */
export function estimateTokens(request: CountTokensRequest): number {
  let chars = 0;
  const add = (value: unknown) => {
    if (typeof value === "string") chars += value.length;
    else if (Array.isArray(value)) { for (const item of value) add(item); }
    else if (value && typeof value === "object") {
      const block = value as Record<string, unknown>;
      if (block.type === "image") {
        chars += 6_400;
        return;
      }
      for (const key in block) if (key !== "cache_control") add(block[key]);
    }
  };
  add(request.system);
  add(request.messages);
  add(selectTools(request).tools);
  return Math.max(1, Math.ceil(chars / 4));
}

const FLAT_IMAGE_TOKENS = 1_600;
const PDF_PAGE_TOKENS = 1_500;

function attachmentTokens(part: Part): number {
  if (part.kind === "pdf") {
    if (!part.data) return PDF_PAGE_TOKENS;
    // Rough: one page per ~50 KB of PDF.
    return PDF_PAGE_TOKENS * Math.max(1, Math.round(part.data.length * 0.75 / 50_000));
  }
  if (part.kind !== "image" || !part.data) return FLAT_IMAGE_TOKENS;
  const size = imageSize(part.data);
  return size ? tileTokens(size.width, size.height) : FLAT_IMAGE_TOKENS;
}

/** OpenAI's high-detail image rule: fit in 2048², shortest side 768, 170 per 512² tile + 85. */
export function tileTokens(width: number, height: number): number {
  let w = width, h = height;
  const fit = Math.min(1, 2048 / Math.max(w, h));
  w *= fit;
  h *= fit;
  const shrink = Math.min(1, 768 / Math.min(w, h));
  w *= shrink;
  h *= shrink;
  return 85 + 170 * Math.ceil(w / 512) * Math.ceil(h / 512);
}

/** Width and height from a base64 PNG, GIF or JPEG header; undefined for anything else. */
export function imageSize(base64: string): { width: number; height: number } | undefined {
  const bytes = Buffer.from(base64.slice(0, 87_384), "base64");
  if (bytes.length >= 24 && bytes.readUInt32BE(0) === 0x89504e47) {
    return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
  }
  if (bytes.length >= 10 && bytes.toString("latin1", 0, 3) === "GIF") {
    return { width: bytes.readUInt16LE(6), height: bytes.readUInt16LE(8) };
  }
  if (bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8) {
    let i = 2;
    while (i + 9 < bytes.length) {
      if (bytes[i] !== 0xff) return undefined;
      const marker = bytes[i + 1];
      const length = bytes.readUInt16BE(i + 2);
      if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
        return { width: bytes.readUInt16BE(i + 7), height: bytes.readUInt16BE(i + 5) };
      }
      i += 2 + length;
    }
  }
  return undefined;
}
