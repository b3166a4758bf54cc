#!/usr/bin/env bash
# Builds the sidecar image (Dockerfile) with Debian's podman: `bash scripts/image/build.sh [tag]`.
#
# The Dockerfile needs only a Debian base image, Debian's packages and the npm registry. Where no
# container registry answers (our CI machines reach Debian and npm only), the base is made here
# from Debian's packages with debootstrap (minbase, docs and locales stripped as in
# debian:*-slim) and imported as a local image. A TLS-inspecting proxy's CA (NODE_EXTRA_CA_CERTS)
# reaches the npm step as a build secret and never enters an image.
set -euo pipefail
cd "$(dirname "$0")/../.."
tag="${1:-localhost/mlstream:latest}"
base="${DEBIAN_IMAGE:-}"

need=()
command -v podman >/dev/null 2>&1 || need+=(podman uidmap)
command -v runc >/dev/null 2>&1 || need+=(runc)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  echo "image: installing ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ -z "$base" ]; then
  if timeout 60 podman pull -q docker.io/library/debian:bookworm-slim >/dev/null 2>&1; then
    base=docker.io/library/debian:bookworm-slim
  else
    base=localhost/mlstream-base:bookworm
    if ! podman image exists "$base"; then
      echo "image: no registry answers; making $base from Debian's packages (debootstrap)" >&2
      rootfs=$(mktemp -d)
      trap 'rm -rf "$rootfs"' EXIT
      debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
      rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
        "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
      find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'locale.alias' -exec rm -rf {} +
      tar -C "$rootfs" -c . | podman import -q --change 'CMD ["bash"]' - "$base" >/dev/null
    fi
  fi
fi

secret=()
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -s "$NODE_EXTRA_CA_CERTS" ]; then
  secret=(--secret "id=extra_ca,src=$NODE_EXTRA_CA_CERTS")
fi
# chroot isolation: RUN steps need no cgroups (our CI's VMs mount cgroup v1 that crun refuses).
started=$(date +%s)
podman build -q --format docker --isolation chroot --network host "${secret[@]}" \
  --build-arg "DEBIAN_IMAGE=$base" -t "$tag" . >/dev/null
size=$(podman image inspect "$tag" --format '{{.Size}}')
echo "image: built $tag from $base in $(( $(date +%s) - started )) s, $(( size / 1000000 )) MB"
