#!/usr/bin/env bash
# Put a real Toxiproxy server (v2.12.0) at $1 (e.g. .tools/bin/toxiproxy-server):
# a toxiproxy-server already on PATH is linked; otherwise it is built with Go.
set -euo pipefail
dest=${1:?usage: install.sh DEST}
version=v2.12.0
mkdir -p "$(dirname "$dest")"
if found=$(command -v toxiproxy-server 2>/dev/null) && [ "$found" != "$(realpath -m "$dest")" ]; then
  ln -sf "$found" "$dest"
  echo "using $found"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  cat >&2 <<MSG
error: Toxiproxy is needed and neither toxiproxy-server nor Go is on PATH.
  Either install Go (https://go.dev/doc/install, or 'apt-get install golang'),
  then run make again; or put the toxiproxy-server $version binary from
  Toxiproxy's releases on your PATH.
MSG
  exit 1
fi
gobin=$(mktemp -d)
trap 'rm -rf "$gobin"' EXIT
echo "building toxiproxy-server $version with $(go version | cut -d' ' -f3)"
GOBIN="$gobin" GOFLAGS=-mod=mod go install "github.com/Shopify/toxiproxy/v2/cmd/server@$version"
mv "$gobin/server" "$dest"
"$dest" -version
