/** The connection gate in process: what the handler sees through it. */
import assert from "node:assert/strict";
import { serveGated } from "../lib/server/gate.ts";

Deno.test("serveGated(): the handler sees the client's own address, not the gate's", async () => {
  const seen: Deno.NetAddr[] = [];
  const gate = serveGated((_request, info) => {
    seen.push(info.remoteAddr as Deno.NetAddr);
    return new Response("ok");
  }, { hostname: "127.0.0.1", port: 0, maxConnections: 10, headerTimeoutMs: 5_000 });
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: gate.addr.port });
    await conn.write(new TextEncoder().encode("GET / HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"));
    const buffer = new Uint8Array(1024);
    assert.match(new TextDecoder().decode(buffer.subarray(0, (await conn.read(buffer))!)), / 200 /);
    assert.equal(seen[0].port, (conn.localAddr as Deno.NetAddr).port);
    conn.close();
  } finally {
    await gate.close();
  }
});
