"""What a test stack consists of: credentials, service specs and the endpoints they give.

Redis holds two things, in separate databases: the Channels layer (0) and
Celery results (1). Channels' pub/sub ignores database numbers, so layers of
different runs sharing a Redis are kept apart by their prefix instead.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from orchestrator.config import Config
from orchestrator.probes import Locate
from orchestrator.services import browser, rabbitmq, redis, worker
from orchestrator.spec import ServiceSpec

CHANNEL_LAYER_DB = 0
RESULTS_DB = 1


@dataclass(frozen=True)
class Credentials:
    """Secrets generated for one stack; never the images' defaults."""

    redis_password: str
    rabbitmq_user: str
    rabbitmq_password: str
    vhost: str

    @classmethod
    def generate(cls) -> Credentials:
        return cls(
            redis_password=secrets.token_urlsafe(24),
            rabbitmq_user=f"stackyard-{secrets.token_hex(4)}",
            rabbitmq_password=secrets.token_urlsafe(24),
            vhost="stackyard",
        )


@dataclass(frozen=True)
class Endpoints:
    """URLs of the stack's services, as one process (host or container) reaches them."""

    broker_url: str
    result_backend: str
    channel_layer_url: str
    channel_layer_prefix: str = "stackyard"

    def as_env(self) -> dict[str, str]:
        """The variables ``example_project.settings.integration`` (and its likes) read."""
        return {
            "ORCHESTRATOR_BROKER_URL": self.broker_url,
            "ORCHESTRATOR_RESULT_BACKEND": self.result_backend,
            "ORCHESTRATOR_CHANNEL_LAYER_URL": self.channel_layer_url,
            "ORCHESTRATOR_CHANNEL_LAYER_PREFIX": self.channel_layer_prefix,
        }


class StackPlan:
    """Builds the specs of a stack's services from the configuration and images."""

    def __init__(self, config: Config, images: Mapping[str, str], credentials: Credentials) -> None:
        self.config = config
        self.images = images
        self.credentials = credentials
        self.timeout = float(config["startup_timeout"])

    def broker_specs(self) -> list[ServiceSpec]:
        creds = self.credentials
        return [
            redis.redis_spec(self.images["redis"], creds.redis_password, self.timeout),
            rabbitmq.rabbitmq_spec(
                self.images["rabbitmq"],
                creds.rabbitmq_user,
                creds.rabbitmq_password,
                creds.vhost,
                self.timeout,
            ),
        ]

    def browser_spec(self) -> ServiceSpec:
        return browser.browser_spec(self.images["browser"], self.timeout)

    def worker_spec(self, database_path: Path | None, prefix: str = "stackyard") -> ServiceSpec:
        settings = worker.WorkerSettings(
            source=self.config.path("worker.source"),
            app=str(self.config["worker.app"]),
            django_settings=str(self.config["worker.settings"]),
            queues=list(self.config["worker.queues"]),
            concurrency=int(self.config["worker.concurrency"]),
            endpoints=self.internal_endpoints(prefix).as_env(),
            database_path=database_path,
        )
        creds = self.credentials
        broker = (creds.rabbitmq_user, creds.rabbitmq_password, creds.vhost)
        return worker.worker_spec(self.images["worker"], settings, broker, self.timeout)

    def endpoints(self, locate: Locate, prefix: str = "stackyard") -> Endpoints:
        """Endpoints as the test process reaches them (published ports on 127.0.0.1)."""
        return self._endpoints(
            locate(redis.NAME, redis.PORT), locate(rabbitmq.NAME, rabbitmq.PORT), prefix
        )

    def internal_endpoints(self, prefix: str = "stackyard") -> Endpoints:
        """Endpoints as containers on the stack's network reach them (aliases)."""
        return self._endpoints((redis.NAME, redis.PORT), (rabbitmq.NAME, rabbitmq.PORT), prefix)

    def _endpoints(
        self, redis_at: tuple[str, int], rabbitmq_at: tuple[str, int], prefix: str
    ) -> Endpoints:
        creds = self.credentials
        return Endpoints(
            broker_url=rabbitmq.amqp_url(
                *rabbitmq_at, creds.rabbitmq_user, creds.rabbitmq_password, creds.vhost
            ),
            result_backend=redis.redis_url(*redis_at, creds.redis_password, RESULTS_DB),
            channel_layer_url=redis.redis_url(*redis_at, creds.redis_password, CHANNEL_LAYER_DB),
            channel_layer_prefix=prefix,
        )
