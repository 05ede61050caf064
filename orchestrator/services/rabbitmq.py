"""RabbitMQ: the Celery broker.

The default user, password and vhost are set through the official image's
environment variables, which docker/rabbitmq honours as well.

The slices' vhosts can be made at boot: docker/rabbitmq loads the definitions
(user, vhosts, permissions) given in ``STACKYARD_RABBITMQ_DEFINITIONS``, which
costs the boot nothing, where ``rabbitmqctl`` after it costs ~0.9 s of CPU per
vhost. An image that ignores the variable (the official one) is given the vhosts
it lacks with ``rabbitmqctl`` once it is ready.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from urllib.parse import quote

from orchestrator.probes import AmqpLogin
from orchestrator.spec import ServiceSpec

NAME = "rabbitmq"
PORT = 5672
DEFINITIONS_ENV = "STACKYARD_RABBITMQ_DEFINITIONS"
# RabbitMQ's boot (~4 s of CPU in the Erlang VM) is what every first test waits for, and
# it runs while the worker containers import the project: eight times the default CPU
# weight lets it go first when the containers compete for the cores (bench/sharing.py:
# cold -n 2 / -n 0 went from 1.16x to 1.07x on 2 cores).
CPU_SHARES = 8192


def rabbitmq_spec(
    image: str,
    user: str,
    password: str,
    vhost: str,
    startup_timeout: float,
    boot_vhosts: Sequence[str] = (),
) -> ServiceSpec:
    env = {
        "RABBITMQ_DEFAULT_USER": user,
        "RABBITMQ_DEFAULT_PASS": password,
        "RABBITMQ_DEFAULT_VHOST": vhost,
    }
    if boot_vhosts:
        env[DEFINITIONS_ENV] = json.dumps(definitions(user, password, [vhost, *boot_vhosts]))
    return ServiceSpec(
        name=NAME,
        image=image,
        env=env,
        options={"cpu_shares": CPU_SHARES},
        ports=(PORT,),
        probe=AmqpLogin(NAME, user, password, vhost, PORT),
        startup_timeout=startup_timeout,
        hint="the image must honour RABBITMQ_DEFAULT_USER/_PASS/_VHOST like the official one",
    )


def password_hash(password: str, salt: bytes | None = None) -> str:
    """RabbitMQ's ``rabbit_password_hashing_sha256``: base64(salt + sha256(salt + password))."""
    salt = os.urandom(4) if salt is None else salt
    digest = hashlib.sha256(salt + password.encode()).digest()
    return base64.b64encode(salt + digest).decode()


def definitions(user: str, password: str, vhosts: Sequence[str]) -> dict[str, object]:
    """Definitions that give ``user`` (an administrator) every right on each of ``vhosts``."""
    return {
        "users": [
            {
                "name": user,
                "password_hash": password_hash(password),
                "hashing_algorithm": "rabbit_password_hashing_sha256",
                "tags": ["administrator"],
            }
        ],
        "vhosts": [{"name": vhost} for vhost in vhosts],
        "permissions": [
            {"user": user, "vhost": vhost, "configure": ".*", "write": ".*", "read": ".*"}
            for vhost in vhosts
        ],
    }


def amqp_url(host: str, port: int, user: str, password: str, vhost: str) -> str:
    credentials = f"{quote(user, safe='')}:{quote(password, safe='')}"
    return f"amqp://{credentials}@{host}:{port}/{quote(vhost, safe='')}"


def purge(url: str, queues: Iterable[str]) -> int:
    """Drop the messages waiting in ``queues`` (missing queues are skipped); return how many."""
    from kombu.connection import Connection

    dropped = 0
    with Connection(url, connect_timeout=5) as connection:  # type: ignore[no-untyped-call]
        channel = connection.default_channel
        for queue in queues:
            try:
                dropped += channel.queue_purge(queue) or 0
            except connection.channel_errors:
                channel = connection.channel()  # a missing queue closes the channel
    return dropped
