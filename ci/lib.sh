# shellcheck shell=bash
# Shell functions the engine scripts share (ci/remote-engine.sh, ci/podman-engine.sh):
# sourced, never run. They expect `say` (a message on stderr) to be defined.

# need COMMAND... -- PACKAGE...: install Debian's PACKAGEs (as root) unless every
# COMMAND (a name on PATH, or an executable path) is there already.
need() {
    local commands=() missing=""
    while [ "$1" != "--" ]; do commands+=("$1"); shift; done
    shift
    for command in "${commands[@]}"; do
        if ! command -v "$command" >/dev/null 2>&1; then missing=$command; fi
    done
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        say "needs $missing (Debian: $*), as root"
        exit 1
    fi
    say "installing Debian's $*"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# stop_recorded PIDFILE MARK: stop the process PIDFILE names (TERM, up to 30 s, then
# KILL) when its command line holds MARK: a pid file can outlive its process, and the
# pid be another's by then.
stop_recorded() {
    local pid
    [ -f "$1" ] || return 0
    pid=$(cat "$1")
    rm -f "$1"
    if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2"; then
        return 0
    fi
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || return 0; sleep 1; done
    kill -9 "$pid" 2>/dev/null || true
}

# unmount_and_remove DIR: what an engine mounted under DIR (overlay layers, shm), then DIR.
unmount_and_remove() {
    grep -o " $1/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$1"
}
