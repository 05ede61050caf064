"""What a test stack consists of: role bindings, credentials, specs and the endpoints they give.

The plan turns the configuration's role bindings (:mod:`orchestrator.roles`)
into the stack's own services (each declared by its module in
:mod:`orchestrator.services`), the per-slice worker containers, and each
slice's :class:`Endpoints`: one URL per role, as the test process reaches them
(published ports on 127.0.0.1) or as the stack's containers do (network aliases).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestrator.config import Config, database_dir, worker_settings_module
from orchestrator.django_settings import celery_environment, container_environment
from orchestrator.errors import ConfigError, NotStarted
from orchestrator.probes import Locate
from orchestrator.roles import Binding, bindings
from orchestrator.services import SERVICES, worker
from orchestrator.services.base import HOST_ALIAS, Cleaner, Exec, MaskedURL, Server, Slice
from orchestrator.spec import ServiceSpec

MAIN_SLICE = Slice("main", 1)
# Services started on demand rather than with the stack.
ON_DEMAND = ("browser",)


class Credentials(dict[str, dict[str, str]]):
    """Generated secrets of one stack, per service: ``{"redis": {"password": ...}, ...}``.

    A dict (it is saved in the state file as one) whose repr names only the services.
    """

    def __repr__(self) -> str:
        return f"Credentials({', '.join(sorted(self))})"


def generate_credentials() -> Credentials:
    """Secrets for every service a stack may run (never the images' defaults)."""
    return Credentials({name: service.credentials() for name, service in SERVICES.items()})


@dataclass(frozen=True)
class Endpoints:
    """One slice's URL per role, as one process (host or container) reaches them.

    ``cache_url`` is '' when the cache role is not bound. ``database_url`` is a
    ``sqlite:///path`` file or a ``postgres://`` database: the slice's test database
    ('' from the test process while the stack's database server is not started).
    """

    broker_url: str = field(repr=False)
    result_backend: str = field(repr=False)
    channel_layer_url: str = field(repr=False)
    channel_layer_prefix: str
    cache_url: str = field(default="", repr=False)
    cache_prefix: str = ""
    database_url: str = field(default="", repr=False)

    def __repr__(self) -> str:
        # Reprs end up in tracebacks and reports: name the hosts, never the passwords.
        return (
            f"Endpoints(broker={_host_of(self.broker_url)}, "
            f"results={_host_of(self.result_backend)})"
        )

    def url(self, role: str) -> str:
        return {
            "broker": self.broker_url,
            "results": self.result_backend,
            "channel_layer": self.channel_layer_url,
            "cache": self.cache_url,
            "database": self.database_url,
        }[role]

    def as_env(self) -> dict[str, str]:
        """Variables for a shell or a program of one's own: ``STACKYARD_*`` and Celery's own."""
        variables = {
            "STACKYARD_BROKER_URL": self.broker_url,
            "STACKYARD_RESULT_BACKEND": self.result_backend,
            "STACKYARD_CHANNEL_LAYER_URL": self.channel_layer_url,
            "STACKYARD_CHANNEL_LAYER_PREFIX": self.channel_layer_prefix,
            "STACKYARD_DATABASE_URL": self.database_url,
            **celery_environment(self),
        }
        if self.cache_url:
            variables["STACKYARD_CACHE_URL"] = self.cache_url
            variables["STACKYARD_CACHE_PREFIX"] = self.cache_prefix
        return variables


def _host_of(url: str) -> str:
    return url.rpartition("@")[2]


class StackPlan:
    """Builds the specs of a stack's services and its slices' endpoints."""

    def __init__(self, config: Config, images: Mapping[str, str], credentials: Credentials) -> None:
        self.config = config
        self.images = images
        self.credentials = credentials
        self.timeout = config.startup_timeout
        self.bindings = bindings(config.values)

    def __repr__(self) -> str:
        return f"StackPlan({', '.join(repr(b) for b in self.bindings.values())})"

    @property
    def services(self) -> list[str]:
        """The servers the stack starts: those the roles bind to the stack's own."""
        return sorted({b.service for b in self.bindings.values() if b.managed})

    @property
    def database_server(self) -> str | None:
        """The server started only when a test or worker needs it: the stack's own
        database server (no other role uses it), or None (SQLite, a server by URL)."""
        binding = self.bindings["database"]
        if not binding.managed:
            return None
        others = [b for role, b in self.bindings.items() if role != "database"]
        return None if any(b.service == binding.service for b in others) else binding.service

    @property
    def eager_services(self) -> list[str]:
        """The servers a start launches at once (the database server waits to be wanted)."""
        return [name for name in self.services if name != self.database_server]

    @property
    def has_worker(self) -> bool:
        return bool(self.config["worker.app"])

    def service_specs(self, slices: Sequence[Slice] = ()) -> list[ServiceSpec]:
        """The stack's servers; namespaces of ``slices`` are made at boot where a service can."""
        return [self.service_spec(name, slices) for name in self.services]

    def eager_specs(self, slices: Sequence[Slice] = ()) -> list[ServiceSpec]:
        return [self.service_spec(name, slices) for name in self.eager_services]

    def service_spec(self, name: str, slices: Sequence[Slice] = ()) -> ServiceSpec:
        service = SERVICES[name]
        return service.spec(self.images[name], self.credentials[name], self.timeout, slices)

    def browser_spec(self, headed: bool = False) -> ServiceSpec:
        from orchestrator.services.browser import SERVICE as BROWSER

        return BROWSER.spec(
            self.images["browser"], self.credentials["browser"], self.timeout, (), headed=headed
        )

    def server(self, binding: Binding, locate: Locate | None) -> Server:
        """The server a binding names, from the test process (``locate``) or the containers."""
        service = SERVICES[binding.service]
        if binding.managed:
            where = locate(service.name, service.port) if locate else (service.name, service.port)
            return service.server(self.credentials[service.name], *where)
        server = service.parse(binding.url)
        return server if locate is not None else server.for_containers()

    def endpoints(self, locate: Locate, slice_: Slice = MAIN_SLICE) -> Endpoints:
        """Endpoints as the test process reaches them (published ports on 127.0.0.1)."""
        return self._endpoints(locate, slice_)

    def internal_endpoints(self, slice_: Slice = MAIN_SLICE) -> Endpoints:
        """Endpoints as containers on the stack's network reach them (aliases)."""
        return self._endpoints(None, slice_)

    def _endpoints(self, locate: Locate | None, slice_: Slice) -> Endpoints:
        urls = {}
        for role in self.bindings:
            try:
                urls[role] = MaskedURL(self._url(role, locate, slice_))
            except NotStarted:
                if role != "database":
                    raise
                urls[role] = MaskedURL("")  # the database server starts when a test needs it
        details = {
            role: SERVICES[b.service].details(role, slice_)
            for role, b in self.bindings.items()
            if not b.local
        }
        return Endpoints(
            broker_url=urls["broker"],
            result_backend=urls["results"],
            channel_layer_url=urls["channel_layer"],
            channel_layer_prefix=str(details["channel_layer"].get("prefix", "")),
            cache_url=urls["cache"],
            cache_prefix=str(details.get("cache", {}).get("prefix", "")),
            database_url=urls["database"],
        )

    def _url(self, role: str, locate: Locate | None, slice_: Slice) -> str:
        binding = self.bindings[role]
        if binding.service == "sqlite":
            return f"sqlite://{database_dir(self.config) / f'{slice_.name}.sqlite3'}"
        if binding.local:
            return ""
        return SERVICES[binding.service].url(role, self.server(binding, locate), slice_)

    def servers(
        self, locate: Locate, started: Collection[str] | None = None
    ) -> list[tuple[Binding, Server]]:
        """Each distinct server the roles use (several roles may share one); of the
        stack's own, only those ``started`` (all when None)."""
        seen: dict[tuple[str, str], tuple[Binding, Server]] = {}
        for binding in self.bindings.values():
            if binding.managed and started is not None and binding.service not in started:
                continue
            if not binding.local:
                seen.setdefault(
                    (binding.service, binding.url), (binding, self.server(binding, locate))
                )
        return list(seen.values())

    def provision(
        self,
        slices: Sequence[Slice],
        locate: Locate,
        run_in: Callable[[str], Exec],
        started: Collection[str],
    ) -> None:
        """Make the slices' namespaces (vhosts on RabbitMQ...) on every server the stack
        does not run and on those of its own that are ``started``."""
        for binding, server in self.servers(locate, started):
            run = run_in(binding.service) if binding.managed else None
            SERVICES[binding.service].provision(server, slices, run)

    def cleaners(self, endpoints: Endpoints, slice_: Slice) -> list[Cleaner]:
        """What resets the slice before each test (the database is pytest-django's)."""
        queues = list(self.config["worker.queues"])
        found = []
        for role, binding in self.bindings.items():
            if binding.local or role == "database":
                continue
            cleaner = SERVICES[binding.service].cleaner(role, endpoints.url(role), slice_, queues)
            if cleaner is not None:
                found.append(cleaner)
        return found

    def worker_spec(self, slice_: Slice = MAIN_SLICE) -> ServiceSpec:
        if not self.has_worker:
            raise ConfigError(
                "a test uses the Celery worker, but worker.app is not set: name the project's "
                "Celery app ('package.module' or 'package.module:app') in [tool.orchestrator] "
                "(`orchestrator init` infers it)"
            )
        from orchestrator.images import shipped_recipes  # images loads docker-py

        internal = self.internal_endpoints(slice_)
        database = self.bindings["database"]
        settings = worker.WorkerSettings(
            source=self.config.path("worker.source"),
            app=str(self.config["worker.app"]),
            django_settings=worker_settings_module(self.config),
            queues=list(self.config["worker.queues"]),
            concurrency=int(self.config["worker.concurrency"]),
            environment=container_environment(internal),
            database_path=database_dir(self.config) / f"{slice_.name}.sqlite3"
            if database.service == "sqlite"
            else None,
            node_name=slice_.node_name,
            boot_script=shipped_recipes() / "worker" / "boot.py"
            if self.config["images.worker"]
            else None,
            depends_on=tuple(
                name
                for name in self.services
                if any(
                    b.service == name and b.managed and role != "cache"
                    for role, b in self.bindings.items()
                )
            ),
            reaches_host=any(
                not b.managed and not b.local and self.server(b, None).host == HOST_ALIAS
                for b in self.bindings.values()
            ),
        )
        return worker.worker_spec(
            self.images["worker"],
            settings,
            lambda locate: self.endpoints(locate, slice_).broker_url,
            _host_of(internal.broker_url),
            self.timeout,
            name=slice_.worker_name,
        )


def state_credentials(data: Mapping[str, Any]) -> Credentials:
    """Credentials as a state file recorded them."""
    return Credentials({name: dict(values) for name, values in data.items()})
