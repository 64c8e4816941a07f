/**
 * The package version, read from `deno.json` so there is one place to bump it.
 *
 * @module
 */
import meta from "../deno.json" with { type: "json" };

/** ccproxy's version. */
export const VERSION: string = meta.version;
