/**
 * Who may read whose usage. Named keys (`PROXY_API_KEY=alice=…,bob=…`) often belong to several
 * people: each key sees only its own records on `GET /v1/usage` and the dashboard, and the keys
 * `ADMIN_KEYS` names see everyone's. Without `PROXY_API_KEY` (a loopback, single-user proxy)
 * there is one reader, who sees everything.
 *
 * @module
 */
import type { ClientKey } from "../server/auth.ts";

/**
 * The key name whose usage the key `name` may read, or undefined when it may read every key's.
 */
export function usageScope(
  config: { clientKeys: readonly ClientKey[]; adminKeys: readonly string[] },
  name: string,
): string | undefined {
  if (!config.clientKeys.length || config.adminKeys.includes(name)) return undefined;
  return name;
}
