"""Redis: the Celery result backend, the Channels layer, and optionally the broker and cache.

The command line is redis-server's, so the official image works as well as
docker/redis. A password is always set; nothing is persisted.

Every role of a slice lives in the slice's own database (its number), kept
apart inside it by key names: Celery's ``celery-task-meta-*`` results, kombu's
queues and bindings (its fanout channels carry the database number), the
Channels layer's prefix and the cache's key prefix. Pub/sub ignores database
numbers; the Channels prefix is what keeps slices apart there. A reset deletes
only those keys, never a whole database, so a server the project already runs
keeps its other data.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from orchestrator.errors import OrchestratorError
from orchestrator.probes import RedisPing
from orchestrator.services.base import Cleaner, Exec, Server, Service, Slice, redact
from orchestrator.spec import ServiceSpec

NAME = "redis"
PORT = 6379
# Slices take databases 1, 2, ...; a stack's own server has this many.
DATABASES = 64
# Celery's result backend keys: task results, group results, chord counters.
RESULT_KEYS = ("celery-task-meta-*", "celery-taskset-meta-*", "chord-unlock-*")


def redis_url(host: str, port: int, password: str, db: int = 0, user: str = "") -> str:
    return f"redis://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/{db}"


def cache_prefix(slice_: Slice) -> str:
    return f"stackyard-cache-{slice_.name}"


class Redis(Service):
    name = NAME
    port = PORT
    registry_image = "redis:7.2"
    roles = ("broker", "results", "channel_layer", "cache")
    schemes = ("redis", "rediss")

    def credentials(self) -> dict[str, str]:
        return {"password": secrets.token_urlsafe(24)}

    def spec(
        self,
        image: str,
        credentials: Mapping[str, str],
        startup_timeout: float,
        slices: Sequence[Slice],
    ) -> ServiceSpec:
        password = credentials["password"]
        command = ("redis-server", "--requirepass", password, "--save", "", "--appendonly", "no")
        return ServiceSpec(
            name=NAME,
            image=image,
            command=(*command, "--databases", str(DATABASES)),
            ports=(PORT,),
            probe=RedisPing(NAME, password, PORT),
            startup_timeout=startup_timeout,
            hint="the image must run redis-server with the given arguments (command line of the "
            "official redis image)",
        )

    def url(self, role: str, server: Server, slice_: Slice) -> str:
        url = redis_url(server.host, server.port, server.password, slice_.number, server.user)
        return url.replace("redis://", f"{server.scheme or 'redis'}://", 1)

    def details(self, role: str, slice_: Slice) -> dict[str, Any]:
        if role == "channel_layer":
            return {"prefix": slice_.prefix}
        if role == "cache":
            return {"prefix": cache_prefix(slice_)}
        return {}

    def provision(self, server: Server, slices: Sequence[Slice], run: Exec | None) -> None:
        """An existing server must have a database for each slice (the default is 16)."""
        if server.managed or not slices:
            return
        from redis import Redis as Client
        from redis.exceptions import RedisError

        highest = max(slice_.number for slice_ in slices)
        url = self.url("results", server, Slice("check", highest))
        try:
            with Client.from_url(url, socket_timeout=5, socket_connect_timeout=5) as client:
                client.ping()
        except RedisError as error:
            raise OrchestratorError(
                f"the Redis server {redact(url)} does not serve database {highest} "
                f"(one per test process): {error}; start it with --databases {DATABASES}, "
                "or run fewer xdist workers"
            ) from None

    def cleaner(self, role: str, url: str, slice_: Slice, queues: Sequence[str]) -> Cleaner | None:
        from orchestrator.cleaning import QueuePurge, RedisKeys

        if role == "broker":
            return QueuePurge(url, queues)
        patterns = {
            "results": RESULT_KEYS,
            "channel_layer": (f"{slice_.prefix}*",),
            "cache": (f"{cache_prefix(slice_)}:*",),
        }[role]
        return RedisKeys(url, patterns)


SERVICE = Redis()
