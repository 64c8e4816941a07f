// In-process CPU sampling alternative: time the phases of one proxy request with an injected fetch.
import { createFakeUpstream, textReply } from "./bench/fake_upstream.ts";
import { createHandler } from "./lib/server.ts";
import { loadConfig } from "./lib/config.ts";
import { createLogger } from "./lib/log.ts";
const fake = createFakeUpstream(() => textReply(["a", "b", "c"]));
const fetchDirect = async () => {
  const r = await fake.fetch("http://x/v1/chat/completions", { method: "POST", body: "{}" });
  await r.arrayBuffer();
  fake.requests.length = 0;
};
const h = createHandler(loadConfig({ OPENAI_API_KEY: "sk-x", MAX_RETRIES: "0" }), {
  fetch: fake.fetch,
  logger: createLogger({ write: () => {} }),
});
const body = JSON.stringify({
  model: "claude-sonnet-5-5",
  max_tokens: 64,
  messages: [{ role: "user", content: "hi" }],
});
const viaProxy = async (stream: boolean) => {
  const r = await h(
    new Request("http://x/v1/messages", {
      method: "POST",
      body: stream ? body.replace("{", '{"stream":true,') : body,
    }),
  );
  await r.arrayBuffer();
  fake.requests.length = 0;
};
for (
  const [name, f] of [["direct fake", fetchDirect], ["proxy sync", () => viaProxy(false)], [
    "proxy stream",
    () => viaProxy(true),
  ]] as const
) {
  for (let i = 0; i < 500; i++) await f();
  const t = performance.now();
  for (let i = 0; i < 6000; i++) await f();
  console.log(name, ((performance.now() - t) / 3000 * 1000).toFixed(0), "µs/request");
}
