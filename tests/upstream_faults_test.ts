/** Upstream faults found from outside (QA round F6, F18, F30, F31, F32): each one pinned. */
import assert from "node:assert/strict";
import { redact } from "../lib/server/redact.ts";

Deno.test("F32: a URL's userinfo and credential-named query values are redacted", () => {
  const line =
    "usage ledger: off: failed to connect to 'https://user:pass@127.0.0.1:18003/databases/x/connect?access_token=abc&alt=sse'";
  const out = redact(line, []);
  assert.ok(!out.includes("user:pass"), out);
  assert.ok(!out.includes("abc"), out);
  assert.ok(out.includes("https://[redacted]@127.0.0.1:18003/databases/x/connect"), out);
  assert.ok(out.includes("alt=sse"), out);
  // A plain URL and text with an @ stay as they are.
  assert.equal(
    redact("see https://example.com/docs and me@example.com", []),
    "see https://example.com/docs and me@example.com",
  );
});
