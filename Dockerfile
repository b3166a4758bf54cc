# mlstream as Helix's moonlight-web sidecar (docs/helix.md). Build: podman build -t mlstream .
# Stage 1 compiles the single binary with Bun; stage 2 is a slim Debian runtime with nothing else.
FROM docker.io/oven/bun:1.4.5-debian AS build
WORKDIR /src
COPY package.json package-lock.json bunfig.toml tsconfig.json ./
RUN bun install --frozen-lockfile --ignore-scripts
COPY src ./src
COPY web ./web
COPY scripts ./scripts
RUN bun scripts/build.ts --outfile /out/mlstream

FROM docker.io/library/debian:bookworm-slim
# libssl3: the media ciphers use the system libcrypto through bun:ffi (src/moonlight/libcrypto-aes.ts).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates curl libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin mlstream \
 && mkdir -p /data /app/server \
 && chown mlstream:mlstream /data
COPY --from=build /out/mlstream /usr/local/bin/mlstream
COPY deploy/entrypoint.sh /usr/local/bin/mlstream-entrypoint
# Helix mounts its config.json/data.json at /app/server (compose) or /opt/moonlight-web/server
# (sandbox image); both are looked up at start. Our own state (keys, pairings) lives in /data.
VOLUME ["/data"]
ENV MLSTREAM_DATA_DIR=/data MLSTREAM_SERVER_HOST=0.0.0.0 MLSTREAM_SERVER_PORT=8080 TMPDIR=/data/tmp
EXPOSE 8080 40000-40100/udp
USER mlstream
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS -H "Host: localhost" "http://127.0.0.1:${MLSTREAM_SERVER_PORT}/healthz" || exit 1
ENTRYPOINT ["/usr/local/bin/mlstream-entrypoint"]
