#!/usr/bin/env bash
# Make a Docker engine available, or say how to get one.
#
# 1. An engine that already answers (DOCKER_HOST, or the default socket) is used as it is.
# 2. Otherwise, as root on Debian/Ubuntu: install Debian's docker.io if dockerd is missing,
#    start dockerd in the background (log: $ENGINE_LOG), and wait for it, bounded.
# 3. Otherwise: stop with a message naming what to do.
# Idempotent: running it again with an engine up does nothing.
set -euo pipefail

ENGINE_LOG=${ENGINE_LOG:-/var/log/stackyard-dockerd.log}
ENGINE_WAIT=${ENGINE_WAIT:-60}   # seconds; dockerd answers in a few here

say() { echo "ci/engine.sh: $*"; }
answers() { docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && answers; then
    say "engine is up ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
    exit 0
fi
if [ -n "${DOCKER_HOST:-}" ]; then
    say "DOCKER_HOST=$DOCKER_HOST does not answer; start that engine or unset DOCKER_HOST" >&2
    exit 1
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    say "no Docker engine answers and this is not root on Debian/Ubuntu, so none can be installed here;" \
        "install Docker (https://docs.docker.com/engine/install/) or point DOCKER_HOST at an engine" >&2
    exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
    say "installing Debian's docker.io (engine, containerd, runc)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends docker.io iptables >/dev/null
fi
# Debian's package puts its client in /usr/bin; prefer it when another one shadows it.
if [ -x /usr/bin/docker ]; then
    export PATH=/usr/bin:$PATH
fi

if ! pgrep -x dockerd >/dev/null 2>&1; then
    say "starting dockerd (log: $ENGINE_LOG)"
    mkdir -p "$(dirname "$ENGINE_LOG")"
    # setsid: the engine must outlive this script and the make target that called it.
    setsid nohup dockerd >>"$ENGINE_LOG" 2>&1 </dev/null &
fi

deadline=$((SECONDS + ENGINE_WAIT))
until answers; do
    if [ $SECONDS -ge $deadline ]; then
        say "dockerd did not answer within ${ENGINE_WAIT}s; last lines of $ENGINE_LOG:" >&2
        tail -n 20 "$ENGINE_LOG" >&2 || true
        exit 1
    fi
    sleep 0.2
done
say "engine is up ($(docker version --format '{{.Server.Version}}'))"
