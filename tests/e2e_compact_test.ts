/**
 * End to end with the real Claude Code CLI: a conversation outgrows the backend model's window
 * (a local model given a 40k window with `MODEL_LIMITS`). ccproxy answers the request that does
 * not fit with Anthropic's exact `prompt is too long` before calling the upstream; Claude Code
 * compacts (its summary request, answered by the fake upstream, fits), carries on from the
 * summary, and finishes its task.
 *
 * Each `seq` run adds about 12k tokens; the third makes the prompt ~47k tokens.
 *
 * Also: `/model openai/gpt-5` reaches gpt-5 pinned, and with the variables `claudeCodeWindow()`
 * gives, Claude Code compacts a 32k model's conversation before the limit (and not without them).
 */
import assert from "node:assert/strict";
import {
  createFakeUpstream,
  type Recorded,
  textReply,
  toolReply,
  usageChunk,
} from "../bench/fake_upstream.ts";
import { claudeCodeWindow } from "../lib/routing/client_env.ts";
import { claudeSupported, proxyEnv, runClaude, serveProxy } from "./claude_code.ts";
import { testConfig } from "./helpers.ts";

const WINDOW = 40_000;
const SUMMARY_REQUEST = "CRITICAL: Respond with TEXT ONLY";
const SUMMARY_MARK = "all three seq commands ran";

/** The fake backend: three `seq` runs, a summary when asked for one, then the final answer. */
function backend(request: Recorded) {
  const conversation = JSON.stringify(request.body.messages ?? []);
  if (conversation.includes(SUMMARY_REQUEST)) {
    return textReply([
      `<analysis>The user asked for three seq runs.</analysis>\n<summary>1. Primary Request: run three seq commands and report. Progress: ${SUMMARY_MARK}; only the final report is left.</summary>`,
    ]);
  }
  if (!conversation.includes(SUMMARY_MARK)) {
    for (const n of [1, 2, 3]) {
      if (!conversation.includes(`seq ${n}00000 ${n}04000`)) {
        return toolReply([{
          id: `call_seq_${n}`,
          name: "Bash",
          args: { command: `seq ${n}00000 ${n}04000`, description: "Print numbers" },
        }]);
      }
    }
  }
  return textReply(["FINISHED-AFTER-COMPACT: three runs reported."]);
}

Deno.test({
  name: "Claude Code hits the window limit through ccproxy, compacts, and finishes its task",
  ignore: !claudeSupported,
  async fn() {
    const work = await Deno.makeTempDir({ prefix: "ccproxy-compact-" });
    const upstream = createFakeUpstream(backend);
    const proxy = serveProxy(upstream, (url) => ({
      OPENAI_BASE_URL: `${url}/v1`,
      BIG_MODEL: "local-coder",
      SMALL_MODEL: "local-coder",
      MODEL_LIMITS: `local-coder=${WINDOW}/8192`,
    }));
    const lines = proxy.lines;
    try {
      const { code, stdout, stderr } = await runClaude(
        work,
        ["-p", "Run three seq commands and report", "--allowedTools", "Bash"],
        proxyEnv(proxy.url),
      );
      const log = lines.join("\n");
      assert.equal(code, 0, `claude exited ${code}: ${stdout}${stderr}\n${log}`);
      assert.match(stdout, /FINISHED-AFTER-COMPACT/);

      // The request that did not fit was refused here with Anthropic's exact words.
      const refused = lines.filter((line) =>
        / 400 /.test(line) && /prompt is too long: \d+ tokens > 40000 maximum/.test(line)
      );
      assert.ok(refused.length >= 1, log);
      const bodies = upstream.requests.map((r) => JSON.stringify(r.body.messages ?? []));
      assert.ok(
        bodies.some((body) => body.includes(SUMMARY_REQUEST)),
        "Claude Code asked for a summary",
      );
      const last = bodies.at(-1)!;
      assert.ok(last.includes(SUMMARY_MARK), "the conversation carried on from the summary");
      assert.ok(!last.includes("200001\\n200002"), "the compacted rounds are gone");
    } finally {
      await proxy.close();
      await Deno.remove(work, { recursive: true });
    }
  },
});

