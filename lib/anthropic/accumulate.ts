/**
 * Folds an Anthropic event stream into the non-streaming `Message` object, the same way the
 * official SDK's `MessageStream` does. Non-streaming responses are built this way, so both
 * paths share one translator per backend.
 *
 * @module
 */
import { ProxyError } from "./errors.ts";
import type { MessageResponse, ResponseBlock, StreamEvent, Usage } from "./schema.ts";

/**
 * Folds events into a message one at a time (the relay feeds it without a stream). An `error`
 * event becomes a thrown {@link ProxyError} from {@link MessageBuilder.result}.
 */
export class MessageBuilder {
  #message: MessageResponse | undefined;
  #args: string[] = [];
  #error: ProxyError | undefined;
  #complete = false;
  #cutTool: string | undefined;

  /** True once `message_stop` or `error` has been added. */
  get complete(): boolean {
    return this.#complete;
  }

  /** Adds one event. */
  add(event: StreamEvent): void {
    if (this.#complete) return;
    const message = this.#message;
    switch (event.type) {
      case "message_start":
        this.#message = structuredClone(event.message);
        break;
      case "content_block_start":
        message!.content[event.index] = { ...event.content_block } as ResponseBlock;
        this.#args[event.index] = "";
        break;
      case "content_block_delta": {
        const block = message!.content[event.index];
        const delta = event.delta;
        if (delta.type === "text_delta" && block.type === "text") block.text += delta.text;
        else if (delta.type === "thinking_delta" && block.type === "thinking") {
          block.thinking += delta.thinking;
        } else if (delta.type === "signature_delta" && block.type === "thinking") {
          block.signature = delta.signature;
        } else if (delta.type === "citations_delta" && block.type === "text") {
          block.citations = [...(block.citations ?? []), delta.citation];
        } else if (delta.type === "input_json_delta") this.#args[event.index] += delta.partial_json;
        break;
      }
      case "content_block_stop": {
        const block = message!.content[event.index];
        if (block.type === "tool_use" || block.type === "server_tool_use") {
          const input = parseArgs(this.#args[event.index]);
          // Never completed into a different call (see EventWriter): the message fails instead,
          // once its stop reason says why (checked in result()).
          if (input) block.input = input;
          else this.#cutTool ??= block.name;
        }
        break;
      }
      case "message_delta":
        message!.stop_reason = event.delta.stop_reason;
        message!.stop_sequence = event.delta.stop_sequence;
        message!.stop_details = event.delta.stop_details;
        message!.usage = foldUsage(message!.usage, event.usage);
        break;
      case "message_stop":
        this.#complete = true;
        break;
      case "error":
        this.#complete = true;
        this.#error = new ProxyError(event.error.type, event.error.message);
        break;
    }
  }

  /** The message; throws the stream's error, or an `api_error` if it ended short. */
  result(): MessageResponse {
    if (this.#error) throw this.#error;
    if (!this.#complete || !this.#message) {
      throw new ProxyError("api_error", "upstream: stream ended before the message was complete");
    }
    if (this.#cutTool !== undefined) {
      const tool = JSON.stringify(this.#cutTool);
      throw new ProxyError(
        "api_error",
        this.#message.stop_reason === "max_tokens"
          ? `upstream: the output limit cut the call to tool ${tool} before its arguments were complete (raise max_tokens)`
          : `upstream: the arguments of tool ${tool} are not a complete JSON object`,
      );
    }
    return this.#message;
  }
}

/**
 * The usage after a `message_delta`: its fields override those of `message_start` only where
 * present. Anthropic's own `message_delta` carries `output_tokens` alone; the input and cache
 * counts stand from `message_start` (as in the SDK's accumulator).
 */
export function foldUsage(base: Usage | undefined, delta: Partial<Usage> | undefined): Usage {
  const usage = { ...base } as Usage;
  for (const [name, value] of Object.entries(delta ?? {})) {
    if (value !== undefined && value !== null) {
      (usage as unknown as Record<string, unknown>)[name] = value;
    }
  }
  return usage;
}

/**
 * Accumulates `events` into a message. An `error` event becomes a thrown {@link ProxyError};
 * a stream that ends without `message_stop` is an `api_error`.
 */
export async function accumulate(events: AsyncIterable<StreamEvent>): Promise<MessageResponse> {
  const builder = new MessageBuilder();
  for await (const event of events) {
    builder.add(event);
    if (builder.complete) break;
  }
  return builder.result();
}

/**
 * Parses tool arguments into an object: no arguments at all are `{}`; anything but a complete
 * JSON object (truncated, malformed, an array) is undefined. Truncated arguments are never
 * completed: closing a cut string would make a valid, different call.
 */
export function parseArgs(json: string): Record<string, unknown> | undefined {
  if (!json.trim()) return {};
  let value;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  return value && typeof value === "object" && !Array.isArray(value) ? value : undefined;
}
