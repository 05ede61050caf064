"""The one mapping from a stack's endpoints to what a Django + Celery project reads.

The test process, the live server it forks and the worker containers all point
the project at the stack through this module, so they cannot disagree:

- Celery's own environment variables (``CELERY_BROKER_URL``,
  ``CELERY_RESULT_BACKEND``), which Celery reads before any setting of the app
  or of Django on every 5.x version, whatever namespace the project configures
  its app with;
- Django settings: the ``CELERY_*`` names of the usual ``namespace="CELERY"``
  configuration (eager mode off), ``CHANNEL_LAYERS`` on the stack's Redis,
  ``CACHES`` when the ``cache`` role is bound, and, for a worker container,
  ``DATABASES`` on the slice's test database (a SQLite file or PostgreSQL).

Values are plain JSON types: a worker container receives the settings as one
JSON variable (:data:`SETTINGS_VARIABLE`) and applies them before Django starts.
"""

from __future__ import annotations

import importlib.util
import json
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

SETTINGS_VARIABLE = "STACKYARD_DJANGO_SETTINGS"
CHANNEL_LAYER_BACKEND = "channels_redis.core.RedisChannelLayer"
SQLITE_BUSY_TIMEOUT = 20  # seconds; the test process and the worker write the same file


class StackEndpoints(Protocol):
    """What the mapping needs of :class:`orchestrator.plan.Endpoints`."""

    @property
    def broker_url(self) -> str: ...
    @property
    def result_backend(self) -> str: ...
    @property
    def channel_layer_url(self) -> str: ...
    @property
    def channel_layer_prefix(self) -> str: ...
    @property
    def cache_url(self) -> str: ...
    @property
    def cache_prefix(self) -> str: ...
    @property
    def database_url(self) -> str: ...


def celery_environment(endpoints: StackEndpoints) -> dict[str, str]:
    """Celery's own variables: they win over the app's and Django's settings.

    The read and write URLs too: a project that sets ``broker_read_url`` or
    ``broker_write_url`` would otherwise send or consume elsewhere.
    """
    return {
        "CELERY_BROKER_URL": endpoints.broker_url,
        "CELERY_BROKER_READ_URL": endpoints.broker_url,
        "CELERY_BROKER_WRITE_URL": endpoints.broker_url,
        "CELERY_RESULT_BACKEND": endpoints.result_backend,
    }


def celery_app_settings(endpoints: StackEndpoints) -> dict[str, Any]:
    """Celery's own setting names, for an app whose configuration is already loaded."""
    return {
        "broker_url": endpoints.broker_url,
        "result_backend": endpoints.result_backend,
        "task_always_eager": False,
        "task_eager_propagates": False,
    }


def channel_layers(endpoints: StackEndpoints) -> dict[str, Any]:
    """``CHANNEL_LAYERS`` on the stack's Redis, in the slice's prefix."""
    return {
        "default": {
            "BACKEND": CHANNEL_LAYER_BACKEND,
            "CONFIG": {
                # redis-py 8 reads with a 5 s socket timeout by default, as long as
                # channels-redis's blocking pop: an idle consumer would fail with
                # "Timeout reading" and miss what comes next. channels-redis expects
                # reads without a timeout (Redis bounds the pop itself).
                "hosts": [{"address": endpoints.channel_layer_url, "socket_timeout": None}],
                # Pub/sub ignores Redis database numbers: the prefix keeps slices apart.
                "prefix": endpoints.channel_layer_prefix,
            },
        }
    }


def caches(endpoints: StackEndpoints) -> dict[str, Any]:
    """``CACHES`` on the stack's Redis, under the slice's key prefix.

    django-redis's backend when the project has it installed (its extra methods
    keep working), else Django's own Redis backend; both take the same keys.
    """
    backend = (
        "django_redis.cache.RedisCache"
        if importlib.util.find_spec("django_redis") is not None
        else "django.core.cache.backends.redis.RedisCache"
    )
    return {
        "default": {
            "BACKEND": backend,
            "LOCATION": endpoints.cache_url,
            "KEY_PREFIX": endpoints.cache_prefix,
        }
    }


POSTGRES_ENGINE = "django.db.backends.postgresql"
SQLITE_ENGINE = "django.db.backends.sqlite3"


def database_settings(url: str) -> dict[str, Any]:
    """The ``DATABASES`` entry of a slice's test database, from its URL
    (``sqlite:///path/main.sqlite3`` or ``postgres://user:password@host:port/name``)."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return {
            "ENGINE": SQLITE_ENGINE,
            "NAME": unquote(parts.path),
            "OPTIONS": {"timeout": SQLITE_BUSY_TIMEOUT},
        }
    return {
        "ENGINE": POSTGRES_ENGINE,
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or 5432),
    }


def django_settings(endpoints: StackEndpoints, database: bool = False) -> dict[str, Any]:
    """Django settings that point the project at the stack.

    ``database``: with ``DATABASES`` on the slice's test database, for a process
    that does not get it from pytest-django (a worker container).
    """
    settings: dict[str, Any] = {
        "CELERY_BROKER_URL": endpoints.broker_url,
        "CELERY_RESULT_BACKEND": endpoints.result_backend,
        "CELERY_TASK_ALWAYS_EAGER": False,
        "CELERY_TASK_EAGER_PROPAGATES": False,
        "CHANNEL_LAYERS": channel_layers(endpoints),
    }
    if endpoints.cache_url:
        settings["CACHES"] = caches(endpoints)
    if database and endpoints.database_url:
        settings["DATABASES"] = {"default": database_settings(endpoints.database_url)}
    return settings


def container_environment(endpoints: StackEndpoints) -> dict[str, str]:
    """Everything a container running the project needs to use the stack."""
    return {
        **celery_environment(endpoints),
        SETTINGS_VARIABLE: json.dumps(django_settings(endpoints, database=True), sort_keys=True),
    }
