/**
 * A small stdio MCP server for the end-to-end tests: it offers `count` tools (default 200),
 * `gadget_000` … `gadget_199`, each taking one string `input`; `--long <i>` gives tool `i` a name
 * too long for OpenAI and Gemini ({@link LONG_SUFFIX}). Every call is appended as a JSON
 * line to the file named by `--calls`, so a test can see which calls really ran here, and is
 * answered with `gadget_NNN ran with <input>`.
 *
 * Run: `deno run --allow-read --allow-write --allow-env tests/mcp_many_tools.ts --calls <file>`
 *
 * @module
 */
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import {
  type CallToolRequest,
  CallToolRequestSchema,
  ListToolsRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";

/** Appended to the `--long` tool's name: with Claude Code's `mcp__many__` prefix, 79 characters. */
export const LONG_SUFFIX = "_with_a_name_too_long_for_openai_and_gemini_function_names";

/** The name of tool `i` (`long`: with {@link LONG_SUFFIX}). */
export function gadgetName(i: number, long = false): string {
  return `gadget_${String(i).padStart(3, "0")}${long ? LONG_SUFFIX : ""}`;
}

function option(name: string): string | undefined {
  const at = Deno.args.indexOf(`--${name}`);
  return at >= 0 ? Deno.args[at + 1] : undefined;
}

if (import.meta.main) {
  const count = Number(option("count") ?? 200);
  const calls = option("calls");
  const long = Number(option("long") ?? -1);
  const tools = Array.from({ length: count }, (_, i) => ({
    name: gadgetName(i, i === long),
    description: `Gadget number ${i}: turns an input string into gadget ${i}'s answer.`,
    inputSchema: {
      type: "object" as const,
      properties: { input: { type: "string", description: "What to give the gadget." } },
      required: ["input"],
    },
  }));
  const server = new Server(
    { name: "many-tools", version: "1.0.0" },
    { capabilities: { tools: {} } },
  );
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools }));
  server.setRequestHandler(CallToolRequestSchema, async (request: CallToolRequest) => {
    const { name, arguments: args } = request.params;
    if (calls) {
      await Deno.writeTextFile(calls, JSON.stringify({ name, args }) + "\n", { append: true });
    }
    return { content: [{ type: "text", text: `${name} ran with ${String(args?.input ?? "")}` }] };
  });
  await server.connect(new StdioServerTransport());
}
