/**
 * A bounded soak: ccproxy runs as its own process; each round opens CONCURRENCY streaming
 * requests at once against a fake upstream on loopback; every stream must end complete and
 * correct. The proxy's RSS and open file descriptors are read after every round: they must stay
 * flat. Loopback only; a fixed number of rounds; stops by itself.
 *
 * `deno task soak [rounds] [concurrency]` (defaults 6 and 1000; at least 3 rounds).
 *
 * "Flat" compares the second round with the last: the first round grows V8's heap and the
 * connection pools to their working size, which they then keep (RSS is a high-water mark).
 *
 * @module
 */
import { createFakeUpstream, serveFake, textReply } from "./fake_upstream.ts";
import { startProxy } from "./run.ts";

const rounds = Math.max(3, Number(Deno.args[0] ?? 6));
const concurrency = Number(Deno.args[1] ?? 1000);
const PIECES = Array.from({ length: 20 }, (_, i) => `piece${i} `);
const EXPECTED = PIECES.join("");

const fake = serveFake(createFakeUpstream(() => textReply(PIECES)));
const started = await startProxy({
  OPENAI_API_KEY: "sk-soak-0001",
  OPENAI_BASE_URL: `${fake.url}/v1`,
});
const proxy = started.process;
const port = Number(new URL(started.url).port);

function proxyStats(): { rssMb: number; fds: number } {
  const status = Deno.readTextFileSync(`/proc/${proxy.pid}/status`);
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]);
  return {
    rssMb: Math.round(rss / 1024),
    fds: [...Deno.readDirSync(`/proc/${proxy.pid}/fd`)].length,
  };
}

/** The proxy's figures once its descriptor count stops moving (closed connections wind down). */
async function settledStats(): Promise<{ rssMb: number; fds: number }> {
  let stats = proxyStats();
  for (let i = 0; i < 40; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const next = proxyStats();
    if (next.fds === stats.fds) return next;
    stats = next;
  }
  return stats;
}

async function oneStream(client: Deno.HttpClient): Promise<string | undefined> {
  const response = await fetch(`http://127.0.0.1:${port}/v1/messages`, {
    client,
    method: "POST",
    headers: { "content-type": "application/json", "x-api-key": "soak" },
    body: JSON.stringify({
      model: "claude-sonnet-5-5",
      max_tokens: 256,
      stream: true,
      messages: [{ role: "user", content: "soak" }],
    }),
  });
  if (response.status !== 200) return `status ${response.status}: ${await response.text()}`;
  const text = await response.text();
  let answer = "";
  for (const match of text.matchAll(/"text_delta","text":"([^"]*)"/g)) answer += match[1];
  if (!text.trimEnd().endsWith('data: {"type":"message_stop"}')) {
    return "stream did not end with message_stop";
  }
  return answer === EXPECTED ? undefined : `wrong text: ${answer.slice(0, 80)}`;
}

const idle = proxyStats();
console.log(
  `soak: ${rounds} rounds × ${concurrency} concurrent streams, ${PIECES.length} chunks each`,
);
console.log(`proxy idle: rss ${idle.rssMb} MB, fds ${idle.fds}`);
const results: Array<
  { round: number; seconds: number; errors: number; rssMb: number; fds: number }
> = [];
let failed = false;
for (let round = 1; round <= rounds; round++) {
  const started = performance.now();
  // A client per round, closed after it: the proxy holds three descriptors per client connection
  // (its connection gate), so the count after a round measures leaks, not the client's pool size.
  const client = Deno.createHttpClient({});
  const outcomes = await Promise.all(
    Array.from({ length: concurrency }, () => oneStream(client).catch((e) => String(e))),
  );
  client.close();
  const errors = outcomes.filter(Boolean);
  const stats = await settledStats();
  results.push({
    round,
    seconds: (performance.now() - started) / 1000,
    errors: errors.length,
    ...stats,
  });
  console.log(
    `round ${round}: ${
      ((performance.now() - started) / 1000).toFixed(2)
    } s, errors ${errors.length}, rss ${stats.rssMb} MB, fds ${stats.fds}`,
  );
  if (errors.length) {
    failed = true;
    console.log(`  first error: ${errors[0]}`);
  }
}
const first = results[1];
const last = results.at(-1)!;
const rssGrowth = last.rssMb - first.rssMb;
const fdGrowth = last.fds - first.fds;
console.log(
  `rss round 2→last: ${first.rssMb} → ${last.rssMb} MB (${
    rssGrowth >= 0 ? "+" : ""
  }${rssGrowth} MB)`,
);
console.log(
  `fds round 2→last: ${first.fds} → ${last.fds} (${fdGrowth >= 0 ? "+" : ""}${fdGrowth})`,
);
// Flat: within 25% (and 32 MB) of round 2 (round 1 warms V8 and the pools up).
if (rssGrowth > Math.max(32, first.rssMb * 0.25)) {
  failed = true;
  console.log("FAIL: rss grew");
}
// Each round's client connections are closed after it; what the proxy may keep is its upstream
// keep-alive pool, which grows over the rounds up to one connection per concurrent stream.
const ceiling = idle.fds + concurrency + 16;
if (results.some((r) => r.fds > ceiling)) {
  failed = true;
  console.log(`FAIL: file descriptors leaked (more than ${ceiling}: idle + the upstream pool)`);
}
proxy.kill();
await proxy.status;
await fake.close();
console.log(failed ? "soak: FAILED" : "soak: ok");
Deno.exit(failed ? 1 : 0);
