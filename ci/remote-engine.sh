#!/usr/bin/env bash
# A second Docker engine on this machine that is remote to it: its own network namespace
# (a veth pair, 10.201.0.2 on its side, 10.201.0.1 on this machine's), its own data root,
# containerd and bridge, reached only over TCP. The remote-engine tests run the stack on
# it with DOCKER_HOST=tcp://10.201.0.2:2375; nothing of it is visible to the local engine.
# Like a CI's remote engine, it reaches the package mirrors (to build images): its
# traffic out is masqueraded behind this machine's address, as the local engine's is.
#
# Usage (as root, the local engine's dockerd installed: ci/engine.sh):
#   ci/remote-engine.sh up     start it (bounded wait), print its DOCKER_HOST
#   ci/remote-engine.sh down   stop it and remove its namespace, link and files
set -euo pipefail

NS=${REMOTE_ENGINE_NS:-stackyard-remote}
HOST_SIDE=sy-remote-h
ENGINE_SIDE=sy-remote-e
HOST_ADDRESS=10.201.0.1
ENGINE_ADDRESS=10.201.0.2
PORT=2375
ROOT=${REMOTE_ENGINE_ROOT:-/var/tmp/stackyard-remote-engine}
WAIT=${REMOTE_ENGINE_WAIT:-60}   # seconds
URL=tcp://$ENGINE_ADDRESS:$PORT
SUBNET=10.201.0.0/24
TAG=(-m comment --comment "$NS")  # marks this script's firewall rules

# Its forwarding and masquerading rules, added (-I / -A) or deleted (-D).
rules() {
    iptables "$1" FORWARD -i "$HOST_SIDE" "${TAG[@]}" -j ACCEPT \
        && iptables "$1" FORWARD -o "$HOST_SIDE" -m conntrack --ctstate RELATED,ESTABLISHED \
            "${TAG[@]}" -j ACCEPT \
        && iptables -t nat "${2:-$1}" POSTROUTING -s "$SUBNET" ! -o "$HOST_SIDE" "${TAG[@]}" \
        -j MASQUERADE
}

say() { echo "ci/remote-engine.sh: $*" >&2; }

tools() {
    if command -v ip >/dev/null 2>&1 && command -v nsenter >/dev/null 2>&1 \
        && command -v iptables >/dev/null 2>&1; then
        return 0
    fi
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        say "needs ip (iproute2), nsenter (util-linux) and iptables, as root"
        exit 1
    fi
    say "installing Debian's iproute2, util-linux and iptables"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends iproute2 util-linux iptables >/dev/null
}

up() {
    tools
    if docker -H "$URL" version >/dev/null 2>&1; then
        echo "$URL"
        return 0
    fi
    down_quietly
    ip netns add "$NS"
    ip link add "$HOST_SIDE" type veth peer name "$ENGINE_SIDE"
    ip link set "$ENGINE_SIDE" netns "$NS"
    ip addr add "$HOST_ADDRESS/24" dev "$HOST_SIDE"
    ip link set "$HOST_SIDE" up
    ip netns exec "$NS" ip addr add "$ENGINE_ADDRESS/24" dev "$ENGINE_SIDE"
    ip netns exec "$NS" ip link set "$ENGINE_SIDE" up
    ip netns exec "$NS" ip link set lo up
    ip netns exec "$NS" ip route add default via "$HOST_ADDRESS"
    sysctl -q -w net.ipv4.ip_forward=1
    rules -I -A
    mkdir -p "$ROOT"
    # nsenter, not `ip netns exec`: that one also remounts /sys, hiding the cgroups.
    nsenter --net="/var/run/netns/$NS" setsid dockerd \
        --host "$URL" --host "unix://$ROOT/docker.sock" \
        --data-root "$ROOT/data" --exec-root "$ROOT/exec" --pidfile "$ROOT/dockerd.pid" \
        >"$ROOT/dockerd.log" 2>&1 </dev/null &
    for _ in $(seq "$WAIT"); do
        if docker -H "$URL" version >/dev/null 2>&1; then
            echo "$URL"
            return 0
        fi
        sleep 1
    done
    say "the engine did not answer within ${WAIT}s; last lines of $ROOT/dockerd.log:"
    tail -n 20 "$ROOT/dockerd.log" >&2
    down_quietly
    exit 1
}

down_quietly() {
    if [ -f "$ROOT/dockerd.pid" ]; then
        pid=$(cat "$ROOT/dockerd.pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    pkill -f "$ROOT/exec/containerd" 2>/dev/null || true
    while rules -D 2>/dev/null; do :; done
    ip link delete "$HOST_SIDE" 2>/dev/null || true
    ip netns delete "$NS" 2>/dev/null || true
    # Mounts the engine left (its overlay layers) go before its files.
    grep -o " $ROOT/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$ROOT"
}

case ${1:-} in
    up) up ;;
    down) down_quietly ;;
    *) say "usage: $0 up | down"; exit 2 ;;
esac
