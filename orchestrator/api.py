"""The engine's one face: everything the pytest layer (``fixtures/``) uses of it.

``fixtures/`` imports this module, :mod:`orchestrator.config` and
:mod:`orchestrator.errors`, nothing else of the engine. It gets a run's stack
with :func:`open_run_stack` (start or attach), ends it with :func:`finish_run`,
and works through a :class:`StackSlice`: the process's slice of the stack, with
its endpoints, its per-test reset, its worker, the browser's WebDriver URL, the
containers' logs. The mapping of endpoints to Django and Celery settings is
:mod:`orchestrator.django_settings`, re-exported here.
"""

from __future__ import annotations

import functools
import importlib
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from orchestrator import THREAD_PREFIX
from orchestrator.cleaning import SliceCleaner
from orchestrator.config import Config
from orchestrator.demand import Demand, StartCancelled, StartGate
from orchestrator.django_settings import (
    celery_app_settings,
    celery_environment,
    database_settings,
    django_settings,
)
from orchestrator.errors import OrchestratorError
from orchestrator.owner import owner_id
from orchestrator.plan import Endpoints
from orchestrator.services import SERVICES, browser
from orchestrator.services.base import HOST_ALIAS, MaskedURL, Slice, is_worker, redact
from orchestrator.state import StateDir

if TYPE_CHECKING:
    from orchestrator.attachment import Attachment
    from orchestrator.deathwatch import Death, DeathWatch
    from orchestrator.faults import Faults

# Where these names live: modules that import docker-py (~0.2 s with requests and
# paramiko), loaded when a run first uses the engine, so that a session with no test
# that needs the stack (the fast layer) never imports it.
_ENGINE_NAMES = {
    "Attachment": "orchestrator.attachment",
    "Death": "orchestrator.deathwatch",
    "DeathWatch": "orchestrator.deathwatch",
    "Faults": "orchestrator.faults",
}


def __getattr__(name: str) -> Any:
    module = _ENGINE_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "HOST_ALIAS",
    "THREAD_PREFIX",
    "Attachment",
    "Death",
    "DeathWatch",
    "Demand",
    "Endpoints",
    "Faults",
    "MaskedURL",
    "StackSlice",
    "StartCancelled",
    "StartGate",
    "celery_app_settings",
    "celery_environment",
    "claim_slice",
    "database_settings",
    "django_settings",
    "finish_run",
    "live_server_address",
    "open_run_stack",
    "owner_id",
    "redact",
    "run_has_stack",
    "save_run_logs",
    "sqlite_database",
]


def open_run_stack(
    config: Config,
    run_dir: Path,
    owner: str,
    keep: bool,
    log: Callable[[str], None],
    slices: Sequence[str],
    gate: StartGate | None = None,
    demand: Demand | None = None,
) -> Attachment:
    """Attach to the kept stack or the run's stack, or start one (see :mod:`lifecycle`)."""
    from orchestrator import lifecycle
    from orchestrator.engine import connect

    client = connect()
    return lifecycle.open_stack(client, config, run_dir, owner, keep, log, slices, gate, demand)


def finish_run(run_dir: Path) -> bool:
    """Stop the run's own stack (never a kept one); return whether there was one. The
    engine's errors are raised as :class:`OrchestratorError`."""
    if not run_has_stack(run_dir):
        return False
    from docker.errors import DockerException

    from orchestrator import lifecycle
    from orchestrator.engine import connect

    try:
        return lifecycle.finish_run(connect(), run_dir)
    except DockerException as error:
        raise OrchestratorError(str(error)) from error


def run_has_stack(run_dir: Path) -> bool:
    """Whether the run recorded a stack of its own (it may have attached to a kept one)."""
    return StateDir(run_dir, create=False).file.exists()


def save_run_logs(run_dir: Path, directory: Path) -> list[Path]:
    """Save the whole log of each container of the run's own stack under ``directory``.
    The engine's errors are raised as :class:`OrchestratorError`."""
    if not run_has_stack(run_dir):
        return []
    from docker.errors import DockerException

    from orchestrator import lifecycle
    from orchestrator.engine import connect

    try:
        return lifecycle.save_run_logs(connect(), run_dir, directory)
    except DockerException as error:
        raise OrchestratorError(str(error)) from error


