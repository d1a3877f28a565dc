#!/usr/bin/env bash
# Make sure a Docker engine answers, for the Docker runtime and its tests.
#
#   exit 0   an engine answers (perhaps one this script just started)
#   exit 10  none answers and this is not CI: the Docker tests will skip
#   exit 1   CI, and the engine could not be installed or started
#
# In CI (CI=true), or with CHAOS_INSTALL_DOCKER=1, as root: installs
# Debian's docker.io, docker-compose and debootstrap when they are missing
# (one apt-get update first), then starts dockerd in the background and
# waits for it. dockerd stays running afterwards, like a system service.
set -uo pipefail
log=${DOCKERD_LOG:-/tmp/flask-chaos-dockerd.log}

answers() { docker info >/dev/null 2>&1; }

if command -v docker >/dev/null && answers; then exit 0; fi
case "${CHAOS_INSTALL_DOCKER:-${CI:-}}" in
  true|1|yes) ;;
  *)
    echo "no Docker engine answers: the Docker runtime tests will skip (CI=true installs and starts one)" >&2
    exit 10 ;;
esac
if [ "$(id -u)" != 0 ]; then
  echo "error: no Docker engine answers, and installing one needs root" >&2; exit 1
fi

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 || missing+=(docker-compose)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || { echo "error: apt-get update failed" >&2; exit 1; }
  # No systemd here to start the service: the policy-rc.d answer keeps the
  # package scripts from trying, and dockerd is started below instead.
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && own_policy=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" iptables >/dev/null
  rc=$?
  [ $own_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
  [ $rc = 0 ] || { echo "error: apt-get install ${missing[*]} failed" >&2; exit 1; }
fi

if ! answers; then
  echo "starting dockerd (log: $log)"
  setsid nohup dockerd >"$log" 2>&1 < /dev/null &
  for _ in $(seq 1 60); do
    answers && break
    sleep 0.5
  done
fi
if ! answers; then
  echo "error: dockerd did not answer within 30 s; last lines of $log:" >&2
  tail -n 20 "$log" >&2
  exit 1
fi
docker version --format 'Docker engine {{.Server.Version}} answers'
