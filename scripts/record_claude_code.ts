/**
 * Records what the real Claude Code CLI sends: a fake Anthropic API on loopback that writes every
 * request (path, headers without keys, body) to a directory and answers it, so the request shapes
 * that routing relies on (`tests/testdata/claude_code_*.json`) can be captured again when Claude
 * Code changes.
 *
 * ```sh
 * deno run -A scripts/record_claude_code.ts /tmp/cc agent &   # prints "PORT <n>"
 * ANTHROPIC_BASE_URL=http://127.0.0.1:<n> ANTHROPIC_API_KEY=x \
 *   CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 HOME=$(mktemp -d) \
 *   claude -p "use the Agent tool to count files" --allowedTools Agent
 * ```
 *
 * Scenarios: `text` answers every request with text; `agent` answers the main loop's first turn
 * with an Agent tool call (the sub-agent's requests carry `x-claude-code-agent-id`); `bash` runs
 * three `seq` commands, answers Claude Code's summary request, then finishes (with
 * `RECORD_LIMIT=<characters>` a body larger than that gets Anthropic's `prompt is too long`).
 *
 * @module
 */

const [dir, scenario = "text"] = Deno.args;
if (!dir) {
  console.error("usage: record_claude_code.ts <directory> [text|agent|bash]");
  Deno.exit(2);
}
Deno.mkdirSync(dir, { recursive: true });
const limit = Number(Deno.env.get("RECORD_LIMIT") ?? Infinity);
const SECRET_HEADERS = /^(x-api-key|authorization)$/i;
let count = 0;

type Block =
  | { type: "text"; text: string }
  | { type: "tool_use"; id: string; name: string; input: unknown };

/** An Anthropic SSE answer with `blocks`. */
function answer(model: string, blocks: Block[], stop: string): Response {
  const events: Array<Record<string, unknown>> = [{
    type: "message_start",
    message: {
      id: `msg_rec${count}`,
      type: "message",
      role: "assistant",
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: 10, output_tokens: 1 },
    },
  }];
  blocks.forEach((block, index) => {
    const start = block.type === "text" ? { type: "text", text: "" } : { ...block, input: {} };
    events.push({ type: "content_block_start", index, content_block: start });
    events.push({
      type: "content_block_delta",
      index,
      delta: block.type === "text"
        ? { type: "text_delta", text: block.text }
        : { type: "input_json_delta", partial_json: JSON.stringify(block.input) },
    });
    events.push({ type: "content_block_stop", index });
  });
  events.push(
    {
      type: "message_delta",
      delta: { stop_reason: stop, stop_sequence: null },
      usage: { output_tokens: 5 },
    },
    { type: "message_stop" },
  );
  const text = events.map((e) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`).join("");
  return new Response(text, { headers: { "content-type": "text/event-stream" } });
}

/** The scripted reply of a scenario. */
function reply(body: Record<string, unknown>, headers: Headers): Response {
  const model = String(body.model);
  const conversation = JSON.stringify(body.messages ?? []);
  if (conversation.includes("CRITICAL: Respond with TEXT ONLY")) {
    return answer(model, [{
      type: "text",
      text: "<analysis>ok</analysis>\n<summary>1. All three seq commands ran.</summary>",
    }], "end_turn");
  }
  if (
    scenario === "agent" && !headers.has("x-claude-code-agent-id") &&
    !conversation.includes("toolu_rec_agent")
  ) {
    return answer(model, [{
      type: "tool_use",
      id: "toolu_rec_agent",
      name: "Agent",
      input: {
        description: "Count files",
        prompt: "List the files in the current directory and reply with their count.",
        subagent_type: "general-purpose",
      },
    }], "tool_use");
  }
  if (scenario === "bash" && !conversation.includes("All three seq commands ran")) {
    for (const n of [1, 2, 3]) {
      if (!conversation.includes(`toolu_rec_seq${n}`)) {
        return answer(model, [{
          type: "tool_use",
          id: `toolu_rec_seq${n}`,
          name: "Bash",
          input: { command: `seq ${n}00000 ${n}04000`, description: "Print numbers" },
        }], "tool_use");
      }
    }
  }
  return answer(model, [{ type: "text", text: "done." }], "end_turn");
}

Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ port }) => console.log(`PORT ${port}`),
}, async (request) => {
  const url = new URL(request.url);
  const text = await request.text();
  const body = text ? JSON.parse(text) : {};
  const headers = Object.fromEntries(
    [...request.headers].filter(([name]) => !SECRET_HEADERS.test(name)),
  );
  const name = `${String(count++).padStart(3, "0")}${url.pathname.replaceAll("/", "_")}.json`;
  Deno.writeTextFileSync(
    `${dir}/${name}`,
    JSON.stringify({ path: url.pathname, headers, body }, null, 1),
  );
  if (url.pathname.endsWith("/count_tokens")) return Response.json({ input_tokens: 1000 });
  if (request.method !== "POST") return Response.json({ data: [] });
  if (text.length > limit) {
    const message = `prompt is too long: ${Math.round(text.length / 4)} tokens > ${
      Math.round(limit / 4)
    } maximum`;
    return Response.json({ type: "error", error: { type: "invalid_request_error", message } }, {
      status: 400,
    });
  }
  return reply(body, request.headers);
});
