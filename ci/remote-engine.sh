#!/usr/bin/env bash
# A second Docker engine on this machine that is remote to it: its own network namespace
# (a veth pair, 10.201.0.2 on its side, 10.201.0.1 on this machine's), its own data root,
# containerd and bridge, reached only over TCP. The remote-engine tests run the stack on
# it with DOCKER_HOST=tcp://10.201.0.2:2375; nothing of it is visible to the local engine.
# Like a CI's remote engine, it reaches the package mirrors (to build images): its
# traffic out is masqueraded behind this machine's address, as the local engine's is.
#
# Usage (as root, the local engine's dockerd installed: ci/engine.sh):
#   ci/remote-engine.sh up        start it (bounded wait), print its DOCKER_HOST
#   ci/remote-engine.sh ssh DIR   (once up) an sshd at the engine's address that runs only
#                                 `docker system dial-stdio` there; its keys and an `ssh`
#                                 using them (DIR/bin/ssh: put DIR/bin first on PATH) go
#                                 to DIR; print the ssh:// DOCKER_HOST
#   ci/remote-engine.sh down      stop it (and its sshd), remove its namespace, link, files
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
SSH_PORT=2222
SUBNET=10.201.0.0/24
TAG=(-m comment --comment "$NS")  # marks this script's firewall rules

# Its forwarding and masquerading rules, as arguments of `iptables ACTION`.
FORWARD_OUT=(FORWARD -i "$HOST_SIDE" "${TAG[@]}" -j ACCEPT)
FORWARD_BACK=(FORWARD -o "$HOST_SIDE" -m conntrack --ctstate "RELATED,ESTABLISHED" "${TAG[@]}"
    -j ACCEPT)
MASQUERADE=(POSTROUTING -s "$SUBNET" ! -o "$HOST_SIDE" "${TAG[@]}" -j MASQUERADE)

say() { echo "ci/remote-engine.sh: $*" >&2; }
# shellcheck source=ci/lib.sh disable=SC1091
. "$(dirname "$0")/lib.sh"

up() {
    need ip nsenter iptables -- iproute2 util-linux iptables
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
    iptables -I "${FORWARD_OUT[@]}"
    iptables -I "${FORWARD_BACK[@]}"
    iptables -t nat -A "${MASQUERADE[@]}"
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

ssh_up() {
    local dir=$1
    if ! docker -H "$URL" version >/dev/null 2>&1; then
        say "no engine at $URL: run '$0 up' first"
        exit 1
    fi
    need ssh ssh-keygen /usr/sbin/sshd -- openssh-client openssh-server
    stop_recorded "$ROOT/sshd.pid" sshd  # a second call replaces the first one's
    mkdir -p "$dir/bin" /run/sshd
    rm -f "$dir/host_key" "$dir/host_key.pub" "$dir/id" "$dir/id.pub"
    ssh-keygen -q -t ed25519 -N '' -C stackyard-remote-host -f "$dir/host_key"
    ssh-keygen -q -t ed25519 -N '' -C stackyard-remote-client -f "$dir/id"
    cp "$dir/id.pub" "$dir/authorized_keys"
    {
        echo "ListenAddress $ENGINE_ADDRESS:$SSH_PORT"
        echo "HostKey $dir/host_key"
        echo "AuthorizedKeysFile $dir/authorized_keys"
        echo "PidFile $ROOT/sshd.pid"
        echo "PermitRootLogin prohibit-password"
        echo "PasswordAuthentication no"
        echo "KbdInteractiveAuthentication no"
        echo "UsePAM no"
        echo "StrictModes no"
        echo "ForceCommand env DOCKER_HOST=unix://$ROOT/docker.sock docker system dial-stdio"
    } >"$dir/sshd_config"
    {
        echo "Host $ENGINE_ADDRESS"
        echo "    Port $SSH_PORT"
        echo "    User root"
        echo "    IdentityFile $dir/id"
        echo "    IdentitiesOnly yes"
        echo "    UserKnownHostsFile $dir/known_hosts"
        echo "    StrictHostKeyChecking yes"
        echo "    BatchMode yes"
        echo "    ConnectTimeout 10"
    } >"$dir/ssh_config"
    echo "[$ENGINE_ADDRESS]:$SSH_PORT $(cut -d' ' -f1,2 "$dir/host_key.pub")" >"$dir/known_hosts"
    # What docker (the command, and docker-py's ssh client) runs as `ssh`: this one.
    printf '#!/bin/sh\nexec %s -F %s "$@"\n' "$(command -v ssh)" "$dir/ssh_config" >"$dir/bin/ssh"
    chmod +x "$dir/bin/ssh"
    nsenter --net="/var/run/netns/$NS" /usr/sbin/sshd -f "$dir/sshd_config"
    echo "ssh://root@$ENGINE_ADDRESS:$SSH_PORT"
}

down_quietly() {
    stop_recorded "$ROOT/sshd.pid" sshd
    stop_recorded "$ROOT/dockerd.pid" "$ROOT"
    pkill -f "$ROOT/exec/containerd" 2>/dev/null || true
    # Each rule as often as it is there (an interrupted `up` may have added some twice).
    while iptables -D "${FORWARD_OUT[@]}" 2>/dev/null; do :; done
    while iptables -D "${FORWARD_BACK[@]}" 2>/dev/null; do :; done
    while iptables -t nat -D "${MASQUERADE[@]}" 2>/dev/null; do :; done
    ip link delete "$HOST_SIDE" 2>/dev/null || true
    ip netns delete "$NS" 2>/dev/null || true
    unmount_and_remove "$ROOT"
}

case ${1:-} in
    up) up ;;
    ssh) ssh_up "${2:?usage: $0 ssh DIR}" ;;
    down) down_quietly ;;
    *) say "usage: $0 up | ssh DIR | down"; exit 2 ;;
esac
