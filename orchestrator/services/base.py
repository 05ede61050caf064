"""What every service module declares, and the small types they share.

A service is one module of :mod:`orchestrator.services` defining ``SERVICE``, an
instance of a :class:`Service` subclass. The registry (the package's
``__init__``) finds them; lifecycle, images, configuration keys, kept-stack
state, ``orchestrator status`` and cleaning iterate over it and know services
only through this interface:

- ``name``, ``port``, ``registry_image`` (the image in registry mode; its recipe
  is the directory of the same name among the shipped recipes);
- ``roles`` it can fill (``broker``, ``results``, ``channel_layer``, ``cache``,
  ``database``) and the URL ``schemes`` of an existing server of its kind;
- :meth:`Service.credentials` generated for a stack, :meth:`Service.spec` of its
  container, :meth:`Service.server` for a started container or
  :meth:`Service.parse` for a server named by URL;
- :meth:`Service.url` of one role on one slice, :meth:`Service.provision` of
  new slices, and :meth:`Service.cleaner` that resets a slice between tests.

A *slice* is one test process's namespace on the stack (``main``, or xdist's
``gw0``, ``gw1``...), numbered from 1; each service derives its own part of the
namespace from it (a RabbitMQ vhost, a Redis database number, key prefixes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from orchestrator.errors import ConfigError
from orchestrator.spec import ServiceSpec

ROLES = ("broker", "results", "channel_layer", "cache", "database")
# Where the containers of the stack reach the machine running the tests.
HOST_ALIAS = "host.docker.internal"
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})


WORKER_PREFIX = "worker-"  # a slice's worker container is a service named after the slice


def is_worker(service: str) -> bool:
    """Whether a service of the stack is a slice's worker (not a server)."""
    return service.startswith(WORKER_PREFIX)


@dataclass(frozen=True)
class Slice:
    """One test process's namespace on the stack."""

    name: str
    number: int

    @property
    def prefix(self) -> str:
        return f"stackyard-{self.name}"

    @property
    def worker_name(self) -> str:
        return f"{WORKER_PREFIX}{self.name}"

    @property
    def node_name(self) -> str:
        return f"{self.worker_name}@stackyard"


@dataclass(frozen=True)
class Server:
    """Where one server is reached, and as whom.

    Either a container of the stack (``managed``) or a server the project names
    by URL. ``path`` is what the URL's path held (a database name, a vhost).
    """

    service: str
    host: str
    port: int
    user: str = ""
    password: str = field(default="", repr=False)
    path: str = ""
    managed: bool = True
    scheme: str = ""

    def __repr__(self) -> str:
        # Reprs end up in tracebacks and reports: never the password.
        return f"Server({self.service} at {self.host}:{self.port})"

    def for_containers(self) -> Server:
        """The same server as the stack's containers reach it: a server on this
        machine's loopback is reached through the host alias."""
        if self.managed or self.host not in LOOPBACK_HOSTS:
            return self
        return replace(self, host=HOST_ALIAS)


class Cleaner(Protocol):
    """Resets one role of a slice between tests, over a connection kept open."""

    def reset(self) -> None: ...
    def close(self) -> None: ...


# A command run inside a managed server's container: argv -> (exit code, output).
Exec = Callable[[list[str]], tuple[int, str]]


class Service:
    """Base of the service declarations; see the module docstring."""

    name: str = ""
    port: int = 0
    registry_image: str = ""
    roles: tuple[str, ...] = ()
    schemes: tuple[str, ...] = ()

    def credentials(self) -> dict[str, str]:
        """Secrets for one stack's container (never the image's defaults)."""
        return {}

    def spec(
        self,
        image: str,
        credentials: Mapping[str, str],
        startup_timeout: float,
        slices: Sequence[Slice],
    ) -> ServiceSpec:
        """The container; ``slices`` are those known at start (namespaces made at boot)."""
        raise NotImplementedError

    def server(self, credentials: Mapping[str, str], host: str, port: int) -> Server:
        """The started container as a server, at ``host:port``."""
        user, password = credentials.get("user", ""), credentials.get("password", "")
        return Server(self.name, host, port, user, password)

    def parse(self, url: str) -> Server:
        """An existing server named by URL."""
        parts = urlsplit(url)
        try:
            port = parts.port or self.port
        except ValueError:
            raise ConfigError(f"{redact(url)}: the port is not a number") from None
        if not parts.hostname:
            raise ConfigError(f"{redact(url)}: no host in the URL")
        return Server(
            self.name,
            parts.hostname,
            port,
            unquote(parts.username or ""),
            unquote(parts.password or ""),
            unquote(parts.path.lstrip("/")),
            managed=False,
            scheme=parts.scheme,
        )

    def url(self, role: str, server: Server, slice_: Slice) -> str:
        """The URL of ``role`` for ``slice_`` on ``server``."""
        raise NotImplementedError

    def provision(self, server: Server, slices: Sequence[Slice], run: Exec | None) -> None:
        """Make the namespaces of ``slices`` on ``server`` (``run``: a command in the
        container, for a managed server; None for an existing one)."""

    def cleaner(self, role: str, url: str, slice_: Slice, queues: Sequence[str]) -> Cleaner | None:
        """What empties ``role`` of ``slice_`` before each test (None: nothing to do)."""
        return None

    def details(self, role: str, slice_: Slice) -> dict[str, Any]:
        """Extra values a role's settings need besides its URL (a key prefix)."""
        return {}


class MaskedURL(str):
    """A URL that is itself everywhere but in its repr, which hides the password: pytest
    prints a failing test's fixture values and compared strings (terminal, JUnit XML)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(redact(str(self)))


def redact(url: str) -> str:
    """``url`` without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")
    user = netloc[0].partition(":")[0]
    return parts._replace(netloc=f"{user}:***@{netloc[2]}").geturl()
