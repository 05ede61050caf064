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
exec "$@"
