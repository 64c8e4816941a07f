/**
 * The one Anthropic stream state machine. Every provider translator drives it with
 * `text()`, `thinking()`, `toolStart()`, `toolArgs()`, `stop()` or `fail()`; it owns the
 * protocol's invariants so no provider can break them:
 *
 * - `message_start` first, exactly once;
 * - block indexes 0, 1, 2, … in order, at most one block open, each closed before the next;
 * - a tool_use block starts with `input: {}` and streams its arguments as given, up to the end
 *   of their object; arguments that are not a complete JSON object (cut by the output limit, or
 *   malformed) end the message with an `error` naming the tool: they are never completed into a
 *   different call (fragments already sent cannot be taken back);
 * - every tool_use id is the proxy's own (`toolu_` + random characters), whatever the upstream
 *   sent: many OpenAI-compatible servers restart at `call_0` in every answer, and a client that
 *   sees one id twice in a conversation (Claude Code) loops forever;
 * - a thinking block ends with exactly one `signature_delta`;
 * - a server tool call (`server_tool_use`) and its `web_search_tool_result` are written whole,
 *   the result inside its `content_block_start` as Anthropic sends it; citations go only to
 *   text blocks; `usage.server_tool_use` counts the searches that returned results;
 * - the stream ends with `message_delta` + `message_stop`, or with one `error`, never both.
 *
 * @module
 */
import { randomId } from "../ids.ts";
import { completionOf, JsonEnd, parses } from "./json_complete.ts";
import type {
  ErrorType,
  StopReason,
  StreamEvent,
  Usage,
  WebSearchCitation,
  WebSearchError,
  WebSearchResult,
} from "./schema.ts";

/** What the writer needs to know about the message it writes. */
export interface MessageInit {
  /** `msg_…` id. */
  id: string;
  /** The model name the client asked for (echoed back). */
  model: string;
  /** Input tokens as known before the upstream reports them (an estimate). */
  inputTokens: number;
  /** Signs a finished thinking block; the result goes out as its `signature_delta`. */
  signThinking: (thinking: string) => string;
  /** `display: "omitted"`: thinking blocks keep their signature but carry no text. */
  omitThinkingText?: boolean;
  /**
   * The translator passes ids it minted itself, unique per call (Gemini's signed ids, which
   * carry a thought signature). Otherwise every upstream id is replaced by a fresh `toolu_` id.
   */
  ownToolIds?: boolean;
  /** Names the backend in the errors the writer makes itself (`openai: …`); "upstream" if unset. */
  provider?: string;
}

type Open = "text" | "thinking" | "tool_use" | undefined;

/** Writes a valid Anthropic event sequence to `emit`. */
export class EventWriter {
  #emit: (event: StreamEvent) => void;
  #init: MessageInit;
  #started = false;
  #ended = false;
  #open: Open;
  #index = -1;
  #thinkingText = "";
  #signature: string | undefined;
  #args = "";
  #argsEnd = new JsonEnd();
  #toolName = "";
  #silenced = false;
  #stopReason: StopReason | undefined;
  #outputChars = 0;
  #searches = 0;

  constructor(emit: (event: StreamEvent) => void, init: MessageInit) {
    // After a tool call's arguments fail (see closeBlock), nothing more goes out.
    this.#emit = (event) => this.#silenced || emit(event);
    this.#init = init;
  }

  /** True once `stop()` or `fail()` has run. */
  get ended(): boolean {
    return this.#ended;
  }

  /** True once `message_start` has gone out. */
  get started(): boolean {
    return this.#started;
  }

  /** Characters of generated output so far (for an estimate when the upstream gives no usage). */
  get outputChars(): number {
    return this.#outputChars;
  }

