# mlstream as Helix's moonlight-web sidecar (docs/helix.md). Build: podman build -t mlstream .
# Both stages start from Debian and take everything else from Debian's packages and the npm
# registry (the lockfile pins Bun itself), the same two sources CI builds from; DEBIAN_IMAGE lets
# a machine without a container registry use a local Debian image (docs/helix.md, "The image").
# Stage 1 compiles the single binary with Bun; stage 2 is a slim Debian runtime with nothing else.
ARG DEBIAN_IMAGE=docker.io/library/debian:bookworm-slim

FROM ${DEBIAN_IMAGE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates nodejs npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json bunfig.toml tsconfig.json ./
# A build machine behind a TLS-inspecting proxy passes that proxy's CA as a build secret
# (`--secret id=extra_ca,src=<pem>`); it is used for this step only and never enters an image.
RUN --mount=type=secret,id=extra_ca \
    if [ -s /run/secrets/extra_ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/extra_ca; fi \
 && npm ci --no-audit --no-fund
COPY src ./src
COPY web ./web
COPY scripts ./scripts
RUN node_modules/.bin/bun scripts/build.ts --outfile /out/mlstream

FROM ${DEBIAN_IMAGE}
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
