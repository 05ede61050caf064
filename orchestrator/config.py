"""Configuration: ``[tool.orchestrator]`` in pyproject.toml, overridden by environment.

Every key is declared once in ``KEYS`` with its type and default. The whole
configuration is validated before anything starts: an unknown key or a bad
value is one :class:`~orchestrator.errors.ConfigError` naming the key and the fix.

Environment overrides use the key's dotted name in upper case, dots as
underscores, behind ``ORCHESTRATOR_``: ``worker.concurrency`` is
``ORCHESTRATOR_WORKER_CONCURRENCY``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.errors import ConfigError

IMAGE_MODES = ("build", "registry")


@dataclass(frozen=True)
class Key:
    """One configuration key: its kind (``str``, ``int``, ``float``, ``list``) and default."""

    kind: str
    default: Any
    help: str
    choices: tuple[str, ...] = ()


KEYS: dict[str, Key] = {
    "image_mode": Key(
        "str",
        "registry",
        "'registry': use the images named below; 'build': build docker/",
        IMAGE_MODES,
    ),
    "base_image": Key("str", "debian:bookworm-slim", "base of every image built from docker/"),
    "dockerfiles": Key("str", "docker", "directory holding one Dockerfile directory per service"),
    "startup_timeout": Key("float", 60.0, "seconds a service may take to become ready"),
    "state_dir": Key(
        "str", ".stackyard", "kept stack's state and the integration test databases (untracked)"
    ),
    "images.redis": Key("str", "redis:7.2", "Redis image in registry mode"),
    "images.rabbitmq": Key("str", "rabbitmq:3.13", "RabbitMQ image in registry mode"),
    "images.browser": Key(
        "str", "selenium/standalone-chromium:latest", "WebDriver image in registry mode"
    ),
    "worker.source": Key("str", "example", "directory mounted read-only at /app in the worker"),
    "worker.app": Key("str", "example_project", "Celery app, 'package.module[:attribute]'"),
    "worker.settings": Key(
        "str", "example_project.settings.integration", "DJANGO_SETTINGS_MODULE of the worker"
    ),
    "worker.requirements": Key("str", "example/requirements.txt", "what the worker image installs"),
    "worker.constraints": Key("str", "constraints.txt", "pins for the worker image ('' for none)"),
    "worker.queues": Key("list", ["celery"], "queues the worker consumes"),
    "worker.concurrency": Key("int", 4, "worker threads"),
}


@dataclass(frozen=True)
class Config:
    """Validated configuration; paths are absolute."""

    root: Path
    values: Mapping[str, Any]
    declared: bool = False  # the project has a [tool.orchestrator] table

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def path(self, key: str) -> Path:
        """The value of a path key, resolved against the project root."""
        return (self.root / str(self.values[key])).resolve()


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in table.items():
        dotted = f"{prefix}{name}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def env_name(key: str) -> str:
    return "ORCHESTRATOR_" + key.replace(".", "_").upper()


def _convert(key: str, spec: Key, value: Any, origin: str) -> Any:
    converters: dict[str, Callable[[Any], Any]] = {
        "str": lambda v: v if isinstance(v, str) else _reject(),
        "int": lambda v: int(v) if not isinstance(v, bool | float) else _reject(),
        "float": lambda v: float(v) if not isinstance(v, bool) else _reject(),
        "list": _as_list,
    }
    try:
        converted = converters[spec.kind](value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{origin}: {key} = {value!r} is not a valid {spec.kind} ({spec.help})"
        ) from None
    if spec.choices and converted not in spec.choices:
        choices = " or ".join(repr(choice) for choice in spec.choices)
        raise ConfigError(f"{origin}: {key} = {value!r}: expected {choices}")
    if spec.kind in ("int", "float") and converted <= 0:
        raise ConfigError(f"{origin}: {key} = {value!r}: expected a positive number")
    return converted


def _reject() -> Any:
    raise TypeError


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    raise TypeError


def load_config(root: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read ``root/pyproject.toml`` and the environment, validate, and return the result."""
    environ = os.environ if environ is None else environ
    pyproject = root / "pyproject.toml"
    table: dict[str, Any] = {}
    tool_tables: dict[str, Any] = {}
    if pyproject.is_file():
        try:
            document = tomllib.loads(pyproject.read_text())
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{pyproject} is not valid TOML: {error}") from None
        tool_tables = document.get("tool", {})
        table = tool_tables.get("orchestrator", {})
    origin = f"[tool.orchestrator] in {pyproject}"
    given = _flatten(table)
    unknown = sorted(set(given) - set(KEYS))
    if unknown:
        raise ConfigError(
            f"{origin}: unknown key {unknown[0]!r}; known keys: {', '.join(sorted(KEYS))}"
        )
    values = {}
    for key, spec in KEYS.items():
        if env_name(key) in environ:
            values[key] = _convert(key, spec, environ[env_name(key)], env_name(key))
        elif key in given:
            values[key] = _convert(key, spec, given[key], origin)
        else:
            values[key] = spec.default
    return Config(root=root.resolve(), values=values, declared="orchestrator" in tool_tables)


def find_project_root(start: Path) -> Path:
    """The nearest directory at or above ``start`` holding a pyproject.toml."""
    for directory in (start.resolve(), *start.resolve().parents):
        if (directory / "pyproject.toml").is_file():
            return directory
    return start.resolve()
