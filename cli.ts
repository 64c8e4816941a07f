/**
 * The command line: `deno task start`, the compiled binaries and `deno run jsr:@x/ccproxy` run
 * this file. It is `main.ts` without the default export: `deno run` prints "Detected export
 * default { fetch }, did you mean to run deno serve?" for a main module whose default export has
 * a `fetch`, and `main.ts` keeps that export for `deno serve` and Deno Deploy.
 *
 * Importing it gives the library API of `mod.ts`, without side effects.
 *
 * @module
 */
import { main } from "./main.ts";

export * from "./mod.ts";

if (import.meta.main) Deno.exit(await main(Deno.args));
