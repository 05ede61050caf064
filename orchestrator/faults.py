"""Faults a test causes on purpose: a service restarted, killed, paused or cut off, a worker
killed mid-task.

Each operation acts on the container of one of the stack's services, named by its
service (``rabbitmq``, ``redis``, ``postgres``) or by a role (``broker``,
``results``, ``channel_layer``, ``cache``, ``database``), or on the slice's own
worker, and returns once the service is ready again (its readiness probe passes),
within the service's start-up bound. Ports are fixed for the life of the stack
(:meth:`orchestrator.stack.Stack._create`), so clients reconnect where they were;
credentials do not change; what a service keeps across a restart is what it keeps
on its own disk (RabbitMQ's durable queues and persistent messages; nothing for
stackyard's Redis, which persists nothing).

The servers are shared by every process of the run (its xdist workers): a fault
on one of them is felt by all, so tests that restart, kill, pause or cut off a
server belong in a session of their own (``-p no:xdist``, or a run of their own).
The worker is the slice's own: killing it touches no other process.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from docker.errors import DockerException

from orchestrator.attachment import Attachment
from orchestrator.errors import OrchestratorError
from orchestrator.services.base import ROLES, Slice, is_worker

STOP_TIMEOUT = 10  # seconds a service has to stop on SIGTERM before SIGKILL


class Faults:
    """The faults one slice's tests may cause (see the module docstring)."""

    def __init__(
        self,
        attachment: Attachment,
        slice_: Slice,
        on_back: Callable[[str], None] | None = None,
    ) -> None:
        self.attachment = attachment
        self.slice = slice_
        # Told the service's name each time one is ready again after a stop: a client
        # that holds connections to it (the test process's database) drops them there.
        self.on_back = on_back
        self._down: set[str] = set()  # killed and not started again
        self._worker_down = False

    def restore(self) -> None:
        """Bring back what a test left down (its servers, then the slice's worker), so the
        next test finds the stack whole."""
        for name in sorted(self._down):
            self.start(name)
        if self._worker_down:
            self.start_worker()

    def service(self, target: str) -> str:
        """The stack's service ``target`` names: a service, or a role bound to one."""
        if target in ROLES:
            binding = self.attachment.plan.bindings[target]
            if not binding.managed:
                raise OrchestratorError(
                    f"the {target} role is bound to {binding!r}, not to a server of the stack: "
                    "stackyard causes faults only on the containers it runs"
                )
            target = binding.service
        if target == self.attachment.plan.database_server:
            self.attachment.ensure_database()  # started on demand: maybe not yet
        servers = [s for s in self.attachment.stack.services() if not is_worker(s)]
        if target not in servers:
            raise OrchestratorError(
                f"no server {target!r} on the stack (servers: {', '.join(sorted(servers))}); "
                "the slice's own worker is kill_worker()/start_worker()"
            )
        return target

    def restart(self, target: str) -> float:
        """Stop the service (SIGTERM, then SIGKILL after 10 s) and start it again; return
        the seconds until it was ready again."""
        name = self.service(target)
        began = time.monotonic()
        with self._stopping(name, f"restart({target!r})", until_back=True):
            self.attachment.stack.container(name).restart(timeout=STOP_TIMEOUT)
            self._back(name)
        return time.monotonic() - began

    def kill(self, target: str) -> None:
        """SIGKILL the service; it stays down until :meth:`start`."""
        name = self.service(target)
        container = self.attachment.stack.container(name)
        with self._stopping(name, f"kill({target!r})"):
            container.kill()
            container.wait(timeout=STOP_TIMEOUT)
        self._down.add(name)

    def start(self, target: str) -> float:
        """Start a killed or stopped service again; return the seconds until it was ready."""
        name = self.service(target)
        began = time.monotonic()
        with self._stopping(name, f"start({target!r})", until_back=True):
            self.attachment.stack.container(name).start()
            self._back(name)
        self._down.discard(name)
        return time.monotonic() - began

    def _back(self, name: str) -> None:
        self.attachment.stack.wait_ready_again(name)
        if self.on_back is not None:
            self.on_back(name)

    @contextmanager
    def _stopping(self, name: str, call: str, until_back: bool = False) -> Iterator[None]:
        """Announce the stop the block causes (the death watch does not report it); it is
        withdrawn if the block fails, or once it is done when ``until_back``."""
        stack = self.attachment.stack
        stack.expect_stop(name)
        try:
            with _engine(call):
                yield
        except BaseException:
            stack.expect_stop(name, expected=False)
            raise
        if until_back:
            stack.expect_stop(name, expected=False)

    @contextmanager
    def paused(self, target: str) -> Iterator[None]:
        """Within the block, the service is frozen: alive, its connections open, silent."""
        container = self.attachment.stack.container(self.service(target))
        with _engine(f"paused({target!r})"):
            container.pause()
        try:
            yield
        finally:
            with _engine(f"paused({target!r})"):
                container.unpause()

    @contextmanager
    def cut_off(self, target: str) -> Iterator[None]:
        """Within the block, the service is off the stack's network (the containers cannot
        reach it; its published port still answers the test process); reconnected after."""
        name = self.service(target)
        stack = self.attachment.stack
        assert stack.network is not None
        container = stack.container(name)
        with _engine(f"cut_off({target!r})"):
            stack.network.disconnect(container)
        try:
            yield
        finally:
            with _engine(f"cut_off({target!r})"):
                stack.network.connect(container, aliases=[name])

    def kill_worker(self) -> None:
        """SIGKILL the slice's worker container, whatever it is doing; :meth:`start_worker`
        replaces it."""
        name = self.slice.worker_name
        if name not in self.attachment.stack.services():
            raise OrchestratorError(
                f"kill_worker(): the slice has no worker {name} yet (request the stack_worker "
                "or stack_celery_app fixture to start it)"
            )
        container = self.attachment.stack.container(name)
        with self._stopping(name, "kill_worker()"):
            container.kill()
            container.wait(timeout=STOP_TIMEOUT)
        self._worker_down = True

    def start_worker(self) -> str:
        """A fresh worker container on the slice, ready; returns its node name."""
        self.attachment.stack.drop(self.slice.worker_name)  # the killed one, if still there
        with self._stopping(self.slice.worker_name, "start_worker()", until_back=True):
            node = self.attachment.ensure_worker(self.slice)
        self._worker_down = False
        return node


@contextmanager
def _engine(call: str) -> Iterator[None]:
    """The engine's refusal (a container already stopped, removed by hand...) as one line
    naming the call."""
    try:
        yield
    except DockerException as error:
        reason = getattr(error, "explanation", None) or str(error)
        raise OrchestratorError(f"stack_faults.{call}: the engine refused: {reason}") from None