Deno.test({
  name: "Claude Code's --model openai/gpt-5 (or /model) reaches gpt-5 as a pinned route",
  ignore: !claudeSupported,
  async fn() {
    const work = await Deno.makeTempDir({ prefix: "ccproxy-pin-" });
    const upstream = createFakeUpstream(() => textReply(["pinned ok"]));
    const proxy = serveProxy(upstream, (url) => ({
      OPENAI_BASE_URL: `${url}/v1`,
      ROUTE_THINK: "openai/o3",
    }));
    const lines = proxy.lines;
    try {
      const { code, stdout, stderr } = await runClaude(
        work,
        ["-p", "hi", "--model", "openai/gpt-5"],
        proxyEnv(proxy.url),
      );
      assert.equal(code, 0, `${stdout}${stderr}`);
      assert.match(stdout, /pinned ok/);
      // Claude Code sends effort "high" for a name it does not know: the pin still wins.
      assert.deepEqual(upstream.requests.map((r) => r.body.model), ["gpt-5"]);
      assert.match(lines.join("\n"), /openai\/gpt-5 → openai\/gpt-5 route=pinned /);
    } finally {
      await proxy.close();
      await Deno.remove(work, { recursive: true });
    }
  },
});

/** Runs Claude Code with `env` against a backend that reports `reported` input tokens a turn. */
async function compactsAt(env: Record<string, string>, reported: number) {
  const work = await Deno.makeTempDir({ prefix: "ccproxy-autocompact-" });
  const upstream = createFakeUpstream((request) => {
    const conversation = JSON.stringify(request.body.messages ?? []);
    if (conversation.includes(SUMMARY_REQUEST)) {
      return textReply([`<summary>1. ${SUMMARY_MARK}.</summary>`]);
    }
    for (const n of conversation.includes(SUMMARY_MARK) ? [] : [1, 2, 3]) {
      if (conversation.includes(`seq ${n}00000 ${n}00003`)) continue;
      const reply = toolReply([{
        id: `call_seq_${n}`,
        name: "Bash",
        args: { command: `seq ${n}00000 ${n}00003`, description: "Print numbers" },
      }]);
      // Claude Code judges the context by the input tokens the backend reports.
      reply.chunks![reply.chunks!.length - 1] = usageChunk(reported, 20);
      return reply;
    }
    return textReply(["FINISHED."], { prompt: reported, completion: 5 });
  });
  const proxy = serveProxy(upstream, (url) => ({
    OPENAI_BASE_URL: `${url}/v1`,
    BIG_MODEL: "local-coder",
    SMALL_MODEL: "local-coder",
    MODEL_LIMITS: "local-coder=32768/4096",
  }));
  try {
    const result = await runClaude(
      work,
      ["-p", "Run three seq commands and report", "--allowedTools", "Bash"],
      { ...proxyEnv(proxy.url), ...env },
    );
    assert.equal(result.code, 0, result.stderr);
    return upstream.requests.some((r) =>
      JSON.stringify(r.body.messages ?? []).includes(SUMMARY_REQUEST)
    );
  } finally {
    await proxy.close();
    await Deno.remove(work, { recursive: true });
  }
}

Deno.test({
  name:
    "told the window by claudeCodeWindow(), Claude Code compacts a 32k model's conversation in time",
  ignore: !claudeSupported,
  async fn() {
    const config = testConfig({
      BIG_MODEL: "local-coder",
      SMALL_MODEL: "local-coder",
      MODEL_LIMITS: "local-coder=32768/4096",
    });
    const { env } = claudeCodeWindow(config)!;
    // 26k of a 32k window: time to compact, before the backend refuses the next turn.
    assert.equal(await compactsAt(env, 26_000), true, "compacts with the variables");
    assert.equal(await compactsAt({}, 26_000), false, "believes it has Claude's window without");
    // Well below the threshold nothing happens.
    assert.equal(await compactsAt(env, 12_000), false, "no needless compaction");
  },
});
