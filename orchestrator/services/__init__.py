"""The registry of services: every module here that defines ``SERVICE`` is one.

Adding a service is one module (a :class:`~orchestrator.services.base.Service`
subclass instance named ``SERVICE``) and one image recipe, a directory of the
same name among the shipped recipes. Everything else (images, configuration
keys, roles, the stack's start, slices, resets, status) iterates over
:data:`SERVICES`.
"""

from __future__ import annotations

import importlib
import pkgutil

from orchestrator.services.base import ROLES, Service


def _discover() -> dict[str, Service]:
    found: dict[str, Service] = {}
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        service = getattr(importlib.import_module(f"{__name__}.{module.name}"), "SERVICE", None)
        if isinstance(service, Service):
            found[service.name] = service
    return found


SERVICES: dict[str, Service] = _discover()


def serving(role: str) -> list[Service]:
    """The services that can fill ``role``."""
    return [service for service in SERVICES.values() if role in service.roles]


def by_scheme(scheme: str) -> Service | None:
    """The service an existing server's URL scheme names (``redis``, ``amqp``...)."""
    return next((s for s in SERVICES.values() if scheme in s.schemes), None)


__all__ = ["ROLES", "SERVICES", "Service", "by_scheme", "serving"]
