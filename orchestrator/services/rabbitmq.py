"""RabbitMQ: the Celery broker.

The default user, password and vhost are set through the official image's
environment variables, which docker/rabbitmq honours as well.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote

from orchestrator.probes import AmqpLogin
from orchestrator.spec import ServiceSpec

NAME = "rabbitmq"
PORT = 5672


def rabbitmq_spec(
    image: str, user: str, password: str, vhost: str, startup_timeout: float
) -> ServiceSpec:
    return ServiceSpec(
        name=NAME,
        image=image,
        env={
            "RABBITMQ_DEFAULT_USER": user,
            "RABBITMQ_DEFAULT_PASS": password,
            "RABBITMQ_DEFAULT_VHOST": vhost,
        },
        ports=(PORT,),
        probe=AmqpLogin(NAME, user, password, vhost, PORT),
        startup_timeout=startup_timeout,
        hint="the image must honour RABBITMQ_DEFAULT_USER/_PASS/_VHOST like the official one",
    )


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