  /** Emits `message_start` (once). */
  start(inputTokens?: number): void {
    if (this.#started || this.#ended) return;
    this.#started = true;
    this.#emit({
      type: "message_start",
      message: {
        id: this.#init.id,
        type: "message",
        role: "assistant",
        model: this.#init.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        stop_details: null,
        usage: {
          input_tokens: inputTokens ?? this.#init.inputTokens,
          output_tokens: 0,
          cache_creation_input_tokens: 0,
          cache_read_input_tokens: 0,
        },
      },
    });
  }

  /** Appends visible text, opening a text block if needed. Empty strings are ignored. */
  text(delta: string): void {
    if (!delta || this.#ended) return;
    this.#ensure("text");
    this.#outputChars += delta.length;
    this.#emit({
      type: "content_block_delta",
      index: this.#index,
      delta: { type: "text_delta", text: delta },
    });
  }

  /** Appends thinking text, opening a thinking block if needed. */
  thinking(delta: string): void {
    if (this.#ended) return;
    this.#ensure("thinking");
    if (!delta || this.#init.omitThinkingText) return;
    this.#thinkingText += delta;
    this.#outputChars += delta.length;
    this.#emit({
      type: "content_block_delta",
      index: this.#index,
      delta: { type: "thinking_delta", thinking: delta },
    });
  }

  /** Sets the signature of the open (or a new, empty) thinking block; it goes out at close. */
  signature(signature: string): void {
    if (this.#ended) return;
    this.#ensure("thinking");
    this.#signature = signature;
  }

  /** Closes whatever block is open (a thinking block gets its signature first). */
  closeBlock(): void {
    if (this.#open === undefined) return;
    const index = this.#index;
    if (this.#open === "thinking") {
      const signature = this.#signature ?? this.#init.signThinking(this.#thinkingText);
      this.#emit({
        type: "content_block_delta",
        index,
        delta: { type: "signature_delta", signature },
      });
    } else if (this.#open === "tool_use") {
      const problem = this.#argsProblem();
      if (problem) {
        // Fragments already sent cannot be taken back: the message ends in an error naming the
        // tool, in both modes (a non-streaming answer is the same events accumulated).
        this.#open = undefined;
        this.fail("api_error", `${this.#init.provider ?? "upstream"}: ${problem}`);
        this.#silenced = true;
        return;
      }
      if (!this.#args.trim()) {
        // A call with no arguments at all (a tool without parameters): an empty object.
        this.#emit({
          type: "content_block_delta",
          index,
          delta: { type: "input_json_delta", partial_json: "{}" },
        });
      }
    }
    this.#emit({ type: "content_block_stop", index });
    this.#open = undefined;
  }

  /**
   * Opens a tool_use block (closing the open one). `id` is the upstream's call id; the block
   * gets a fresh `toolu_` id instead (see {@link MessageInit.ownToolIds}). The client sends that
   * id back with the result, and it goes upstream as the call id: every backend takes any short
   * string there, so no mapping is kept.
   */
  toolStart(id: string, name: string): void {
    if (this.#ended) return;
    this.start();
    this.closeBlock();
    this.#index++;
    this.#open = "tool_use";
    this.#args = "";
    this.#argsEnd = new JsonEnd();
    this.#toolName = name;
    this.#emit({
      type: "content_block_start",
      index: this.#index,
      content_block: {
        type: "tool_use",
        id: this.#init.ownToolIds ? id : randomId("toolu_"),
        name,
        input: {},
      },
    });
  }

  /**
   * Streams a fragment of the open tool call's JSON arguments, byte for byte, up to the end of
   * the arguments' object: text after it (`{"a": 1}} not json`) is dropped.
   */
  toolArgs(fragment: string): void {
    if (!fragment || this.#ended || this.#open !== "tool_use") return;
    fragment = fragment.slice(0, this.#argsEnd.take(fragment));
    if (!fragment) return;
    this.#args += fragment;
    this.#outputChars += fragment.length;
    this.#emit({
      type: "content_block_delta",
      index: this.#index,
      delta: { type: "input_json_delta", partial_json: fragment },
    });
  }

  /**
   * Writes one server tool call whole (closing the open block): the block with `input: {}`, its
   * input as one `input_json_delta`, and its stop, as Anthropic streams `server_tool_use`.
   */
  serverToolUse(id: string, name: string, input: Record<string, unknown>): void {
    if (this.#ended) return;
    this.start();
    this.closeBlock();
    const index = ++this.#index;
    this.#emit({
      type: "content_block_start",
      index,
      content_block: { type: "server_tool_use", id, name, input: {} },
    });
    this.#emit({
      type: "content_block_delta",
      index,
      delta: { type: "input_json_delta", partial_json: JSON.stringify(input) },
    });
    this.#emit({ type: "content_block_stop", index });
  }

  /**
   * Writes a `web_search_tool_result` block whole: the results travel in its
   * `content_block_start`, with no deltas. A list of results counts as one search request.
   */
  webSearchResult(toolUseId: string, content: WebSearchResult[] | WebSearchError): void {
    if (this.#ended) return;
    this.start();
    this.closeBlock();
    const index = ++this.#index;
    if (Array.isArray(content)) this.#searches++;
    this.#emit({
      type: "content_block_start",
      index,
      content_block: { type: "web_search_tool_result", tool_use_id: toolUseId, content },
    });
    this.#emit({ type: "content_block_stop", index });
  }

  /** Adds a citation to the open text block (opening one if needed), before or amid its text. */
  citation(citation: WebSearchCitation): void {
    if (this.#ended) return;
    this.#ensure("text");
    this.#emit({
      type: "content_block_delta",
      index: this.#index,
      delta: { type: "citations_delta", citation },
    });
  }

  /** Ends the message: closes the open block, then `message_delta` and `message_stop`. */
  stop(reason: StopReason, usage: Usage): void {
    if (this.#ended) return;
    this.start(usage.input_tokens);
    this.#stopReason = reason;
    this.closeBlock();
    this.#ended = true;
    if (this.#searches > 0 && !usage.server_tool_use) {
      usage = {
        ...usage,
        server_tool_use: { web_search_requests: this.#searches, web_fetch_requests: 0 },
      };
    }
    this.#emit({
      type: "message_delta",
      delta: { stop_reason: reason, stop_sequence: null, stop_details: null },
      usage,
    });
    this.#emit({ type: "message_stop" });
  }

  /** Ends the message with an `error` event instead (no `message_stop`). */
  fail(type: ErrorType, message: string): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#open === "tool_use" && !parses(this.#args)) {
      // A stream cut inside a call: say which call the client got only part of.
      message += ` (the call to tool ${
        JSON.stringify(this.#toolName)
      } was cut before its arguments were complete)`;
    }
    this.#open = undefined;
    this.#emit({ type: "error", error: { type, message } });
  }

  /**
   * Why the open tool call's arguments cannot go out as they are, or undefined. Arguments the
   * upstream cut off (the output limit, or a call abandoned halfway) are never completed: closing
   * a cut string (`rm -rf /tmp/build/cache` of `…/cache/old`) makes a valid, different call that
   * the client would run. Complete JSON missing only whitespace is fine.
   */
  #argsProblem(): string | undefined {
    const tool = JSON.stringify(this.#toolName);
    const args = this.#args;
    if (!args.trim()) {
      return this.#stopReason === "max_tokens"
        ? `the output limit cut the call to tool ${tool} before its arguments were complete (raise max_tokens)`
        : undefined;
    }
    if (parses(args)) {
      return /^\s*\{/.test(args)
        ? undefined
        : `the arguments of tool ${tool} are not a JSON object`;
    }
    if (completionOf(args) === undefined) {
      return `the arguments of tool ${tool} are not a JSON object`;
    }
    return this.#stopReason === "max_tokens"
      ? `the output limit cut the call to tool ${tool} before its arguments were complete (raise max_tokens)`
      : `the call to tool ${tool} ended before its arguments were complete JSON`;
  }

  #ensure(kind: "text" | "thinking"): void {
    this.start();
    if (this.#open === kind) return;
    this.closeBlock();
    this.#index++;
    this.#open = kind;
    if (kind === "text") {
      this.#emit({
        type: "content_block_start",
        index: this.#index,
        content_block: { type: "text", text: "" },
      });
    } else {
      this.#thinkingText = "";
      this.#signature = undefined;
      this.#emit({
        type: "content_block_start",
        index: this.#index,
        content_block: { type: "thinking", thinking: "", signature: "" },
      });
    }
  }
}

/** Usage when the upstream reported none: the input estimate, and output at ~4 chars a token. */
export function estimatedUsage(inputTokens: number, outputChars: number): Usage {
  return {
    input_tokens: inputTokens,
    output_tokens: Math.ceil(outputChars / 4),
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
  };
}
