"""The deaths of a stack's containers, told as the engine reports them.

A container that exits while tests run (a worker OOM-killed or crashed, a server
that fell over) otherwise shows only as a later timeout or a refused connection,
in whatever test happened to wait on it. :class:`DeathWatch` follows the engine's
``die`` events of one stack's containers in a thread and hands each unexpected
death, with its exit code and time, to a callback at once.

A stop stackyard causes (a fault a test asked for, a worker restarted on new
source) is announced first with :meth:`Stack.expect_stop`; the death of a container
the stack has since removed or replaced, or of one that runs again by the time it
is told (a restart), is not news either: none of them reaches the callback.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from docker.errors import DockerException, NotFound

from orchestrator.engine import LABEL_SERVICE, LABEL_STACK, connect
from orchestrator.stack import Stack

# Bound on setting up the events' stream; once open, it waits for events until closed.
CONNECT_TIMEOUT = 30.0


@dataclass(frozen=True)
class Death:
    """One container's exit, as the engine reported it."""

    service: str
    exit_code: int
    at: datetime
    oom_killed: bool = False

    def describe(self) -> str:
        """``worker-gw0 exited with code 137 (OOM-killed) at 12:03:04 UTC``."""
        oom = " (OOM-killed)" if self.oom_killed else ""
        return f"{self.service} exited with code {self.exit_code}{oom} at {self.at:%H:%M:%S} UTC"


class DeathWatch:
    """Calls ``on_death`` (from its own thread) for each unexpected death of a container
    of ``stack`` whose service is in ``services``, until :meth:`close`."""

    def __init__(
        self,
        stack: Stack,
        services: Callable[[], Collection[str]],
        on_death: Callable[[Death], None],
    ) -> None:
        self.stack = stack
        self.services = services
        self.on_death = on_death
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._stream: Any = None
        self._client: Any = None
        self._thread = threading.Thread(
            target=self._follow, name=f"stackyard-deathwatch-{stack.id}", daemon=True
        )

    def start(self) -> DeathWatch:
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop following events; returns once the thread has ended (bounded)."""
        with self._lock:
            self._closed.set()
            stream, client = self._stream, self._client
        for closing in (stream, client):
            if closing is not None:
                with suppress(Exception):  # a stream ending meanwhile; ssh's streams
                    closing.close()
        self._thread.join(timeout=CONNECT_TIMEOUT)

    def _follow(self) -> None:
        try:
            # docker-py reads events with no timeout: the stream is quiet until something
            # dies, and close() ends it.
            client = connect(timeout=CONNECT_TIMEOUT)
            stream = client.events(
                decode=True,
                filters={
                    "type": "container",
                    "event": ["die", "oom"],
                    "label": f"{LABEL_STACK}={self.stack.id}",
                },
            )
            with self._lock:
                self._client, self._stream = client, stream
                closed = self._closed.is_set()
            if closed:  # close() came first and found nothing to close
                stream.close()
                client.close()
                return
            out_of_memory: set[str] = set()
            for event in stream:
                actor = event.get("Actor", {})
                if event.get("Action") == "oom":
                    out_of_memory.add(str(actor.get("ID")))
                    continue
                try:
                    self._told(event, actor, out_of_memory)
                except (DockerException, OSError, KeyError, ValueError):
                    continue  # this event cannot be judged (the container went meanwhile)
        except Exception as error:
            if not self._closed.is_set():
                self.stack.log(f"stopped following the stack's container deaths: {error}")
            return
        if not self._closed.is_set():  # the engine ended the stream (it restarted?)
            self.stack.log("stopped following the stack's container deaths: the engine ended it")

    def _told(self, event: dict[str, Any], actor: dict[str, Any], oom: set[str]) -> None:
        attributes = actor.get("Attributes", {})
        service = str(attributes.get(LABEL_SERVICE, ""))
        if service not in self.services() or not self._unexpected(service, actor.get("ID")):
            return
        seconds = int(event.get("timeNano", 0)) / 1e9 or float(event.get("time", 0))
        self.on_death(
            Death(
                service=service,
                exit_code=int(attributes.get("exitCode", -1)),
                at=datetime.fromtimestamp(seconds, UTC),
                oom_killed=str(actor.get("ID")) in oom,
            )
        )

    def _unexpected(self, service: str, container_id: object) -> bool:
        if self.stack.stop_expected(service):
            return False
        try:
            container = self.stack.container(service)
            if container.id != container_id:
                return False  # an earlier container of the service, replaced since
            container.reload()
        except (KeyError, NotFound):
            return False  # removed on purpose meanwhile
        return container.status != "running"  # running again: a restart
