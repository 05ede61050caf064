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
exec "$@"
