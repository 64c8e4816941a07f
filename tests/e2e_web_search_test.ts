/**
 * End to end with the real Claude Code CLI: its WebSearch tool runs through ccproxy on OpenAI
 * (the Responses API's hosted `web_search`) and on Gemini (`googleSearch` grounding), against
 * fake upstreams. The main loop asks for WebSearch (loading it through ToolSearch when it is
 * deferred); Claude Code sends its own search request with the `web_search_20250305` server tool;
 * the fake searches and cites; Claude Code turns the blocks into its tool result (the links and
 * the cited answer), and the final answer shows the sources.
 */
import assert from "node:assert/strict";
import {
  createFakeUpstream,
  type Dialect,
  DIALECTS,
  geminiSearchReply,
  type Recorded,
  type Reply,
  responsesDialect,
  responsesSearchReply,
  TOOL_NAMES,
} from "../bench/fake_upstream.ts";
import { BACKEND_ENV, claudeSupported, proxyEnv, runClaude, serveProxy } from "./claude_code.ts";
import { ANSWER } from "./search_answer.ts";

interface Shape {
  env: (url: string) => Record<string, string>;
  dialect: Dialect;
  /** The client tools a request declares. */
  tools: (body: Record<string, unknown>) => string[];
  /** Whether a request carries the backend's search tool. */
  searches: (body: Record<string, unknown>) => boolean;
  /** The backend's answer to the search request. */
  search: () => Reply;
}

const SHAPES: Record<"openai" | "google", Shape> = {
  openai: {
    // A server other than api.openai.com has Responses only when told so.
    env: (url) => ({ OPENAI_BASE_URL: `${url}/v1`, OPENAI_API_MODE: "responses" }),
    dialect: responsesDialect(),
    tools: TOOL_NAMES.responses,
    searches: (body) =>
      ((body.tools ?? []) as Array<{ type: string }>).some((t) => t.type === "web_search"),
    search: () => responsesSearchReply(ANSWER),
  },
  google: {
    env: BACKEND_ENV.google,
    dialect: DIALECTS.google,
    tools: TOOL_NAMES.gemini,
    searches: (body) => JSON.stringify(body.tools ?? []).includes('"googleSearch"'),
    search: () =>
      geminiSearchReply({
        ...ANSWER,
        pieces: ["Deno 3 was released in 2026. ", "It adds a new package manager."],
        cites: [
          { text: "Deno 3 was released in 2026.", pages: ANSWER.searches[0].pages },
          { text: "It adds a new package manager.", pages: [ANSWER.searches[0].pages[1]] },
        ],
      }),
  },
};

const QUERY = "deno 3 release";

/** The text of Claude Code's WebSearch tool result in an upstream request, if there is one. */
function searchResult(value: unknown): string | undefined {
  if (typeof value === "string") {
    return value.includes("Web search results for query") ? value : undefined;
  }
  if (!value || typeof value !== "object") return undefined;
  for (const item of Object.values(value)) {
    const found = searchResult(item);
    if (found) return found;
  }
  return undefined;
}

for (const name of Object.keys(SHAPES) as Array<keyof typeof SHAPES>) {
  Deno.test({
    name: `Claude Code's WebSearch searches through ccproxy on ${name} and shows the sources`,
    ignore: !claudeSupported,
    async fn() {
      const shape = SHAPES[name];
      const work = await Deno.makeTempDir({ prefix: "ccproxy-search-" });
      const isMain = (r: Recorded) => shape.tools(r.body).includes("ToolSearch");
      const upstream = createFakeUpstream((r) => {
        if (r.url.includes(":countTokens")) return { json: { totalTokens: 100 } };
        if (shape.searches(r.body)) return shape.search();
        if (!isMain(r)) return shape.dialect.text(["ok"]);
        const result = searchResult(r.body);
        if (result) {
          // The final answer lists the links Claude Code's tool result gave the model.
          const links = JSON.parse(/Links: (\[.*?\])\n/s.exec(result)?.[1] ?? "[]") as Array<
            { title: string; url: string }
          >;
          return shape.dialect.text([
            `Sources: ${links.map((l) => `[${l.title}](${l.url})`).join(", ")}`,
          ]);
        }
        if (shape.tools(r.body).includes("WebSearch")) {
          return shape.dialect.tools([{
            id: "call_search_1",
            name: "WebSearch",
            args: { query: QUERY },
          }]);
        }
        // WebSearch is deferred: load it first.
        return shape.dialect.tools([{
          id: "call_load_1",
          name: "ToolSearch",
          args: { query: "select:WebSearch" },
        }]);
      });
      const proxy = serveProxy(upstream, shape.env);
      const log = proxy.lines;
      try {
        const { code, stdout, stderr } = await runClaude(
          work,
          ["-p", "What is new in Deno 3? Search the web.", "--allowedTools", "WebSearch"],
          proxyEnv(proxy.url),
        );
        if (Deno.env.get("SHOW_CLAUDE")) console.log(stdout);
        assert.equal(code, 0, `claude exited ${code}: ${stderr}`);

        // Claude Code's own search request reached the backend's search tool.
        const search = upstream.requests.find((r) => shape.searches(r.body));
        assert.ok(search, `no search request upstream; log:\n${log.join("\n")}`);
        assert.match(JSON.stringify(search.body), new RegExp(QUERY));
        assert.match(log.join("\n"), new RegExp(`web-search=${name}`));
        // Its tool result, as the model saw it: the links of the search and the cited answer.
        const final = upstream.requests.filter(isMain).at(-1)!;
        const seen = searchResult(final.body)!;
        assert.ok(seen, "the WebSearch result reached the model");
        assert.match(seen, new RegExp(`Web search results for query: "${QUERY}"`));
        assert.match(seen, /Deno 3 was released in 2026/);
        const [deno, news] = ANSWER.searches[0].pages;
        const sources = name === "openai"
          ? [`[${deno.title}](${deno.url})`, `[${news.title}](${news.url})`]
          : [
            "[deno.com](https://vertexaisearch.cloud.google.com/grounding-api-redirect/",
            "[news.example.org](",
          ];
        // And the answer Claude Code printed shows the sources.
        assert.match(stdout, /^Sources: /);
        for (const source of sources) assert.ok(stdout.includes(source), `${source} in ${stdout}`);
        assert.ok(!seen.includes("Did 0 searches"));
      } finally {
        await proxy.close();
        await Deno.remove(work, { recursive: true });
      }
    },
  });
}
