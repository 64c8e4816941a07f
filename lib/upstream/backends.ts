/**
 * The backends: for each provider, `open()` sends a translated request upstream and returns the
 * answer as Anthropic events, and `count()` (where the provider has one) counts tokens remotely.
 * `open()` resolves only after the upstream answered with a success status, so failures before
 * that point can still reach the client as real HTTP errors, or move on to a fallback.
 *
 * @module
 */
import { type Answer, answerOf } from "./answer.ts";
import type { CountTokensRequest, MessagesRequest } from "../anthropic/schema.ts";
import { type Config, OPENAI_DEFAULT_BASE_URL, type Provider } from "../config.ts";
import { ProxyError } from "../anthropic/errors.ts";
import { openaiModelInfo } from "../routing/models.ts";
import { CHAT_SEARCH_MODEL } from "../providers/chat_search.ts";
import { webSearchOf } from "../anthropic/web_search.ts";
import {
  envelopeKind,
  rejectedReasoning,
  responsesFirstEvent,
  responsesTranslator,
  toResponsesRequest,
} from "../providers/openai_responses.ts";
import type { Logger } from "../server/log.ts";
import type { ApiName } from "../server/request_record.ts";
import { anthropicTranslator, postAnthropic } from "../providers/anthropic.ts";
import {
  countGeminiTokens,
  type GeminiEndpoint,
  geminiTranslator,
  streamGenerate,
  toGeminiRequest,
} from "../providers/gemini.ts";
import { chatFirstEvent, chatTranslator, toChatRequest } from "../providers/openai_chat.ts";
import { createOpenAIEndpoint, type OpenAIEndpoint, postStream } from "../providers/openai_call.ts";
import { limitsOf, type Target } from "../routing/route.ts";
import { Signer } from "./signature.ts";
import type { ToolCount } from "../providers/tools.ts";

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
  /** Set by the backend: which API it called (`openai-chat`, `gemini`, …), for the record. */
  api?: ApiName;
  /** Set by a translating backend: tools declared upstream and held back, for the record. */
  toolCount?: ToolCount;
}

/** One provider. */
export interface Backend {
  /** Sends `request` to `target` and returns the Anthropic event stream. */
  open(
    request: MessagesRequest,
    target: Target,
    context: OpenContext,
  ): Promise<Answer>;
  /**
   * Whether this backend runs Anthropic's web search tool for `target`: `true`, or why not
   * (for the log line). Absent: it cannot.
   */
  canSearch?(target: Target): true | string;
  /** Counts input tokens upstream (providers that can). */
  count?(request: CountTokensRequest, target: Target, signal?: AbortSignal): Promise<number>;
}

/** Chat's answer for models it does not serve ("only supported in v1/responses", "not a chat model"). */
const RESPONSES_ONLY_404 = /v1\/responses|not a chat model/i;

function logDropped(context: OpenContext, dropped: string[]): void {
  if (dropped.length) context.log.debug(`dropped blocks: ${[...new Set(dropped)].join(", ")}`);
}

/**
 * Whether Anthropic's web search tool runs on `target`, and how; or why not. OpenAI searches with
 * the Responses API's hosted tool where the server has Responses (api.openai.com, or
 * `OPENAI_API_MODE=responses`), Azure on its v1 API, Gemini with `googleSearch`, Anthropic itself;
 * OpenAI's Chat search models search by themselves wherever they are served.
 */
