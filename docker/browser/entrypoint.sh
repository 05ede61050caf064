#!/bin/sh
# Headless by default. STACKYARD_HEADED=1: a virtual display, shared over VNC and noVNC.
set -eu
if [ "${STACKYARD_HEADED:-0}" = 1 ]; then
    export DISPLAY=:99
    Xvfb "$DISPLAY" -screen 0 1280x900x24 -nolisten tcp >/tmp/xvfb.log 2>&1 &
    tries=0
    until [ -e /tmp/.X11-unix/X99 ] || [ "$tries" -ge 200 ]; do  # at most 10 s
        tries=$((tries + 1))
        sleep 0.05
    done
    mkdir -p /tmp/vnc
    x11vnc -storepasswd "${VNC_PASSWORD:?VNC_PASSWORD must be set in headed mode}" /tmp/vnc/passwd >/dev/null 2>&1
    x11vnc -display "$DISPLAY" -rfbport 5900 -rfbauth /tmp/vnc/passwd -forever -shared \
        -wait 50 -quiet >/tmp/x11vnc.log 2>&1 &
    websockify --web /usr/share/novnc 7900 localhost:5900 >/tmp/novnc.log 2>&1 &
fi
# chromedriver lets in its own loopback and the addresses of --allowed-ips: here the
# default gateway, the engine's side of the container's network, from which published
# ports are forwarded, and on a remote engine the test machine's address, from which
# they are reached (STACKYARD_CLIENT_ADDRESS). Other containers of the network are
# refused; so are pages the browser opens (no --allowed-origins), except on a remote
# engine: its requests name the engine's address as their Host, which chromedriver
# takes only with --allowed-origins (the addresses above still bound who connects).
gateway() {
    while read -r _ destination hex _; do
        if [ "$destination" = 00000000 ]; then
            # /proc/net/route holds it as little-endian hexadecimal.
            printf '%d.%d.%d.%d' "0x$(echo "$hex" | cut -c7-8)" "0x$(echo "$hex" | cut -c5-6)" \
                "0x$(echo "$hex" | cut -c3-4)" "0x$(echo "$hex" | cut -c1-2)"
            return
        fi
    done </proc/net/route
}
if [ "$(basename "$1")" = chromedriver ]; then
    case " $* " in
        *" --allowed-ips"*) ;;
        *) set -- "$@" "--allowed-ips=$(gateway)${STACKYARD_CLIENT_ADDRESS:+,$STACKYARD_CLIENT_ADDRESS}" ;;
    esac
    if [ -n "${STACKYARD_CLIENT_ADDRESS:-}" ]; then
        case " $* " in
            *" --allowed-origins"*) ;;
            *) set -- "$@" "--allowed-origins=*" ;;
        esac
    fi
fi
exec "$@"
