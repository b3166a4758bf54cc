#!/usr/bin/env bash
# The Debian packages the tests start themselves (`npm run setup-test-deps`; CI runs it too):
# ffmpeg decodes our output, chromium runs the browser tests, nginx is their reverse proxy,
# coturn their TURN relay, janus the SFU viewers can take their media from, nftables the bad-link
# test's packet loss (no sch_netem here); libssl-dev for the ingest bench's C floor receiver.
# Installs only what is missing; needs root (or sudo) for apt-get.
set -euo pipefail

need=()
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need+=(chromium)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
[ -x /usr/bin/turnserver ] || need+=(coturn)
[ -x /usr/bin/janus ] || need+=(janus)
command -v nft >/dev/null 2>&1 || [ -x /usr/sbin/nft ] || need+=(nftables)
# The benches' C floors (scripts/bench/ingest/floor.c, scripts/bench/fanout/floor.c) compile
# against OpenSSL's libcrypto; the fan-out floor checks itself against libsrtp2.
[ -e /usr/include/openssl/evp.h ] || need+=(libssl-dev)
[ -e /usr/include/srtp2/srtp.h ] || need+=(libsrtp2-dev)

if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-test-deps: needs root to apt-get install ${need[*]}" >&2; exit 1; }
    sudo=sudo
  fi
  echo "install-test-deps: installing ${need[*]}"
  # Packages must not start services (nginx would listen on port 80): the tests run their own.
  policy_created=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null && $sudo chmod +x /usr/sbin/policy-rc.d && policy_created=1
  fi
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  if [ -n "$policy_created" ]; then $sudo rm -f /usr/sbin/policy-rc.d; fi
fi

ffmpeg -version | head -1
chromium --version
echo "nginx: $( (command -v nginx || echo /usr/sbin/nginx) )"
