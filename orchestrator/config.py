"""Configuration: ``[tool.orchestrator]`` in pyproject.toml, overridden by environment.

Every key is declared once in ``KEYS`` with its type and default. The whole
configuration is validated before anything starts: an unknown key or a bad
value is one :class:`~orchestrator.errors.ConfigError` naming the key and the fix.

Paths are resolved against the project root and checked before anything starts:
a key naming a missing file or directory is an error, never created.

Environment overrides use the key's dotted name in upper case, dots as
underscores, behind ``ORCHESTRATOR_``: ``worker.concurrency`` is
``ORCHESTRATOR_WORKER_CONCURRENCY``.
"""

from __future__ import annotations

import difflib
import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.errors import ConfigError, OrchestratorError
from orchestrator.roles import ROLE_KEYS, parse
from orchestrator.services import SERVICES
from orchestrator.services.base import redact

IMAGE_MODES = ("build", "registry")
# Every service's image is built from a recipe (a Dockerfile directory shipped in the wheel).
RECIPE_SERVICES = tuple(SERVICES)
DATABASE_DIR = "db"
# Keys naming a path in the project, and whether it is a file or a directory.
PATH_KEYS = {
    "state_dir": "state",
    "image_cache": "state",
    "worker.source": "dir",
    "worker.requirements": "file",
    "worker.constraints": "file",
    **{f"recipes.{service}": "dir" for service in RECIPE_SERVICES},
}


@dataclass(frozen=True)
class Key:
    """One configuration key: its kind (``str``, ``int``, ``float``, ``list``) and default."""

    kind: str
    default: Any
    help: str
    choices: tuple[str, ...] = ()


KEYS: dict[str, Key] = {
    **{role: Key("str", spec.default, spec.help) for role, spec in ROLE_KEYS.items()},
    "image_mode": Key(
        "str",
        "registry",
        "'registry': use the images named below; 'build': build every image from its recipe",
        IMAGE_MODES,
    ),
    "base_image": Key("str", "debian:bookworm-slim", "base of every image built from a recipe"),
    "image_cache": Key(
        "str",
        "",
        "directory of saved images: loaded instead of building, built ones saved ('' = none)",
    ),
    "startup_timeout": Key("float", 60.0, "seconds a service may take to become ready"),
    "state_dir": Key(
        "str", ".stackyard", "kept stack's state and the integration test databases (untracked)"
    ),
    **{
        f"images.{name}": Key("str", service.registry_image, f"{name} image in registry mode")
        for name, service in SERVICES.items()
        if name != "worker"
    },
    "images.worker": Key(
        "str", "", "a ready worker image to run instead of building one ('' builds it)"
    ),
    **{
        f"recipes.{service}": Key(
            "str", "", f"directory of the {service} image's Dockerfile ('' = the shipped recipe)"
        )
        for service in RECIPE_SERVICES
    },
    "worker.source": Key("str", ".", "the worker's import root, mounted read-only at /app"),
    "worker.app": Key("str", "", "Celery app, 'package.module[:attribute]'"),
    "worker.settings": Key(
        "str", "", "DJANGO_SETTINGS_MODULE of the worker ('' = the test process's)"
    ),
    "worker.requirements": Key(
        "str", "", "what the worker image installs: a requirements file or pyproject.toml"
    ),
    "worker.constraints": Key("str", "", "pins for the worker image ('' for none)"),
    "worker.python": Key(
        "str", "", "Python of the worker image, 'X.Y' like '3.13' ('' = the test process's)"
    ),
    "worker.queues": Key("list", ["celery"], "queues the worker consumes"),
    "worker.concurrency": Key("int", 4, "worker threads"),
}


