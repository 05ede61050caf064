"""Redis: the Celery result backend and the Channels layer.

The command line is redis-server's, so the official image works as well as
docker/redis. A password is always set; nothing is persisted.
"""

from __future__ import annotations

import socket
from urllib.parse import quote

from orchestrator.probes import ATTEMPT_TIMEOUT, RedisPing, _resp_command
from orchestrator.spec import ServiceSpec

NAME = "redis"
PORT = 6379


def redis_spec(
    image: str, password: str, startup_timeout: float, databases: int = 16
) -> ServiceSpec:
    command = ("redis-server", "--requirepass", password, "--save", "", "--appendonly", "no")
    return ServiceSpec(
        name=NAME,
        image=image,
        command=(*command, "--databases", str(databases)),
        ports=(PORT,),
        probe=RedisPing(NAME, password, PORT),
        startup_timeout=startup_timeout,
        hint="the image must run redis-server with the given arguments (command line of the "
        "official redis image)",
    )


def redis_url(host: str, port: int, password: str, db: int = 0) -> str:
    return f"redis://:{quote(password, safe='')}@{host}:{port}/{db}"


def flush(address: tuple[str, int], password: str, db: int | None = None) -> None:
    """Empty one database (``FLUSHDB``) or all of them (``FLUSHALL``)."""
    commands = _resp_command("AUTH", password)
    if db is None:
        commands += _resp_command("FLUSHALL")
    else:
        commands += _resp_command("SELECT", str(db)) + _resp_command("FLUSHDB")
    expected = 2 if db is None else 3
    with socket.create_connection(address, ATTEMPT_TIMEOUT * 5) as sock:
        sock.sendall(commands)
        replies = b""
        while replies.count(b"\r\n") < expected:
            chunk = sock.recv(256)
            if not chunk:
                break
            replies += chunk
    if any(not reply.startswith(b"+") for reply in replies.split(b"\r\n")[:expected]):
        raise RuntimeError(f"redis flush failed: {replies!r}")
