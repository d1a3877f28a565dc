#!/usr/bin/env bash
# `make images`: every image compose.yaml runs, built on this machine.
#
# - the Python base: python:3.11-slim, or a debootstrapped one when no
#   registry answers (docker/base-image.sh; made once, then reused);
# - the wheelhouse services/wheels/, filled on the host from PyPI, so image
#   builds need no network (pip install --no-index --find-links);
# - flask-chaos/{gateway,users,orders,inventory,mailer,notifications}:$CHAOS_IMAGE_TAG
#   (default latest) from services/*/Dockerfile;
# - flask-chaos/redis:$CHAOS_IMAGE_TAG: Debian's redis-server on the same base (docker/redis/);
# - flask-chaos/toxiproxy:2.12.0: upstream's image retagged when it can be
#   pulled, otherwise built from the go-installed toxiproxy-server.
# Builds with whichever builder `docker build` has (classic or BuildKit).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
TOOLS=.tools/bin
TOXIPROXY_VERSION=2.12.0
TOXIPROXY_UPSTREAM=ghcr.io/shopify/toxiproxy:$TOXIPROXY_VERSION
TOXIPROXY_IMAGE=flask-chaos/toxiproxy:$TOXIPROXY_VERSION
SERVICES=(gateway users orders inventory mailer notifications)
# The shop's images are tagged CHAOS_IMAGE_TAG (default latest), which
# compose.yaml reads too: on an engine shared with another checkout (another
# branch, a swarm stack of the same images) each builds and runs its own tag
# instead of replacing the images the other's containers start from.
TAG=${CHAOS_IMAGE_TAG:-latest}

step() { printf '== %s\n' "$*"; }

step "base image"
base=$(docker/base-image.sh)
echo "base: $base"

step "wheelhouse services/wheels"
# Offline first: wheels already there satisfy the pins without asking PyPI.
"$PY" -m pip wheel --quiet --disable-pip-version-check --no-index --find-links services/wheels \
    -r services/requirements.txt -w services/wheels 2>/dev/null \
  || "$PY" -m pip wheel --quiet --disable-pip-version-check --find-links services/wheels \
    -r services/requirements.txt -w services/wheels
ls services/wheels/*.whl | wc -l | xargs echo "wheels:"

step "the agent, staged into the build context (services/_agent/chaos)"
# The services install the agent as a Flask app would: only chaos.agent and
# its contract, not the toolkit (whose dependencies an image does not need).
rm -rf services/_agent
mkdir -p services/_agent/chaos
cp chaos/__init__.py services/_agent/chaos/
cp -r chaos/agent chaos/contract services/_agent/chaos/
find services/_agent -name __pycache__ -prune -exec rm -rf {} +

for s in "${SERVICES[@]}"; do
  step "flask-chaos/$s:$TAG"
  docker build --quiet --build-arg BASE_IMAGE="$base" --build-arg WHEELHOUSE=1 \
    -f "services/$s/Dockerfile" -t "flask-chaos/$s:$TAG" services
done

step "flask-chaos/redis:$TAG"
# Debian's redis-server on the same base (docker/redis/Dockerfile); its only
# network is the Debian mirror, which the debootstrapped base came from too.
docker build --quiet --build-arg BASE_IMAGE="$base" -t "flask-chaos/redis:$TAG" docker/redis

step "$TOXIPROXY_IMAGE"
if [ "${CHAOS_NO_PULL:-0}" != 1 ] && timeout 60 docker pull --quiet "$TOXIPROXY_UPSTREAM" >/dev/null 2>&1; then
  docker tag "$TOXIPROXY_UPSTREAM" "$TOXIPROXY_IMAGE"
  echo "retagged $TOXIPROXY_UPSTREAM"
else
  # The CLI only serves the healthcheck; built static so it runs on any base.
  if [ ! -x "$TOOLS/toxiproxy-cli" ]; then
    gobin=$(mktemp -d)
    GOBIN="$gobin" CGO_ENABLED=0 GOFLAGS=-mod=mod go install "github.com/Shopify/toxiproxy/v2/cmd/cli@v$TOXIPROXY_VERSION"
    mv "$gobin/cli" "$TOOLS/toxiproxy-cli"
    rm -rf "$gobin"
  fi
  ctx=$(mktemp -d)
  trap 'rm -rf "$ctx"' EXIT
  cp -L "$TOOLS/toxiproxy-server" "$TOOLS/toxiproxy-cli" toxiproxy/Dockerfile "$ctx/"
  # A static binary runs FROM scratch; a dynamically linked one (Go with cgo)
  # needs glibc, which the Python base has.
  if ldd "$ctx/toxiproxy-server" >/dev/null 2>&1; then tp_base=$base; else tp_base=scratch; fi
  echo "toxiproxy-server is $([ "$tp_base" = scratch ] && echo static || echo 'dynamically linked'): FROM $tp_base"
  docker build --quiet --build-arg BASE_IMAGE="$tp_base" -t "$TOXIPROXY_IMAGE" "$ctx"
fi

step "images"
docker image ls --format '{{.Repository}}:{{.Tag}}\t{{.Size}}' | grep '^flask-chaos/' | sort