export function webSearchSupport(config: Config, target: Target): true | string {
  switch (target.provider) {
    case "google":
    case "anthropic":
      return true;
    case "openai":
      return CHAT_SEARCH_MODEL.test(target.model) ||
          config.openaiBaseUrl === OPENAI_DEFAULT_BASE_URL ||
          config.openaiApiMode === "responses"
        ? true
        : "OPENAI_BASE_URL is not api.openai.com and OPENAI_API_MODE is not responses";
    case "azure":
      return CHAT_SEARCH_MODEL.test(target.model) || config.azureApiVersion === "v1"
        ? true
        : "Azure's web_search tool needs AZURE_OPENAI_API_VERSION=v1";
  }
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

  const azureResponses = azureV1 ? azure : createOpenAIEndpoint({
    baseURL: `${config.azureEndpoint}/openai`,
    apiKey: config.azureApiKey,
    fetch: fetchFn,
    provider: "azure",
    headers: { "api-key": config.azureApiKey, authorization: null },
    query: { "api-version": config.azureResponsesApiVersion },
  });

  /** Responses API, with one retry without reasoning items if the upstream rejects them. */
  const responses =
    (endpoint: OpenAIEndpoint): Backend["open"] => async (request, target, context) => {
      const options = {
        signer,
        provider: endpoint.provider,
        sessionKey: context.headers?.get("x-claude-code-session-id") ?? undefined,
        searchContextSize: config.webSearchContextSize,
        withoutWebSearch: endpoint.provider === "azure" && !azureV1,
        info: target.info,
      };
      context.api = `${endpoint.provider}-responses` as ApiName;
      let translation = toResponsesRequest(request, target.model, options);
      logDropped(context, translation.dropped);
      context.toolCount = translation.toolCount;
      const send = () => {
        context.log.debug(() =>
          `upstream ${endpoint.provider} request: ${JSON.stringify(translation.body)}`
        );
        return postStream(endpoint, "/responses", translation.body, {
          signal: context.signal,
          model: request.model,
        });
      };
      let response: Response;
      try {
        response = await send();
      } catch (error) {
        if (
          !(error instanceof ProxyError && error.status === 400 && rejectedReasoning(error.message))
        ) throw error;
        context.notes.push("reasoning-replay-rejected");
        translation = toResponsesRequest(request, target.model, {
          ...options,
          withoutReasoning: true,
        });
        response = await send();
      }
      const peek = {
        first: responsesFirstEvent(endpoint.provider, request.model),
        idleMs: config.timeouts.idleMs,
      };
      return answerOf(response, endpoint.provider, request.model, (emit) =>
        responsesTranslator({
          id: context.messageId,
          model: request.model,
          inputTokens: context.inputEstimate,
          toolNames: translation.toolNames,
          thinking: translation.thinking,
          omitThinkingText: translation.omitThinkingText,
          upstreamModel: target.model,
          provider: endpoint.provider,
          signer,
          signThinking: () => signer.sign({ p: envelopeKind(endpoint.provider), m: target.model }),
          webSearch: translation.webSearch,
        }, emit), peek);
    };

  /** Chat Completions; a 404 that points at /responses is retried there once. */
  const chat =
    (endpoint: OpenAIEndpoint, path: (model: string) => string): Backend["open"] =>
    async (request, target, context) => {
      context.api = `${endpoint.provider}-chat` as ApiName;
      const translation = toChatRequest(request, target.model, {
        provider: endpoint.provider,
        info: target.info,
        searchContextSize: config.webSearchContextSize,
      });
      logDropped(context, translation.dropped);
      context.toolCount = translation.toolCount;
      context.log.debug(() =>
        `upstream ${endpoint.provider} request: ${JSON.stringify(translation.body)}`
      );
      const response = await postStream(endpoint, path(target.model), translation.body, {
        signal: context.signal,
        model: request.model,
      });
      const provider = endpoint.provider;
      const peek = {
        first: chatFirstEvent(provider, request.model),
        idleMs: config.timeouts.idleMs,
      };
      return answerOf(response, provider, request.model, (emit) =>
        chatTranslator({
          id: context.messageId,
          model: request.model,
          inputTokens: context.inputEstimate,
          toolNames: translation.toolNames,
          upstreamModel: target.model,
          provider,
          omitThinkingText: translation.omitThinkingText,
          signThinking: () => signer.sign({ p: `${provider}_chat`, m: target.model }),
          onFilter: (reason) => context.notes.push(`content_filter=${reason}`),
          webSearch: translation.webSearch,
        }, emit), peek);
    };

  /**
   * Picks Chat or Responses per model and `OPENAI_API_MODE`; a request with the web search tool
   * goes to Responses (the hosted `web_search` tool) wherever the backend has it.
   */
  const openaiFamily = (
    chatOpen: Backend["open"],
    responsesOpen: Backend["open"],
    official: boolean,
  ): Backend => ({
    canSearch: (target) => webSearchSupport(config, target),
    async open(request, target, context) {
      // The routed target carries the facts of the model behind an Azure deployment.
      const info = target.info ?? openaiModelInfo(target.model);
      const mode = config.openaiApiMode;
      // Chat's search models (`gpt-4o-search-preview`) search by themselves, on Chat only.
      const search = webSearchSupport(config, target) === true &&
        webSearchOf(request.tools) !== undefined &&
        !CHAT_SEARCH_MODEL.test(target.model);
      // OpenAI-compatible servers rarely have /responses: auto keeps them on Chat.
      const viaResponses = mode === "responses" || search ||
        (mode === "auto" && (info.responsesOnly || (official && info.reasoning)));
      if (viaResponses) return responsesOpen(request, target, context);
      try {
        return await chatOpen(request, target, context);
      } catch (error) {
        if (
          !(error instanceof ProxyError && error.status === 404 &&
            RESPONSES_ONLY_404.test(error.message))
        ) {
          throw error;
        }
        context.notes.push("chat-404-retried-on-responses");
        return responsesOpen(request, target, context);
      }
    },
  });

  const gemini: GeminiEndpoint = {
    baseUrl: config.geminiBaseUrl,
    apiKey: config.geminiApiKey,
    fetch: fetchFn,
  };
  const google: Backend = {
    canSearch: (target) => webSearchSupport(config, target),
    async open(request, target, context) {
      context.api = "gemini";
      // MODEL_LIMITS may cap a Gemini model's output below the table's.
      const cap = limitsOf(target, config)?.maxOutput ?? request.max_tokens;
      const capped = request.max_tokens > cap ? { ...request, max_tokens: cap } : request;
      const translation = toGeminiRequest(capped, target.model, signer);
      logDropped(context, translation.dropped);
      context.toolCount = translation.toolCount;
      if (!translation.webSearch && webSearchOf(request.tools)) {
        context.notes.push("web-search=dropped (Gemini 2.x cannot mix it with function calls)");
      }
      context.log.debug(() => `upstream gemini request: ${JSON.stringify(translation.body)}`);
      const response = await streamGenerate(gemini, target.model, translation.body, {
        signal: context.signal,
        clientModel: request.model,
      });
      return answerOf(response, "gemini", request.model, (emit) =>
        geminiTranslator({
          id: context.messageId,
          model: request.model,
          inputTokens: context.inputEstimate,
          toolNames: translation.toolNames,
          singleCall: translation.singleCall,
          signer,
          signThinking: () => signer.sign({ p: "gemini", m: target.model }),
          webSearch: translation.webSearch,
        }, emit));
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
    canSearch: (target) => webSearchSupport(config, target),
    async open(request, target, context) {
      context.api = "anthropic";
      const body = { ...request, model: target.model, stream: true };
      const response = await postAnthropic(anthropicEndpoint, "/v1/messages", body, {
        signal: context.signal,
        clientHeaders: context.headers,
      });
      return answerOf(response, "anthropic", request.model, anthropicTranslator);
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
    openai: openaiFamily(
      chat(openai, () => "/chat/completions"),
      responses(openai),
      config.openaiBaseUrl === OPENAI_DEFAULT_BASE_URL,
    ),
    azure: openaiFamily(
      chat(
        azure,
        (model) =>
          azureV1 ? "/chat/completions" : `/deployments/${deploymentName(model)}/chat/completions`,
      ),
      responses(azureResponses),
      true,
    ),
    google,
    anthropic,
  };
}

/**
 * An Azure deployment name as a path segment. It must be a plain name: `..`, `.` or a slash
 * would move the request to another path of the configured endpoint.
 */
export function deploymentName(model: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(model)) {
    throw new ProxyError(
      "invalid_request_error",
      `model: ${
        JSON.stringify(model)
      } is not an Azure deployment name (letters, digits, '.', '-', '_')`,
    );
  }
  return model;
}
