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

/** A tokenizer's count of one text. */
export type Counter = (text: string) => number;

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
 * Longest piece of text handed to the tokenizer in one call. Its BPE is superlinear in the length
 * of a run without spaces (40,000 `日` took 11 s in one call, 10 MB overflowed the stack); pieces
 * of 256 characters, cut before whitespace where there is some, count real prompts within 0.3% of
 * the whole-text count, in time linear in the length.
 */
export const MAX_PIECE = 256;

/**
 * Characters tokenized exactly per request. Beyond it an even sample of this many characters is
 * tokenized and the count scaled up: the worst text measured (random CJK) costs ~3 µs a character,
 * so no count takes much more than half a second of CPU, whatever the size of the input.
 */
export const EXACT_CHARS = 200_000;

/** Tokenizer work between two yields to the event loop, so a count never stalls other requests. */
const SLICE_MS = 8;

/**
 * Counts the input tokens of a request for `model`. Throws a {@link ProxyError} (500) when it
 * cannot count, so clients fall back to their own estimate instead of trusting a zero. Work is
 * bounded (see {@link countTexts}); a very large request is an estimate, never an error.
 */
export async function countTokens(request: CountTokensRequest, model: string): Promise<number> {
  let count: Counter;
  try {
    count = await tokenizerFor(model);
  } catch (error) {
    throw new ProxyError("api_error", `count_tokens: tokenizer unavailable: ${error}`);
  }
  const conversation = normalize(request);
  // Framing and attachments are counted here; every text goes to countTexts in one batch.
  let total = PER_REPLY;
  const texts: string[] = [];
  const text = (value: unknown) => {
    if (typeof value === "string" && value) texts.push(value);
  };
  const parts = (list: Part[]) => {
    for (const part of list) {
      part.kind === "text" ? text(part.text) : total += attachmentTokens(part);
    }
  };
  if (conversation.system.length) {
    total += PER_MESSAGE;
    text(conversation.system.join("\n\n"));
  }
  for (const turn of conversation.turns) {
    total += PER_MESSAGE;
    if (turn.role === "system") text(turn.text);
    else if (turn.role === "user") parts(turn.parts);
    else {
      for (const item of turn.items) {
        if (item.kind === "text") text(item.text);
        else if (item.kind === "call") {
          total += PER_TOOL;
          text(item.name);
          text(JSON.stringify(item.input));
        }
      }
      for (const result of turn.results) {
        total += PER_MESSAGE;
        parts(result.parts);
      }
    }
  }
  // Deferred tools not loaded yet are not sent, so they cost nothing.
  for (const tool of selectTools(request).tools) {
    total += PER_TOOL;
    text(tool.name);
    text(tool.description ?? "");
    if (tool.input_schema) text(JSON.stringify(tool.input_schema));
  }
  return Math.max(1, total + await countTexts(texts, count));
}

/**
 * The tokens of `texts` with `count`, in bounded work: each text is cut into pieces of at most
 * {@link MAX_PIECE} characters; at most about {@link EXACT_CHARS} characters are tokenized (an even
 * sample when there are more, scaled to the whole); the event loop gets a turn every few ms.
 */
export async function countTexts(texts: string[], count: Counter): Promise<number> {
  let chars = 0;
  for (const text of texts) chars += text.length;
  if (!chars) return 0;
  const share = Math.min(1, EXACT_CHARS / chars);
  let credit = 0;
  let sampled = 0;
  let tokens = 0;
  let lastYield = performance.now();
  for (const text of texts) {
    for (const piece of pieces(text, MAX_PIECE)) {
      // Every piece earns `share` of its length; a piece is counted when the credit covers it.
      credit += piece.length * share;
      if (credit < piece.length) continue;
      credit -= piece.length;
      tokens += count(piece);
      sampled += piece.length;
      if (performance.now() - lastYield > SLICE_MS) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        lastYield = performance.now();
      }
    }
  }
  return share === 1 || !sampled ? tokens : Math.round(tokens * chars / sampled);
}

/** `text` in pieces of at most `max` characters, cut before whitespace where possible. */
export function* pieces(text: string, max: number): Generator<string> {
  let start = 0;
  while (text.length - start > max) {
    let cut = start + max;
    // Cutting just before a space keeps the tokenizer's own word boundaries (" word").
    for (let i = cut; i > start + max / 2; i--) {
      const c = text.charCodeAt(i);
      if (c === 32 || c === 10 || c === 9 || c === 13) {
        cut = i;
        break;
      }
    }
    // Never split a surrogate pair.
    const c = text.charCodeAt(cut);
    if (c >= 0xdc00 && c <= 0xdfff) cut--;
    yield text.slice(start, cut);
    start = cut;
  }
  yield text.slice(start);
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
