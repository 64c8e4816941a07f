/**
 * Builds the single-file binaries: `dist/ccproxy-<target>` for every target below, each with the
 * narrowest permissions baked in. `deno task compile [target ...]` (all targets by default).
 * Compiling downloads Deno's runtime for each target, so it needs the internet.
 *
 * @module
 */

/** The release targets. */
export const TARGETS: readonly string[] = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
];

/** What the server needs, and nothing more (the same as `deno task start`). */
export const PERMISSIONS: readonly string[] = [
  "--allow-net",
  "--allow-env",
  "--allow-read=.env,.ccproxy,/proc/self/limits",
  "--allow-write=.ccproxy",
];

/** The `deno compile` arguments for one target. */
export function compileArgs(target: string): string[] {
  const suffix = target.includes("windows") ? ".exe" : "";
  return [
    "compile",
    ...PERMISSIONS,
    // The usage ledger is Deno KV; the dashboard's files are bundled as text imports.
    "--unstable-kv",
    "--unstable-raw-imports",
    "--target",
    target,
    "--output",
    `dist/ccproxy-${target}${suffix}`,
    "cli.ts",
  ];
}

if (import.meta.main) {
  const chosen = Deno.args.length ? Deno.args : TARGETS;
  for (const target of chosen) {
    if (!TARGETS.includes(target)) {
      console.error(`compile: unknown target ${target}; one of: ${TARGETS.join(", ")}`);
      Deno.exit(2);
    }
    console.error(`compile: ${target}`);
    const { code } = await new Deno.Command(Deno.execPath(), { args: compileArgs(target) }).spawn()
      .status;
    if (code !== 0) Deno.exit(code);
  }
}
