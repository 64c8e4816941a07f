/**
 * The backends: for each provider, `open()` sends a translated request upstream and returns the
 * answer as Anthropic events, and `count()` (where the provider has one) counts tokens remotely.
 * `open()` resolves only after the upstream answered with a success status, so failures before
 * that point can still reach the client as real HTTP errors, or move on to a fallback.
 *
 * @module
 */
import { EventSourceParserStream } from "eventsource-parser/stream";
import type { CountTokensRequest, MessagesRequest, StreamEvent } from "./anthropic/schema.ts";
import type { Config, Provider } from "./config.ts";
import type { Logger } from "./log.ts";
import { AnthropicEventStream, postAnthropic } from "./providers/anthropic.ts";
import {
  countGeminiTokens,
  type GeminiEndpoint,
  GeminiToAnthropicStream,
  streamGenerate,
  toGeminiRequest,
} from "./providers/gemini.ts";
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
  /** The client's request headers (the passthrough forwards `anthropic-beta`). */
  headers?: Headers;
  /** Request log. */
  log: Logger;
  /** Notes for the request's log line (e.g. a content filter's reason). */
  notes: string[];
}

/** One provider. */
export interface Backend {
  /** Sends `request` to `target` and returns the Anthropic event stream. */
  open(
    request: MessagesRequest,
    target: Target,
    context: OpenContext,
  ): Promise<ReadableStream<StreamEvent>>;
  /** Counts input tokens upstream (providers that can). */
  count?(request: CountTokensRequest, target: Target, signal?: AbortSignal): Promise<number>;
}

function sse(response: Response) {
  return response.body!
    .pipeThrough(new TextDecoderStream())
    .pipeThrough(new EventSourceParserStream());
}

function logDropped(context: OpenContext, dropped: string[]): void {
  if (dropped.length) context.log.debug(`dropped blocks: ${[...new Set(dropped)].join(", ")}`);
}

/** Builds a backend per provider. */
export function createBackends(config: Config, fetchFn: typeof fetch): Record<Provider, Backend> {
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

  const chat = (endpoint: OpenAIEndpoint, path: (model: string) => string): Backend => ({
    async open(request, target, context) {
      const translation = toChatRequest(request, target.model);
      logDropped(context, translation.dropped);
      context.log.debug(() =>
        `upstream ${endpoint.provider} request: ${JSON.stringify(translation.body)}`
      );
      const response = await postStream(endpoint, path(target.model), translation.body, {
        signal: context.signal,
        model: request.model,
      });
      const provider = endpoint.provider;
      return sse(response).pipeThrough(
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
    },
  });

  const gemini: GeminiEndpoint = {
    baseUrl: config.geminiBaseUrl,
    apiKey: config.geminiApiKey,
    fetch: fetchFn,
  };
  const google: Backend = {
    async open(request, target, context) {
      const translation = toGeminiRequest(request, target.model, signer);
      logDropped(context, translation.dropped);
      context.log.debug(() => `upstream gemini request: ${JSON.stringify(translation.body)}`);
      const response = await streamGenerate(gemini, target.model, translation.body, {
        signal: context.signal,
        clientModel: request.model,
      });
      return sse(response).pipeThrough(
        new GeminiToAnthropicStream({
          id: context.messageId,
          model: request.model,
          inputTokens: context.inputEstimate,
          toolNames: translation.toolNames,
          singleCall: translation.singleCall,
          signer,
          signThinking: () => signer.sign({ p: "gemini", m: target.model }),
        }),
      );
    },
    count: (request, target, signal) =>
      countGeminiTokens(gemini, request, target.model, signer, signal),
  };

  const anthropicEndpoint = {
    baseUrl: config.anthropicBaseUrl,
    apiKey: config.anthropicApiKey,
    fetch: fetchFn,
  };
  const anthropic: Backend = {
    async open(request, target, context) {
      const body = { ...request, model: target.model, stream: true };
      const response = await postAnthropic(anthropicEndpoint, "/v1/messages", body, {
        signal: context.signal,
        clientHeaders: context.headers,
      });
      return sse(response).pipeThrough(new AnthropicEventStream());
    },
    async count(request, target, signal) {
      const response = await postAnthropic(
        anthropicEndpoint,
        "/v1/messages/count_tokens",
        { ...request, model: target.model },
        { signal },
      );
      return ((await response.json()) as { input_tokens: number }).input_tokens;
    },
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
    google,
    anthropic,
  };
}
