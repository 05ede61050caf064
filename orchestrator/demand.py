"""What a run's processes ask of its stack besides its brokers: the database, browser, workers.

A stack starts with its brokers alone. Each process of a run says what its
selected tests use (the database server, a worker container for its slice, the
browser) as files in
the run's directory, since an xdist run's processes are separate programs. A
start in progress launches each of them as soon as it is asked for, so that it
boots beside the servers; one asked for after the start is done is started by
the process that needs it (``Attachment.ensure_database``, ``ensure_worker``,
``ensure_browser``). A worker needs the database: asking for one asks for both.

A run that ends before it needs its stack calls off a start made in the background
(:class:`StartGate`), if that start has launched no container yet.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path

from orchestrator.errors import OrchestratorError

BROWSER = "browser"
DATABASE = "database"  # the stack's own database server (PostgreSQL), when it runs one
WORKER_PREFIX = "worker-"


def worker_want(slice_name: str) -> str:
    """What a process asks for when its tests use its slice's worker."""
    return f"{WORKER_PREFIX}{slice_name}"


def launch_order(wants: Iterable[str]) -> list[str]:
    """``wants`` with what they imply (a worker: the database), in the order to launch
    them: the database before the workers that depend on it."""
    wanted = set(wants)
    if any(want.startswith(WORKER_PREFIX) for want in wanted):
        wanted.add(DATABASE)
    return sorted(wanted, key=lambda want: (want != DATABASE, want))


class Demand:
    """The wants of a run: those fixed at creation and those its processes add.

    ``directory`` holds one empty file per want (None: only the fixed ones).
    """

    def __init__(self, directory: Path | None = None, fixed: Iterable[str] = ()) -> None:
        self.directory = directory
        self.fixed = frozenset(fixed)

    def __repr__(self) -> str:
        return f"Demand({', '.join(sorted(self.wanted())) or 'servers only'})"

    def want(self, *wants: str) -> None:
        """Ask for ``wants`` (seen by a start in progress in any process of the run)."""
        if self.directory is None or not wants:
            return
        self.directory.mkdir(mode=0o700, exist_ok=True)
        for want in wants:
            (self.directory / want).touch()

    def want_database(self) -> None:
        self.want(DATABASE)

    def want_browser(self) -> None:
        self.want(BROWSER)

    def want_worker(self, slice_name: str) -> None:
        self.want(worker_want(slice_name))

    def wanted(self) -> frozenset[str]:
        if self.directory is None:
            return self.fixed
        try:
            return self.fixed | frozenset(os.listdir(self.directory))
        except FileNotFoundError:
            return self.fixed


class StartCancelled(OrchestratorError):
    """The run ended before its stack was needed, and before any container was launched."""


class StartGate:
    """Lets a run call off a stack start (in the background) that launched no container yet."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._called_off = False
        self._launched = False

    def launch(self) -> None:
        """Called by the start just before it launches containers; raises if called off."""
        with self._lock:
            if self._called_off:
                raise StartCancelled("the run ended before it needed its stack; nothing started")
            self._launched = True

    def call_off(self) -> bool:
        """Call the start off; return whether it launched containers already (then the
        caller waits for it to finish, and removes the stack)."""
        with self._lock:
            self._called_off = True
            return self._launched
