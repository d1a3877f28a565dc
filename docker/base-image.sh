#!/usr/bin/env bash
# Make the Python base image the service images build FROM, and print its name.
#
# With a container registry: python:3.11-slim, the ordinary upstream image.
# Without one (a sandbox, an air-gapped CI): a Debian bookworm root file
# system made with debootstrap (bookworm's python3 is 3.11) and imported as
# flask-chaos/python:3.11. Built once: an existing image is reused.
# Everything but the image name goes to stderr, so callers can capture it.
set -euo pipefail
upstream=${UPSTREAM_PYTHON:-python:3.11-slim}
local_image=flask-chaos/python:3.11
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if docker image inspect "$upstream" >/dev/null 2>&1; then
  echo "$upstream"; exit 0
fi
if docker image inspect "$local_image" >/dev/null 2>&1; then
  echo "base image $local_image exists: reused" >&2
  echo "$local_image"; exit 0
fi
# A registry that is unreachable usually fails at once; the timeout covers
# one that hangs.
if [ "${CHAOS_NO_PULL:-0}" != 1 ] && timeout 60 docker pull --quiet "$upstream" >&2 2>/dev/null; then
  echo "$upstream"; exit 0
fi

echo "cannot pull $upstream: building $local_image with debootstrap from $mirror" >&2
if ! command -v debootstrap >/dev/null; then
  echo "error: debootstrap is missing (apt-get install debootstrap)" >&2; exit 1
fi
root=$(mktemp -d /tmp/flask-chaos-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
# minbase: essential packages and apt only. python3-venv brings ensurepip,
# which the image builds need to put pip in their virtual environment.
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
  bookworm "$root" "$mirror" >&2
# What a container never needs: package caches and lists, documentation,
# manuals, translations. Keeps the image (and every layer above it) lean.
rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
  "$root"/usr/share/locale/* "$root"/var/log/* "$root"/tmp/*
tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  - "$local_image" >&2
echo "$local_image"
