#!/usr/bin/env bash
# Make a minimal Debian bookworm image with Python 3.11 when no registry is reachable to pull
# python:3.11-slim from: debootstrap from the Debian mirror this machine's apt uses, then `podman import`.
# Usage: docker/make-base-image.sh [IMAGE]   (default localhost/rag-python:3.11-bookworm)
# DEBIAN_MIRROR overrides the mirror. Needs root, debootstrap and podman.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=docker/podman-env.sh
source "$here/podman-env.sh"
podman_setup

image="${1:-localhost/rag-python:3.11-bookworm}"
mirror="${DEBIAN_MIRROR:-$(apt-cache policy 2>/dev/null | awk '$3 == "bookworm/main" { print $2; exit }')}"
mirror="${mirror:-http://deb.debian.org/debian}"

command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install debootstrap" >&2; exit 1; }
rootfs="$(mktemp -d /var/tmp/rag-base.XXXXXX)"
trap 'rm -rf "$rootfs" "$rootfs.log"' EXIT

echo "debootstrap bookworm from $mirror ..." >&2
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
  bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || { tail -20 "$rootfs.log" >&2; exit 1; }
rm -f "$rootfs.log"

# What python:3.11-slim leaves out too: package caches, lists, docs, man pages.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/* \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/var/log/*.log
find "$rootfs"/usr/share/locale -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +  # translations (33 MB)

tar --numeric-owner -C "$rootfs" -c . |
  podman import --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' \
    --message "debootstrap minbase bookworm + python3 from $mirror" - "$image" >/dev/null
echo "made $image ($(podman image inspect --format '{{.Size}}' "$image" | numfmt --to=si)B)" >&2
