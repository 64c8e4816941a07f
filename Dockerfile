# ccproxy on the official Deno image, as a non-root user.
# docker build -t ccproxy . && docker run -p 8082:8082 -e OPENAI_API_KEY=... -e PROXY_API_KEY=... ccproxy
FROM denoland/deno:2.9.6

WORKDIR /app
COPY deno.json deno.lock ./
COPY cli.ts main.ts mod.ts ./
COPY lib/ lib/
# Fetch and cache the dependencies at build time, not at start.
RUN deno cache cli.ts

# Inside a container the server must listen on every interface, so a PROXY_API_KEY is required
# (ccproxy refuses to start without one; see the README's security section).
ENV HOST=0.0.0.0 PORT=8082
EXPOSE 8082
# The usage ledger's SQLite file lives here; mount a volume on /app/.ccproxy to keep it.
RUN mkdir -p .ccproxy && chown deno:deno .ccproxy
USER deno
CMD ["run", "--allow-net", "--allow-env", "--allow-read=.env,.ccproxy,/proc/self/limits", "--allow-write=.ccproxy", "cli.ts"]
