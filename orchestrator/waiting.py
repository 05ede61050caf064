"""Wait until a service's container is ready: bounded, fast polls, fail fast on exit."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING

from docker.errors import DockerException
from docker.models.containers import Container

from orchestrator.errors import OrchestratorError, ServiceNotReady
from orchestrator.probes import Locate, NotReadyYet, Probe

if TYPE_CHECKING:
    from orchestrator.spec import Hint

# Services here become ready in 0.3-6 s; 25 ms polls add at most that much.
POLL_INTERVAL = 0.025
LOG_TAIL = 50


class Cancelled(Exception):
    """Waiting was abandoned because another service of the stack failed."""


def container_logs(container: Container, tail: int = LOG_TAIL) -> str:
    try:
        return bytes(container.logs(tail=tail)).decode(errors="replace")
    except DockerException as error:
        return f"(logs unavailable: {error})"


def describe_state(container: Container) -> str:
    """``running``, or ``exited with code 1``, ``exited with code 137 (OOM-killed)``..."""
    state = container.attrs.get("State", {})
    status = str(state.get("Status", container.status))
    if status in ("exited", "dead"):
        status += f" with code {state.get('ExitCode')}"
        if state.get("OOMKilled"):
            status += " (OOM-killed)"
    return status


def hint_text(hint: Hint, status: str, logs: str) -> str:
    """The hint for this failure (a hint may read the container's status and logs)."""
    return hint if isinstance(hint, str) else hint(status, logs)


def ran_for(container: Container) -> str:
    """How long an exited container ran (``1.3s``), from the engine's own timestamps."""
    state = container.attrs.get("State", {})
    try:
        started, finished = (
            datetime.fromisoformat(str(state[key])[:26].rstrip("Z"))
            for key in ("StartedAt", "FinishedAt")
        )
    except (KeyError, ValueError):
        return "?"
    return f"{max(0.0, (finished - started).total_seconds()):.1f}s"


def wait_until_ready(
    service: str,
    container: Container,
    probe: Probe,
    locate: Locate,
    timeout: float,
    cancel: threading.Event | None = None,
    hint: Hint = "",
) -> float:
    """Repeat ``probe`` until it passes; return the seconds it took.

    Raises :class:`ServiceNotReady` when the container stops running or the
    timeout passes, and :class:`Cancelled` when ``cancel`` is set.
    """
    started = time.monotonic()
    last_error = ""
    while True:
        container.reload()
        if container.status in ("exited", "dead"):
            status, logs = describe_state(container), container_logs(container)
            raise ServiceNotReady(
                service,
                str(probe),
                timeout,
                status,
                logs,
                reason=f"stopped after running {ran_for(container)}",
                hint=hint_text(hint, status, logs),
            )
        try:
            probe.attempt(locate)
            return time.monotonic() - started
        except (NotReadyYet, OSError, OrchestratorError) as error:
            # OrchestratorError: its ports are gone, the container is exiting;
            # the next round sees that and reports it.
            last_error = f"{type(error).__name__}: {error}"
        if time.monotonic() - started > timeout:
            status, logs = describe_state(container), container_logs(container)
            raise ServiceNotReady(
                service,
                f"{probe}; last attempt: {last_error}",
                timeout,
                status,
                logs,
                hint=hint_text(hint, status, logs),
            )
        if cancel is not None and cancel.wait(POLL_INTERVAL):
            raise Cancelled(service)
        if cancel is None:
            time.sleep(POLL_INTERVAL)
