"""What a test stack consists of: credentials, service specs and the endpoints they give.

Processes sharing one stack (the xdist workers of a run) each use a *slice*: a
RabbitMQ vhost, a Redis database for Celery results, a channels-redis prefix and
a Celery worker container of their own. The Channels layer of every slice lives
in Redis database 0; Channels' pub/sub ignores database numbers, so the prefix is
what keeps slices apart there.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.config import Config, worker_settings_module
from orchestrator.django_settings import celery_environment, container_environment
from orchestrator.errors import ConfigError
from orchestrator.images import shipped_recipes
from orchestrator.probes import Locate
from orchestrator.services import browser, rabbitmq, redis, worker
from orchestrator.spec import ServiceSpec

CHANNEL_LAYER_DB = 0
REDIS_DATABASES = 64  # slices take databases 1, 2, ... for their results


@dataclass(frozen=True)
class Slice:
    """One process's namespace on the stack."""

    name: str
    vhost: str
    results_db: int
    prefix: str

    @classmethod
    def numbered(cls, name: str, number: int) -> Slice:
        if not 1 <= number < REDIS_DATABASES:
            raise ValueError(f"slice number {number} is outside 1..{REDIS_DATABASES - 1}")
        return cls(name, f"stackyard-{name}", number, f"stackyard-{name}")

    @property
    def worker_name(self) -> str:
        return f"worker-{self.name}"

    @property
    def node_name(self) -> str:
        return f"worker-{self.name}@stackyard"


MAIN_SLICE = Slice.numbered("main", 1)


@dataclass(frozen=True)
class Credentials:
    """Secrets generated for one stack; never the images' defaults (and never in a repr)."""

    redis_password: str = field(repr=False)
    rabbitmq_user: str
    rabbitmq_password: str = field(repr=False)
    vhost: str
    vnc_password: str = field(default="", repr=False)

    @classmethod
    def generate(cls) -> Credentials:
        return cls(
            redis_password=secrets.token_urlsafe(24),
            rabbitmq_user=f"stackyard-{secrets.token_hex(4)}",
            rabbitmq_password=secrets.token_urlsafe(24),
            vhost="stackyard",
            vnc_password=secrets.token_hex(4),  # VNC uses at most 8 characters
        )

    def as_dict(self) -> dict[str, str]:
        return dict(vars(self))


@dataclass(frozen=True)
class Endpoints:
    """URLs of the stack's services, as one process (host or container) reaches them."""

    broker_url: str
    result_backend: str
    channel_layer_url: str
    channel_layer_prefix: str

    def __repr__(self) -> str:
        # Reprs end up in tracebacks and reports: name the hosts, never the passwords.
        return (
            f"Endpoints(broker={_host_of(self.broker_url)}, redis={_host_of(self.result_backend)})"
        )

    def as_env(self) -> dict[str, str]:
        """Variables for a shell or a program of one's own: ``STACKYARD_*`` and Celery's own."""
        return {
            "STACKYARD_BROKER_URL": self.broker_url,
            "STACKYARD_RESULT_BACKEND": self.result_backend,
            "STACKYARD_CHANNEL_LAYER_URL": self.channel_layer_url,
            "STACKYARD_CHANNEL_LAYER_PREFIX": self.channel_layer_prefix,
            **celery_environment(self),
        }


def _host_of(url: str) -> str:
    return url.rpartition("@")[2]


class StackPlan:
    """Builds the specs of a stack's services from the configuration and images."""

    def __init__(self, config: Config, images: Mapping[str, str], credentials: Credentials) -> None:
        self.config = config
        self.images = images
        self.credentials = credentials
        self.timeout = config.startup_timeout

    def broker_specs(self, boot_vhosts: Sequence[str] = ()) -> list[ServiceSpec]:
        """Redis and RabbitMQ; RabbitMQ makes ``boot_vhosts`` as it boots (when it can)."""
        creds = self.credentials
        return [
            redis.redis_spec(
                self.images["redis"], creds.redis_password, self.timeout, REDIS_DATABASES
            ),
            rabbitmq.rabbitmq_spec(
                self.images["rabbitmq"],
                creds.rabbitmq_user,
                creds.rabbitmq_password,
                creds.vhost,
                self.timeout,
                boot_vhosts,
            ),
        ]

    def browser_spec(self, headed: bool = False) -> ServiceSpec:
        return browser.browser_spec(
            self.images["browser"], self.timeout, headed, self.credentials.vnc_password
        )

    def worker_spec(self, database_path: Path | None, slice_: Slice = MAIN_SLICE) -> ServiceSpec:
        if not self.config["worker.app"]:
            raise ConfigError(
                "a test uses the Celery worker, but worker.app is not set: name the project's "
                "Celery app ('package.module' or 'package.module:app') in [tool.orchestrator] "
                "(`orchestrator init` infers it)"
            )
        settings = worker.WorkerSettings(
            source=self.config.path("worker.source"),
            app=str(self.config["worker.app"]),
            django_settings=worker_settings_module(self.config),
            queues=list(self.config["worker.queues"]),
            concurrency=int(self.config["worker.concurrency"]),
            environment=container_environment(self.internal_endpoints(slice_), database_path),
            database_path=database_path,
            node_name=slice_.node_name,
            boot_script=shipped_recipes() / "worker" / "boot.py"
            if self.config["images.worker"]
            else None,
        )
        creds = self.credentials
        broker = (creds.rabbitmq_user, creds.rabbitmq_password, slice_.vhost)
        return worker.worker_spec(
            self.images["worker"], settings, broker, self.timeout, name=slice_.worker_name
        )

    def endpoints(self, locate: Locate, slice_: Slice = MAIN_SLICE) -> Endpoints:
        """Endpoints as the test process reaches them (published ports on 127.0.0.1)."""
        return self._endpoints(
            locate(redis.NAME, redis.PORT), locate(rabbitmq.NAME, rabbitmq.PORT), slice_
        )

    def internal_endpoints(self, slice_: Slice = MAIN_SLICE) -> Endpoints:
        """Endpoints as containers on the stack's network reach them (aliases)."""
        return self._endpoints((redis.NAME, redis.PORT), (rabbitmq.NAME, rabbitmq.PORT), slice_)

    def _endpoints(
        self, redis_at: tuple[str, int], rabbitmq_at: tuple[str, int], slice_: Slice
    ) -> Endpoints:
        creds = self.credentials
        return Endpoints(
            broker_url=rabbitmq.amqp_url(
                *rabbitmq_at, creds.rabbitmq_user, creds.rabbitmq_password, slice_.vhost
            ),
            result_backend=redis.redis_url(*redis_at, creds.redis_password, slice_.results_db),
            channel_layer_url=redis.redis_url(*redis_at, creds.redis_password, CHANNEL_LAYER_DB),
            channel_layer_prefix=slice_.prefix,
        )
