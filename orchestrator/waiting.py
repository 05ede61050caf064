"""Wait until a service's container is ready: bounded, fast polls, fail fast on exit."""

from __future__ import annotations

import threading
import time

from docker.errors import DockerException
from docker.models.containers import Container

from orchestrator.errors import OrchestratorError, ServiceNotReady
from orchestrator.probes import Locate, NotReadyYet, Probe

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


def wait_until_ready(
    service: str,
    container: Container,
    probe: Probe,
    locate: Locate,
    timeout: float,
    cancel: threading.Event | None = None,
    hint: str = "",
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
            raise ServiceNotReady(
                service,
                str(probe),
                timeout,
                describe_state(container),
                container_logs(container),
                reason=f"stopped after {time.monotonic() - started:.1f}s",
                hint=hint,
            )
        try:
            probe.attempt(locate)
            return time.monotonic() - started
        except (NotReadyYet, OSError, OrchestratorError) as error:
            # OrchestratorError: its ports are gone, the container is exiting;
            # the next round sees that and reports it.
            last_error = f"{type(error).__name__}: {error}"
        if time.monotonic() - started > timeout:
            raise ServiceNotReady(
                service,
                f"{probe}; last attempt: {last_error}",
                timeout,
                describe_state(container),
                container_logs(container),
                hint=hint,
            )
        if cancel is not None and cancel.wait(POLL_INTERVAL):
            raise Cancelled(service)
        if cancel is None:
            time.sleep(POLL_INTERVAL)
