"""Roles: what the project uses a server for, bound to a service in configuration.

Each role is a top-level key of ``[tool.orchestrator]``::

    broker = "redis"          # rabbitmq (default) or redis
    database = "postgres"     # sqlite (default) or postgres

A value is the name of a service that can fill the role (the stack starts it),
a URL of a server that already runs (a CI's service container, a developer's
own; the stack starts nothing for it but still gives each test process its own
namespace there, and resets only that), or one of the role's own choices
(``sqlite`` for the database: a file per test process shared with the workers;
``none`` for the cache: the project's own cache settings stay).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from orchestrator.errors import ConfigError
from orchestrator.services import SERVICES, by_scheme, serving
from orchestrator.services.base import ROLES, redact


@dataclass(frozen=True)
class Role:
    default: str
    help: str
    # Values that name no service: how the role is served without a server of the stack.
    local: tuple[str, ...] = ()


ROLE_KEYS: dict[str, Role] = {
    "broker": Role("rabbitmq", "Celery's broker: 'rabbitmq', 'redis' or a server's URL"),
    "results": Role("redis", "Celery's result backend: 'redis' or a server's URL"),
    "channel_layer": Role("redis", "the Channels layer: 'redis' or a server's URL"),
    "cache": Role(
        "none",
        "Django's cache (and cached sessions): 'none' (the project's own), 'redis' or a URL",
        local=("none",),
    ),
    "database": Role(
        "sqlite",
        "the test database: 'sqlite' (a file shared with the worker), 'postgres' or a URL",
        local=("sqlite",),
    ),
}
assert tuple(ROLE_KEYS) == ROLES


@dataclass(frozen=True)
class Binding:
    """One role bound: to ``service`` (a name of the registry, or a local choice)
    at ``url`` when the server already runs ('' when the stack starts it)."""

    role: str
    service: str
    url: str = field(default="", repr=False)  # may hold a password

    @property
    def managed(self) -> bool:
        """Whether the stack starts the server (a container of its own)."""
        return not self.url and self.service in SERVICES

    @property
    def local(self) -> bool:
        """Served without any server (``sqlite``, ``none``)."""
        return self.service in ROLE_KEYS[self.role].local

    def __repr__(self) -> str:
        where = f" at {redact(self.url)}" if self.url else ""
        return f"Binding({self.role}={self.service}{where})"


def parse(role: str, value: str, origin: str) -> Binding:
    """The binding ``value`` names, or one :class:`ConfigError` saying what is expected."""
    spec = ROLE_KEYS[role]
    if value in spec.local:
        return Binding(role, value)
    choices = [service.name for service in serving(role)]
    if value in choices:
        return Binding(role, value)
    scheme = urlsplit(value).scheme if "://" in value else ""
    service = by_scheme(scheme) if scheme else None
    if service is not None and role in service.roles:
        try:
            service.parse(value)  # checks host and port
        except ConfigError as error:
            raise ConfigError(f"{origin}: {role} = {error}") from None
        return Binding(role, service.name, value)
    expected = " or ".join(repr(choice) for choice in [*spec.local, *choices])
    schemes = sorted({s for name in choices for s in SERVICES[name].schemes})
    raise ConfigError(
        f"{origin}: {role} = {redact(value)!r}: expected {expected}, or the URL of a server "
        f"that runs already ({', '.join(f'{s}://...' for s in schemes)})"
    )


def bindings(values: Mapping[str, Any]) -> dict[str, Binding]:
    """Every role's binding, from validated configuration values."""
    return {role: parse(role, str(values[role]), "configuration") for role in ROLE_KEYS}
