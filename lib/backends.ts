/**
 * The backends: for each provider, a function that sends a translated request upstream and
 * returns the answer as Anthropic events. The HTTP status is settled before it returns, so
 * upstream failures can still reach the client as real HTTP errors.
 *
 * @module
 */
import { EventSourceParserStream } from "eventsource-parser/stream";
import { ProxyError } from "./anthropic/errors.ts";
import type { MessagesRequest, StreamEvent } from "./anthropic/schema.ts";
import type { Config, Provider } from "./config.ts";
import type { Logger } from "./log.ts";
import { ChatToAnthropicStream, toChatRequest } from "./providers/openai_chat.ts";
import { createOpenAIEndpoint, type OpenAIEndpoint, postStream } from "./providers/openai_call.ts";
import type { Target } from "./routing.ts";
import { Signer } from "./signature.ts";

/** Per-request facts a backend needs. */
export interface OpenContext {
  /** `msg_…` id of the answer. */
  messageId: string;
  /** Input-token estimate for `message_start`. */
  inputEstimate: number;
  /** Aborts the upstream call when the client goes away. */
  signal?: AbortSignal;
  /** Request log. */
  log: Logger;
  /** Notes for the request's log line (e.g. a content filter's reason). */
  notes: string[];
}

/** Sends `request` to `target` and returns the Anthropic event stream. */
export type Backend = (
  request: MessagesRequest,
  target: Target,
  context: OpenContext,
) => Promise<ReadableStream<StreamEvent>>;

/** Builds a backend per configured provider. */
export function createBackends(
  config: Config,
  fetchFn: typeof fetch,
): Record<Provider, Backend> {
  const signer = new Signer(config.signatureSecret);
  const openai = createOpenAIEndpoint({
    baseURL: config.openaiBaseUrl,
    apiKey: config.openaiApiKey,
    fetch: fetchFn,
    provider: "openai",
  });
  const azureV1 = config.azureApiVersion === "v1";
  const azure = createOpenAIEndpoint({
    baseURL: `${config.azureEndpoint}/openai${azureV1 ? "/v1" : ""}`,
    apiKey: config.azureApiKey,
    fetch: fetchFn,
    provider: "azure",
    headers: { "api-key": config.azureApiKey, authorization: null },
    query: azureV1 ? undefined : { "api-version": config.azureApiVersion },
  });
  const chat =
    (endpoint: OpenAIEndpoint, path: (model: string) => string): Backend =>
    async (request, target, context) => {
      const translation = toChatRequest(request, target.model);
      if (translation.dropped.length) {
        context.log.debug(`dropped blocks: ${[...new Set(translation.dropped)].join(", ")}`);
      }
      context.log.debug(() =>
        `upstream ${endpoint.provider} request: ${JSON.stringify(translation.body)}`
      );
      const response = await postStream(endpoint, path(target.model), translation.body, {
        signal: context.signal,
        model: request.model,
      });
      const provider = endpoint.provider;
      return response.body!
        .pipeThrough(new TextDecoderStream())
        .pipeThrough(new EventSourceParserStream())
        .pipeThrough(
          new ChatToAnthropicStream({
            id: context.messageId,
            model: request.model,
            inputTokens: context.inputEstimate,
            toolNames: translation.toolNames,
            upstreamModel: target.model,
            provider,
            signThinking: () => signer.sign({ p: `${provider}_chat`, m: target.model }),
            onFilter: (reason) => context.notes.push(`content_filter=${reason}`),
          }),
        );
    };
  return {
    openai: chat(openai, () => "/chat/completions"),
    azure: chat(
      azure,
      (model) =>
        azureV1
          ? "/chat/completions"
          : `/deployments/${encodeURIComponent(model)}/chat/completions`,
    ),
    google: () => {
      throw new ProxyError(
        "invalid_request_error",
        "routing: the google provider is not available in this version of ccproxy",
      );
    },
  };
}
