/**
 * A handler on a fake upstream, for tests that poke the proxy from outside: what it logged, and
 * shortcuts to call any route or post a Messages request.
 */
import { createFakeUpstream, type Reply, type Responder } from "../bench/fake_upstream.ts";
import { secretsOf } from "../lib/config.ts";
import { createHandler, type HandlerOptions } from "../lib/server/handler.ts";
import { createLogger } from "../lib/server/log.ts";
import { testConfig } from "./helpers.ts";

/** The smallest valid Messages request. */
export const BODY = {
  model: "claude-opus-5-5",
  max_tokens: 100,
  messages: [{ role: "user", content: "hi" }],
};

/**
 * A handler configured by `env`, whose upstream answers with `responder` (or the replies in
 * turn); its log lines (with the configuration's secrets redacted, as in production) collect in
 * `lines`.
 */
export function proxySetup(
  env: Record<string, string>,
  responder: Responder | Reply[],
  options: HandlerOptions = {},
) {
  const upstream = createFakeUpstream(responder);
  const config = testConfig(env);
  const lines: string[] = [];
  const handler = createHandler(config, {
    fetch: upstream.fetch,
    logger: createLogger({
      debug: config.debug,
      secrets: secretsOf(config),
      write: (l) => lines.push(l),
    }),
    ...options,
  });
  const call = (path: string, init: RequestInit = {}) =>
    handler(new Request(`http://proxy${path}`, init));
  const post = (body: unknown = BODY, headers: Record<string, string> = {}) =>
    call("/v1/messages", {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
  return { upstream, handler, call, post, lines, config };
}