@functools.cache
def live_server_address() -> str:
    """Where a live server for the browser container should listen: only the address the
    containers reach this machine at, when that is this machine's; else every interface
    (a Podman that maps ``host-gateway`` itself may choose another of this machine's
    addresses). Asked of the engine once per process."""
    from orchestrator.engine import connect, host_gateway, podman_of

    client = connect()
    try:
        podman = podman_of(client)
        if podman is not None and (podman.rootless or podman.version >= (4, 7)):
            return "0.0.0.0"
        return host_gateway(client) or "0.0.0.0"
    finally:
        client.close()


def sqlite_database(config: Config, slice_name: str) -> Path:
    """The SQLite file of a slice's test database (``database = "sqlite"``)."""
    from orchestrator.config import database_dir

    return database_dir(config) / f"{slice_name}.sqlite3"


def claim_slice(config: Config, slice_name: str) -> IO[str]:
    """Hold the slice's test database for this process, until it exits (the lock of an
    open file); raise one line when another run in this checkout holds it."""
    from orchestrator.config import database_dir
    from orchestrator.state import HELD_SLICES, try_lock, unwritable

    directory = database_dir(config)
    path = directory / f"{slice_name}.lock"
    with unwritable(directory):
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle = open(path, "a")  # noqa: SIM115 (held until exit)
    if not try_lock(handle):
        handle.close()
        raise OrchestratorError(
            f"another test run in this checkout is using slice {slice_name!r} (its test "
            f"database {directory / slice_name}.*): wait for it to end, or give this run a "
            "state directory of its own (ORCHESTRATOR_STATE_DIR=...)"
        )
    HELD_SLICES[path] = handle
    return handle