@dataclass(frozen=True)
class Config:
    """Validated configuration; paths are absolute."""

    root: Path
    values: Mapping[str, Any] = field(repr=False)  # a role's URL may hold a password
    declared: bool = False  # the project has a [tool.orchestrator] table
    # A bound on waiting for a service, from the caller (a test runner's own timeout), so
    # that a service's readiness error comes first; not part of the configuration proper.
    wait_limit: float | None = None

    @property
    def startup_timeout(self) -> float:
        """Seconds a service may take to become ready: ``startup_timeout``, within the limit."""
        configured = float(self.values["startup_timeout"])
        return configured if self.wait_limit is None else min(configured, self.wait_limit)

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
        shown = redact(value) if isinstance(value, str) else value
        raise ConfigError(
            f"{origin}: {key} = {shown!r} is not a valid {spec.kind} ({spec.help})"
        ) from None
    if key in ROLE_KEYS:
        parse(key, converted, origin)
    if spec.choices and converted not in spec.choices:
        choices = " or ".join(repr(choice) for choice in spec.choices)
        raise ConfigError(f"{origin}: {key} = {value!r}: expected {choices}")
    if spec.kind == "float" and not math.isfinite(converted):
        raise ConfigError(f"{origin}: {key} = {value!r}: expected a finite number")
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
    # Only the ORCHESTRATOR_* variables are kept: a traceback through here (pytest prints
    # the frames' arguments) must not show the rest of the environment.
    overrides = _overrides(os.environ if environ is None else environ)
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
        close = difflib.get_close_matches(unknown[0], KEYS, n=1)
        guess = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            f"{origin}: unknown key {unknown[0]!r}{guess}; known keys: {', '.join(sorted(KEYS))}"
        )
    values = {}
    for key, spec in KEYS.items():
        if key in overrides:
            values[key] = _convert(key, spec, overrides[key], env_name(key))
        elif key in given:
            values[key] = _convert(key, spec, given[key], origin)
        else:
            values[key] = spec.default
    config = Config(root=root.resolve(), values=values, declared="orchestrator" in tool_tables)
    _check_paths(config, origin, set(overrides))
    return config


def _overrides(environ: Mapping[str, str]) -> dict[str, str]:
    """The configuration keys the environment sets, with their values."""
    return {key: environ[env_name(key)] for key in KEYS if env_name(key) in environ}


def _check_paths(config: Config, origin: str, from_environment: set[str]) -> None:
    """Every path key names what exists (nothing is created for a wrong one), state_dir aside."""
    for key, kind in PATH_KEYS.items():
        value = str(config[key])
        if not value:
            continue
        where = env_name(key) if key in from_environment else origin
        path = config.path(key)
        problem = ""
        if kind == "dir" and not path.is_dir():
            problem = "no such directory"
        elif kind == "file" and not path.is_file():
            problem = "no such file"
        elif kind == "state" and path.exists() and not path.is_dir():
            problem = "exists and is not a directory"
        if problem:
            raise ConfigError(
                f"{where}: {key} = {value!r}: {problem} ({path}); {KEYS[key].help}. "
                "Fix the path, or run `orchestrator init` to infer it"
            )


def database_dir(config: Config) -> Path:
    """Where slices' SQLite test databases live (mounted into worker containers)."""
    return config.path("state_dir") / DATABASE_DIR


def find_project_root(start: Path) -> Path:
    """The nearest directory at or above ``start`` holding a pyproject.toml."""
    for directory in (start.resolve(), *start.resolve().parents):
        if (directory / "pyproject.toml").is_file():
            return directory
    return start.resolve()


def worker_settings_module(config: Config, environ: Mapping[str, str] | None = None) -> str:
    """The worker's DJANGO_SETTINGS_MODULE: ``worker.settings``, else the tests' own.

    The tests' own is the one pytest-django uses: the environment variable, else
    ``DJANGO_SETTINGS_MODULE`` in the project's pytest configuration.
    """
    environ = os.environ if environ is None else environ
    found = str(config["worker.settings"]) or environ.get("DJANGO_SETTINGS_MODULE", "")
    found = found or _pytest_ini_value(config.root, "DJANGO_SETTINGS_MODULE")
    if not found:
        raise ConfigError(
            "the worker needs a Django settings module: set DJANGO_SETTINGS_MODULE in the "
            "project's pytest configuration (`orchestrator init` does), or worker.settings "
            "in [tool.orchestrator]"
        )
    return found


def _pytest_ini_value(root: Path, name: str) -> str:
    """A key of the project's pytest configuration, from the file pytest itself reads, or ''."""
    # Imported here: reading pytest's files needs tomlkit, which nothing else at start-up does.
    from orchestrator.project_files import locate_pytest_config, pytest_values

    try:
        value = pytest_values(locate_pytest_config(root)).get(name)
    except OrchestratorError:
        return ""
    return value.strip() if isinstance(value, str) else ""
