#!/bin/sh
# Starts mlstream as Helix's moonlight-web sidecar: Helix's config.json/data.json are found where
# Helix mounts them, its env (MOONLIGHT_CREDENTIALS, MOONLIGHT_INTERNAL_PAIRING_PIN, TURN_*) read.
set -eu
: "${MLSTREAM_DATA_DIR:=/data}"
mkdir -p "$MLSTREAM_DATA_DIR" "${TMPDIR:-$MLSTREAM_DATA_DIR/tmp}"
if [ -z "${MOONLIGHT_CREDENTIALS:-}" ] && [ -z "${MLSTREAM_TOKEN:-}" ] \
  && ! grep -qs '"credentials"' /app/server/config.json /opt/moonlight-web/server/config.json; then
  echo "mlstream-entrypoint: no credentials (MOONLIGHT_CREDENTIALS or config.json); Helix authenticates with them" >&2
fi
# SIDECAR_BIN may be a command with arguments (testing outside the image): split on purpose.
# shellcheck disable=SC2086
exec ${SIDECAR_BIN:-mlstream} --data-dir "$MLSTREAM_DATA_DIR" serve --compat moonlight-web "$@"
