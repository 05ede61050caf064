"""The declarative description of one service of a stack."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.probes import Probe

# The likely fix when a service is not ready: a text, or one made from the container's
# status (``running``, ``exited with code 1``...) and its last log lines.
Hint = str | Callable[[str, str], str]


@dataclass(frozen=True)
class Mount:
    """A host directory mounted into the container."""

    host_path: str
    container_path: str
    mode: str = "ro"


@dataclass(frozen=True)
class ServiceSpec:
    """Everything the stack needs to run one service; the stack knows nothing else about it.

    ``name`` is also the service's alias on the stack's network. ``ports`` are
    container ports, each published on 127.0.0.1 at a free port. Services in
    ``depends_on`` must be ready before this one is probed; its container starts
    at once, so its own boot overlaps theirs. ``options`` are extra keyword
    arguments of docker's container create (``shm_size``, ``user``...). ``memory``
    and ``pids`` bound the container's memory and processes (threads included).
    """

    name: str
    image: str
    probe: Probe
    command: tuple[str, ...] | None = None
    env: Mapping[str, str] = field(default_factory=dict, repr=False)  # may hold passwords
    ports: tuple[int, ...] = ()
    depends_on: tuple[str, ...] = ()
    mounts: tuple[Mount, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    startup_timeout: float = 60.0
    hint: Hint = ""
    # Bounds on what one container may take of the machine (a runaway test, a leak).
    memory: str = "1g"
    pids: int = 1024
