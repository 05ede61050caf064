#!/bin/sh
# Write rabbitmq.conf from the official image's environment variables, then run the command.
# STACKYARD_RABBITMQ_DEFINITIONS (JSON: users, vhosts, permissions), when set, is loaded as
# the node boots, so that the vhosts exist when it first accepts connections.
set -eu
conf=/etc/rabbitmq/rabbitmq.conf
definitions=/etc/rabbitmq/stackyard-definitions.json
{
    echo "default_user = ${RABBITMQ_DEFAULT_USER:-guest}"
    echo "default_pass = ${RABBITMQ_DEFAULT_PASS:-guest}"
    echo "default_vhost = ${RABBITMQ_DEFAULT_VHOST:-/}"
    # The user connects from outside the container, so not only over loopback.
    echo "loopback_users = none"
    echo "listeners.tcp.default = 5672"
    if [ -n "${STACKYARD_RABBITMQ_DEFINITIONS:-}" ]; then
        echo "load_definitions = $definitions"
    fi
} > "$conf"
chmod 0644 "$conf"
if [ -n "${STACKYARD_RABBITMQ_DEFINITIONS:-}" ]; then
    printf '%s\n' "$STACKYARD_RABBITMQ_DEFINITIONS" > "$definitions"
    chmod 0644 "$definitions"
fi
if [ "${1:-}" = rabbitmq-server ] && [ "$(id -u)" = 0 ]; then
    # Debian's /usr/sbin/rabbitmq-server runs the server under `su`, a shell that stays
    # PID 1 and ignores SIGTERM (a stop then waits for Docker's SIGKILL). The server's own
    # script, run in its place as the rabbitmq user, stops the node on SIGTERM.
    shift
    cd /var/lib/rabbitmq
    export HOME=/var/lib/rabbitmq
    exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups \
        /usr/lib/rabbitmq/bin/rabbitmq-server "$@"
fi
exec "$@"
