#!/usr/bin/env bash
# Podman's Docker-compatible service on this machine, rootful, beside the Docker engine:
# its own storage, run and network-configuration directories under ROOT, its socket at
# ROOT/podman.sock. The Podman tests run the stack on it with DOCKER_HOST=unix://...;
# nothing of it is visible to the Docker engine. Debian's podman and its dnsname plugin
# (containers find each other by name on a network) are installed when missing.
#
# Usage (as root):
#   ci/podman-engine.sh up     start it (bounded wait), print its DOCKER_HOST
#   ci/podman-engine.sh down   stop it, remove its containers and files
set -euo pipefail

ROOT=${PODMAN_ENGINE_ROOT:-/var/tmp/stackyard-podman}
WAIT=${PODMAN_ENGINE_WAIT:-60}   # seconds
URL=unix://$ROOT/podman.sock
DNSNAME=/usr/lib/cni/dnsname

say() { echo "ci/podman-engine.sh: $*" >&2; }

# Its global options: everything of it under ROOT. No systemd here: cgroupfs, and
# events in a file.
PODMAN=(podman --root "$ROOT/storage" --runroot "$ROOT/run" --tmpdir "$ROOT/tmp"
    --network-config-dir "$ROOT/networks" --cgroup-manager cgroupfs --events-backend file)

tools() {
    if command -v podman >/dev/null 2>&1 && [ -x "$DNSNAME" ]; then
        return 0
    fi
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        say "needs podman and its dnsname CNI plugin ($DNSNAME), as root (and docker's CLI)"
        exit 1
    fi
    say "installing Debian's podman and its dnsname plugin"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends podman \
        golang-github-containernetworking-plugin-dnsname >/dev/null
}

answers() {
    timeout 10 docker -H "$URL" version >/dev/null 2>&1
}

up() {
    tools
    if answers; then
        echo "$URL"
        return 0
    fi
    down_quietly
    mkdir -p "$ROOT/networks" "$ROOT/tmp"
    # TMPDIR too: what the API is sent (an image to load) is written there first.
    TMPDIR="$ROOT/tmp" setsid "${PODMAN[@]}" system service --time 0 "$URL" \
        >"$ROOT/service.log" 2>&1 </dev/null &
    echo $! >"$ROOT/service.pid"
    for _ in $(seq "$WAIT"); do
        if answers; then
            echo "$URL"
            return 0
        fi
        sleep 1
    done
    say "Podman did not answer within ${WAIT}s; last lines of $ROOT/service.log:"
    tail -n 20 "$ROOT/service.log" >&2
    down_quietly
    exit 1
}

down_quietly() {
    if [ -d "$ROOT/storage" ] && command -v podman >/dev/null 2>&1; then
        "${PODMAN[@]}" rm --all --force --time 0 >/dev/null 2>&1 || true
        "${PODMAN[@]}" network prune --force >/dev/null 2>&1 || true
    fi
    if [ -f "$ROOT/service.pid" ]; then
        pid=$(cat "$ROOT/service.pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    # Mounts it left (its overlay layers, shm) go before its files.
    grep -o " $ROOT/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$ROOT"
}

case ${1:-} in
    up) up ;;
    down) down_quietly ;;
    *) say "usage: $0 up | down"; exit 2 ;;
esac
