"""Errors the engine raises; each message says what went wrong and what to do."""

from __future__ import annotations


class OrchestratorError(Exception):
    """Base of the engine's errors; ``str()`` is meant for the user as it is."""


class ConfigError(OrchestratorError):
    """The configuration (``[tool.orchestrator]`` or an environment override) is invalid."""


class EngineUnavailable(OrchestratorError):
    """No Docker engine answers."""


class NotStarted(OrchestratorError):
    """A service of the stack that is started on demand has not been started yet."""


class ImageError(OrchestratorError):
    """An image could not be found, pulled or built."""


class ServiceNotReady(OrchestratorError):
    """A service's container did not become ready.

    The message names the service, what was awaited and for how long, the
    container's status (and exit code), the likely fix, then its last log lines.
    """

    def __init__(
        self,
        service: str,
        awaited: str,
        timeout: float,
        status: str,
        logs: str,
        reason: str = "",
        hint: str = "",
    ) -> None:
        self.service = service
        self.awaited = awaited
        self.timeout = timeout
        self.status = status
        self.logs = logs
        what = reason or f"not ready within {timeout:g}s"
        lines = [f"service {service!r} {what} (waited for {awaited}; container {status})"]
        if hint:
            lines.append(f"hint: {hint}")
        lines.append(f"last log lines of {service!r}:")
        lines.append(logs.rstrip() or "(no output)")
        super().__init__("\n".join(lines))
