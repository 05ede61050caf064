"""Empty one slice of a stack between tests, over connections kept open (about a millisecond).

The services say what a reset is (:meth:`orchestrator.services.base.Service.cleaner`);
these are the two kinds they use: purging the worker's queues on a broker
(any transport kombu speaks), and deleting keys by pattern in one Redis
database, never the whole database, so that a server the project already runs
keeps its other data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestrator.services.base import Cleaner


class QueuePurge:
    """Drops the messages waiting in the slice's queues on its broker."""

    def __init__(self, url: str, queues: Sequence[str]) -> None:
        self.url = url
        self.queues = list(queues)
        self._broker = self._connect()
        self._channel: Any = None

    def _connect(self) -> Any:
        from kombu.connection import Connection

        return Connection(self.url, connect_timeout=5)  # type: ignore[no-untyped-call]

    def reset(self) -> None:
        try:
            for queue in self.queues:
                self._purge(queue)
        except self._broker.connection_errors:
            # The broker restarted since (a test's fault): once more, on a new connection.
            self._broker.release()
            self._broker, self._channel = self._connect(), None
            for queue in self.queues:
                self._purge(queue)

    def _purge(self, queue: str) -> None:
        if self._channel is None:
            self._channel = self._broker.channel()
        try:
            self._channel.queue_purge(queue)
        except self._broker.channel_errors:
            self._channel = None  # the queue does not exist yet; the broker closed the channel

    def close(self) -> None:
        self._broker.release()


class RedisKeys:
    """Deletes the keys matching ``patterns`` in the URL's database."""

    def __init__(self, url: str, patterns: Sequence[str]) -> None:
        from redis import Redis

        self.patterns = list(patterns)
        self._client = Redis.from_url(url, socket_timeout=5)

    def reset(self) -> None:
        from redis.exceptions import ConnectionError as Disconnected

        try:
            self._delete()
        except Disconnected:  # Redis restarted since; the client connects again
            self._delete()

    def _delete(self) -> None:
        for pattern in self.patterns:
            stale = list(self._client.scan_iter(match=pattern, count=1000))
            if stale:
                self._client.delete(*stale)

    def close(self) -> None:
        self._client.close()


class SliceCleaner:
    """All of a slice's resets, run before each test."""

    def __init__(self, cleaners: Sequence[Cleaner]) -> None:
        self.cleaners = list(cleaners)

    def reset(self) -> None:
        for cleaner in self.cleaners:
            cleaner.reset()

    def close(self) -> None:
        for cleaner in self.cleaners:
            cleaner.close()
