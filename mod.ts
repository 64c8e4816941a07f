/**
 * ccproxy as a library: serve the Anthropic Messages API on OpenAI, Gemini or Azure OpenAI
 * from any `Request` handler.
 *
 * @example
 * ```ts
 * import { createHandler, loadConfig } from "./mod.ts";
 *
 * const handler = createHandler(loadConfig({ OPENAI_API_KEY: "sk-test" }));
 * const response = await handler(new Request("http://localhost/health"));
 * console.log(await response.json()); // { status: "ok" }
 * ```
 *
 * @module
 */
export { createHandler, type Handler, type HandlerOptions } from "./lib/server/handler.ts";
export { type Config, ConfigError, loadConfig, type Provider } from "./lib/config.ts";
export { route, type Target } from "./lib/routing/route.ts";
// `route` and `claudeCodeWindow` look models up synchronously: await `loadCatalog()` first (the
// handler does so itself).
export { loadCatalog } from "./lib/routing/catalog.ts";
export type { RouterContext, RouterFunction, RouterRequest } from "./lib/routing/router_script.ts";
export type { RequestTraits } from "./lib/routing/task_routes.ts";
export { type ClaudeCodeWindow, claudeCodeWindow } from "./lib/routing/client_env.ts";
export { ProxyError } from "./lib/anthropic/errors.ts";
export type {
  MessageResponse,
  MessagesRequest,
  StreamEvent,
  Usage,
} from "./lib/anthropic/schema.ts";
export { createLogger, type Logger } from "./lib/server/log.ts";
export { VERSION } from "./lib/version.ts";
