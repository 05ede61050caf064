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
# shellcheck source=ci/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"

# Its global options: everything of it under ROOT. No systemd here: cgroupfs, and
# events in a file.
PODMAN=(podman --root "$ROOT/storage" --runroot "$ROOT/run" --tmpdir "$ROOT/tmp"
    --network-config-dir "$ROOT/networks" --cgroup-manager cgroupfs --events-backend file)

answers() {
    timeout 10 docker -H "$URL" version >/dev/null 2>&1
}

up() {
    need podman "$DNSNAME" -- podman golang-github-containernetworking-plugin-dnsname
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
    stop_recorded "$ROOT/service.pid" "$ROOT"
    # The CNI plugins' address books of the stacks' networks (kept outside ROOT).
    rm -rf /var/lib/cni/networks/stackyard-*
    unmount_and_remove "$ROOT"
}

case ${1:-} in
    up) up ;;
    down) down_quietly ;;
    *) say "usage: $0 up | down"; exit 2 ;;
esac
