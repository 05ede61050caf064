#!/bin/sh
# Write rabbitmq.conf from the official image's environment variables, then run the command.
set -eu
conf=/etc/rabbitmq/rabbitmq.conf
{
    echo "default_user = ${RABBITMQ_DEFAULT_USER:-guest}"
    echo "default_pass = ${RABBITMQ_DEFAULT_PASS:-guest}"
    echo "default_vhost = ${RABBITMQ_DEFAULT_VHOST:-/}"
    # The user connects from outside the container, so not only over loopback.
    echo "loopback_users = none"
    echo "listeners.tcp.default = 5672"
} > "$conf"
chmod 0644 "$conf"
exec "$@"
