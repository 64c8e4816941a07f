/**
 * A bare `fetch` pass-through (no translation, no validation): the floor any Deno proxy pays for
 * the extra HTTP hop on this machine. The benchmark measures it beside ccproxy.
 *
 * `deno run --allow-net=127.0.0.1 bench/bare_proxy.ts <upstream url>` prints `listening <port>`.
 *
 * @module
 */
if (import.meta.main) {
  const upstream = Deno.args[0];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const response = await fetch(`${upstream}${new URL(request.url).pathname}`, {
        method: request.method,
        headers: request.headers,
        body: request.body,
      });
      return new Response(response.body, { status: response.status, headers: response.headers });
    },
  );
  console.log(`listening ${server.addr.port}`);
}
