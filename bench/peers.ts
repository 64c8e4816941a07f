/**
 * The peer for side-by-side figures: claude-code-router (`@musistudio/claude-code-router`),
 * installed from npm into a temporary folder (nothing of it is committed), configured through a
 * temporary HOME to use the same fake upstream, and started on loopback.
 *
 * @module
 */
import type { Route } from "./run.ts";
import { proxyRoute } from "./run.ts";
import { TURN_MODEL } from "./turn.ts";

// 3.x depends on a package the npm registry does not have; 2.0.0 is the newest that installs.
const PACKAGE = "@musistudio/claude-code-router@2.0.0";
const PORT = 38456;

async function run(command: string, args: string[], cwd: string, env: Record<string, string> = {}) {
  const result = await new Deno.Command(command, {
    args,
    cwd,
    env,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  return {
    ok: result.success,
    text: new TextDecoder().decode(result.stdout) + new TextDecoder().decode(result.stderr),
  };
}

/**
 * Installs and starts claude-code-router pointed at `fakeUrl`; undefined (with the reason on
 * stderr) when it cannot be installed or does not answer within 60 s. `pid` is the process whose
 * CPU time (children included) the benchmark counts.
 */
export async function runPeer(
  fakeUrl: string,
): Promise<{ route: Route; close: () => Promise<void>; pid: number } | undefined> {
  const dir = await Deno.makeTempDir({ prefix: "ccproxy-peer-" });
  console.error(`bench: installing ${PACKAGE} into ${dir}`);
  const install = await run(
    "npm",
    ["install", "--no-audit", "--no-fund", "--silent", PACKAGE],
    dir,
  );
  if (!install.ok) {
    console.error(`bench: peer install failed:\n${install.text.slice(-2000)}`);
    return undefined;
  }
  const home = `${dir}/home`;
  Deno.mkdirSync(`${home}/.claude-code-router`, { recursive: true });
  const config = {
    LOG: false,
    HOST: "127.0.0.1",
    PORT,
    APIKEY: "",
    API_TIMEOUT_MS: 600000,
    Providers: [{
      name: "fake",
      api_base_url: `${fakeUrl}/v1/chat/completions`,
      api_key: "sk-bench",
      models: ["fake-c3-i0-b8", "fake-c50-i5-b16", TURN_MODEL],
    }],
    Router: { default: "fake,fake-c3-i0-b8" },
  };
  Deno.writeTextFileSync(
    `${home}/.claude-code-router/config.json`,
    JSON.stringify(config, null, 2),
  );
  const cli = `${dir}/node_modules/@musistudio/claude-code-router/dist/cli.js`;
  const process = new Deno.Command("node", {
    args: [cli, "start"],
    cwd: dir,
    env: { HOME: home, SERVICE_PORT: String(PORT) },
    stdout: "null",
    stderr: "null",
  }).spawn();
  const url = `http://127.0.0.1:${PORT}`;
  const deadline = performance.now() + 60_000;
  while (performance.now() < deadline) {
    try {
      const response = await fetch(
        `${url}/v1/messages`,
        proxyRoute(url).init("fake,fake-c3-i0-b8", false),
      );
      const text = await response.text();
      if (response.status === 200) break;
      console.error(`bench: peer answered ${response.status}: ${text.slice(0, 300)}`);
      await new Promise((r) => setTimeout(r, 500));
    } catch {
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  if (performance.now() >= deadline) {
    process.kill();
    await process.status;
    await run("node", [cli, "stop"], dir, { HOME: home });
    return undefined;
  }
  // The router picks the model from its own Router config; the shape rides on the model name.
  const route = proxyRoute(url, "claude-code-router");
  const init = route.init;
  route.init = (model, stream) => init(`fake,${model}`, stream);
  return {
    route,
    pid: process.pid,
    close: async () => {
      await run("node", [cli, "stop"], dir, { HOME: home });
      try {
        process.kill();
      } catch { /* already gone */ }
      await process.status;
    },
  };
}