class StackSlice:
    """One process's slice of a stack: its endpoints, reset, worker, and the shared services."""

    def __init__(self, attachment: Attachment, name: str) -> None:
        self.attachment = attachment
        self.slice: Slice = attachment.ensure_slice(name)
        plan = attachment.plan
        self.endpoints = plan.endpoints(attachment.stack.locate, self.slice)
        self.internal_endpoints = plan.internal_endpoints(self.slice)
        self._cleaner = SliceCleaner(plan.cleaners(self.endpoints, self.slice))
        self._worker_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"StackSlice({self.slice.name} of stack {self.attachment.stack.id})"

    @property
    def name(self) -> str:
        return self.slice.name

    @property
    def stack_id(self) -> str:
        return self.attachment.stack.id

    @property
    def kept(self) -> bool:
        """Whether the stack outlives the run (started by this run or another)."""
        return self.attachment.kept

    @property
    def mode(self) -> str:
        """How this process got the stack: ``started``, ``attached`` or ``kept``."""
        return self.attachment.mode

    def container_ids(self) -> dict[str, str]:
        return self.attachment.stack.container_ids()

    @property
    def headed(self) -> bool:
        return self.attachment.headed

    def role(self, role: str) -> str:
        """The service a role is bound to (``rabbitmq``, ``redis``, ``postgres``, ``sqlite``...)."""
        return self.attachment.plan.bindings[role].service

    @property
    def uses_existing_servers(self) -> bool:
        """Whether a role points at a server the project runs (named by URL)."""
        return any(b.url for b in self.attachment.plan.bindings.values())

    def role_is_managed(self, role: str) -> bool:
        """Whether the stack runs the role's server (not a server named by URL)."""
        return self.attachment.plan.bindings[role].managed

    def reset(self) -> None:
        """Empty the slice: queues purged, results, channel layer and cache keys deleted."""
        self._cleaner.reset()

    def close(self) -> None:
        self._cleaner.close()

    def ensure_worker(self) -> str:
        """The slice's worker container, started if needed (a dead one is replaced);
        returns its Celery node name. One thread at a time (a test waits for a start
        begun in the background)."""
        with self._worker_lock:
            if self.worker_problem():
                self.attachment.stack.drop(self.worker_name)
            return self.attachment.ensure_worker(self.slice)

    @property
    def worker_name(self) -> str:
        return self.slice.worker_name

    def worker_id(self) -> str:
        """The id of the slice's worker container ('' before it is started)."""
        if self.worker_name not in self.attachment.stack.services():
            return ""
        return str(self.attachment.stack.container(self.worker_name).id)

    def watch_deaths(self, on_death: Callable[[Death], None]) -> DeathWatch:
        """Follow the deaths of the stack's servers and of this slice's worker: each one
        stackyard did not cause is passed to ``on_death`` (from another thread) as the
        engine reports it, until the watch is closed."""
        from orchestrator.deathwatch import DeathWatch

        return DeathWatch(self.attachment.stack, self.own_services, on_death).start()

    def own_services(self) -> list[str]:
        """The stack's services this process uses: the servers and its own worker."""
        names = self.attachment.stack.services()
        return [n for n in names if not is_worker(n) or n == self.worker_name]

    def worker_problem(self) -> str:
        """Why the slice's worker container cannot take work ('' when it runs): it exited
        (with its code and when), or is gone."""
        name = self.worker_name
        if name not in self.attachment.stack.services():
            return ""  # not started yet: the worker fixture starts it
        from docker.errors import NotFound

        from orchestrator.waiting import describe_state

        container = self.attachment.stack.container(name)
        try:
            container.reload()
        except NotFound:
            return f"the worker container {name} is gone (removed by hand?)"
        if container.status == "running":
            return ""
        finished = str(container.attrs.get("State", {}).get("FinishedAt", ""))[11:19]
        return (
            f"the worker container {name} {describe_state(container)} at {finished} UTC, "
            "after an earlier test (its log is in artifacts/containers after a failed run)"
        )

    def database(self) -> dict[str, Any]:
        """The ``DATABASES`` entry of the slice's test database, as this process reaches it
        (the stack's database server started if it is not yet)."""
        if not self.endpoints.database_url:
            self.attachment.ensure_database()
            attachment = self.attachment
            self.endpoints = attachment.plan.endpoints(attachment.stack.locate, self.slice)
        return database_settings(self.endpoints.database_url)

    def spare_database(self) -> str | None:
        """A database the slice's test database can be renamed from, made ahead of time
        from template1 (a kept stack's own PostgreSQL server), or None."""
        return self.attachment.spare_database(self.slice)

    def make_spare_database(self) -> None:
        """Make the slice's spare for the next run (nothing raised: without one, the
        test database is created as usual)."""
        self.attachment.make_spare_database(self.slice)

    def container(self, service: str) -> Any:
        """A container of the stack (the docker-py object), for pytest-celery's nodes."""
        return self.attachment.stack.container(service)

    def locate(self, service: str, port: int) -> tuple[str, int]:
        return self.attachment.stack.locate(service, port)

    def address(self, service: str) -> tuple[str, int]:
        """Where this process reaches a service of the stack (its main port)."""
        return self.locate(service, SERVICES[service].port)

    def faults(self, on_back: Callable[[str], None] | None = None) -> Faults:
        """Faults this slice's tests may cause: restart, kill, pause or cut off a server,
        kill the slice's worker mid-task (see :mod:`orchestrator.faults`). ``on_back``
        is called with a server's name each time it is ready again after a stop."""
        from orchestrator.faults import Faults

        return Faults(self.attachment, self.slice, on_back)

    def webdriver_url(self) -> str:
        """The browser's WebDriver endpoint, the browser started on first use."""
        self.attachment.ensure_browser()
        host, port = self.locate(browser.NAME, browser.PORT)
        return browser.webdriver_url(host, port)

    def services(self) -> list[str]:
        return self.attachment.stack.services()

    def logs(self, service: str, tail: int) -> str:
        return self.attachment.stack.logs(service, tail=tail)

    def timings(self) -> list[dict[str, Any]]:
        """Per service: image time, start-to-ready time, and how this process got it."""
        attachment = self.attachment
        rows = []
        for service in self.own_services():
            report = attachment.images.get(service.partition("-")[0])
            rows.append(
                {
                    "service": service,
                    "image": report.seconds if report else 0.0,
                    "ready": attachment.stack.timings.get(service, attachment.seconds),
                    "how": "started" if service in attachment.stack.timings else attachment.mode,
                }
            )
        return rows
