"""What ``orchestrator init`` reads from a Django + Channels + Celery project.

Everything is static: Python files are parsed into ASTs, other files read as
text; the project's code is never imported. Each value found carries where it
came from, for the report, and what could not be decided becomes a note for the
user to check. :func:`infer` is the one entry point::

    infer(SourceTree(Path(".")), pytest_settings="", pytest_paths=[])
    # Inference(settings=SettingsModule("config.settings.test", ...),
    #           source=Found("src", "..."), app=Found("config.celery:app", "..."), ...)
"""

from __future__ import annotations

import ast
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.dependencies import (
    POSTGRES_DRIVERS,
    dependency_lists,
    find_constraints,
    find_requirements,
    runtime_gaps,
)
from orchestrator.errors import OrchestratorError
from orchestrator.queues import find_queues, settings_set

# Directories that hold no project code, or too much of someone else's.
SKIPPED_DIRS = frozenset(
    {"node_modules", "__pycache__", "site-packages", "build", "dist", "htmlcov", "static"}
)
MAX_DEPTH = 6  # a project's packages sit a few levels down; deeper is vendored code
ENTRY_POINTS = ("manage.py", "asgi.py", "wsgi.py")
TEST_FLAVOURS = ("test", "tests", "testing", "test_settings", "ci")
WORKER_FLAVOURS = ("worker", "celery_worker", "worker_settings")
# Settings naming Celery's broker: Django's (namespace "CELERY", or Celery 3's), the app's.
BROKER_NAMES = frozenset({"CELERY_BROKER_URL", "BROKER_URL", "broker_url", "broker"})
SQLITE = "the default: a SQLite file per test process, shared with the worker"


class InitError(OrchestratorError):
    """``orchestrator init`` cannot go on; the message says what is missing and what to do."""


@dataclass(frozen=True)
class Found:
    """A value found in the project, and where: ``Found("src", "import root of ...")``.

    ``check``: what the user should check when this value is used, if anything.
    """

    value: str | list[str]
    origin: str
    check: str = ""


@dataclass(frozen=True)
class SettingsModule:
    """A Django settings module, its file, and the directory that makes it importable."""

    name: str
    path: Path
    source: Path
    origin: str


@dataclass
class Inference:
    """Everything inferred; ``None`` where nothing was found (``notes`` says so)."""

    settings: SettingsModule
    source: Found
    app: Found | None = None
    worker_settings: Found | None = None
    requirements: Found | None = None
    constraints: Found | None = None
    queues: Found = field(default_factory=lambda: Found(["celery"], "Celery's default queue"))
    # Roles of [tool.orchestrator] (broker, database): the role's default when nothing
    # says otherwise, ``origin`` saying why.
    roles: dict[str, Found] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class SourceTree:
    """The project's Python files, each parsed at most once.

    Walks skip hidden directories, virtualenvs (any directory with a ``pyvenv.cfg``),
    ``SKIPPED_DIRS`` and whatever lies deeper than ``MAX_DEPTH`` below the root.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.directories: list[Path] = []
        self.files: list[Path] = []
        self._modules: dict[Path, ast.Module | None] = {}
        for directory, subdirectories, names in os.walk(root):
            here = Path(directory)
            self.directories.append(here)
            self.files.extend(here / name for name in sorted(names) if name.endswith(".py"))
            deep = len(here.relative_to(root).parts) >= MAX_DEPTH
            kept = [name for name in subdirectories if _searched(here / name)]
            subdirectories[:] = [] if deep else sorted(kept)
        self.directories.sort(key=lambda path: len(path.parts))

    def under(self, directory: Path) -> list[Path]:
        """The Python files below ``directory``."""
        return [path for path in self.files if path.is_relative_to(directory)]

    def parse(self, path: Path) -> ast.Module | None:
        """The module's AST, or ``None`` when it is not readable Python."""
        if path not in self._modules:
            try:
                self._modules[path] = ast.parse(path.read_text(encoding="utf-8"), str(path))
            except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
                self._modules[path] = None
        return self._modules[path]

    def relative(self, path: Path) -> str:
        """``path`` as the report shows it: relative to the project, with slashes."""
        if not path.is_relative_to(self.root):
            return str(path)  # a pythonpath entry outside the project
        return path.relative_to(self.root).as_posix() if path != self.root else "."

    def locate(
        self, module: str, first: Sequence[Path] = (), anywhere: bool = True
    ) -> tuple[Path, Path] | None:
        """The file of ``module`` and its import root: one of ``first``, else (``anywhere``)
        the shallowest directory of the project that makes it importable."""
        if not all(part.isidentifier() for part in module.split(".")):
            return None
        tail = Path(*module.split("."))
        for base in [*first, *(self.directories if anywhere else [])]:
            for candidate in (base / tail.parent / f"{tail.name}.py", base / tail / "__init__.py"):
                if candidate.is_file():
                    return candidate, base
        return None


def _searched(directory: Path) -> bool:
    hidden = directory.name.startswith(".") or directory.name in SKIPPED_DIRS
    return not hidden and not (directory / "pyvenv.cfg").exists()


def infer(tree: SourceTree, pytest_settings: str, pytest_paths: Sequence[str]) -> Inference:
    """Infer the worker's and pytest's configuration of the project at ``tree.root``.

    ``pytest_settings`` and ``pytest_paths``: ``DJANGO_SETTINGS_MODULE`` and
    ``pythonpath`` of the project's pytest configuration, if any ("" and []).
    """
    root = tree.root
    notes: list[str] = []
    settings = find_settings(tree, pytest_settings, pytest_paths)
    source = Found(tree.relative(settings.source), f"import root of {tree.relative(settings.path)}")
    found = Inference(settings=settings, source=source, notes=notes)
    found.worker_settings = _worker_settings(tree, settings)
    found.app = find_celery_app(tree, settings, notes)
    chain = settings_chain(tree, settings)
    app_module = str(found.app.value).partition(":")[0] if found.app else ""
    located = tree.locate(app_module, [settings.source]) if app_module else None
    modules = chain + ([located[0]] if located else [])
    found.queues = Found(*find_queues(tree, modules, settings.source, notes))
    constraints = find_constraints(root, settings.source)
    requirements = find_requirements(root, settings.source, constraints, notes)
    found.requirements = Found(*requirements) if requirements else None
    found.constraints = Found(*constraints) if constraints else None
    wanted = requirements[0] if requirements else ""
    notes.extend(runtime_gaps(root, wanted, settings.name, chain, tree.parse))
    found.roles = {
        "broker": find_broker(tree, modules),
        "database": find_database(tree, chain, dependency_lists(root, wanted), wanted),
    }
    return found


def find_settings(
    tree: SourceTree, pytest_settings: str, pytest_paths: Sequence[str]
) -> SettingsModule:
    """The test settings: pytest's if it names a module here, else the entry points'."""
    roots = [tree.root / path for path in pytest_paths] + [tree.root, tree.root / "src"]
    if pytest_settings:
        located = tree.locate(pytest_settings, roots)
        if located:
            return SettingsModule(pytest_settings, *located, "the pytest configuration")
    declared = _declared_settings(tree)
    if declared is None:
        named = f"names {pytest_settings!r}, not in the project" if pytest_settings else "none"
        raise InitError(
            f"no Django settings found in {tree.root}: no manage.py, asgi.py or wsgi.py sets "
            f"DJANGO_SETTINGS_MODULE and the pytest configuration {named}; run "
            "`orchestrator init --project DIR` with the directory holding manage.py, or set "
            "DJANGO_SETTINGS_MODULE in [tool.pytest.ini_options] first"
        )
    name, entry = declared
    located = tree.locate(name, [entry.parent, *roots])
    if located is None:
        raise InitError(
            f"{tree.relative(entry)} sets DJANGO_SETTINGS_MODULE = {name!r}, a module found "
            "nowhere in the project; fix it, or set DJANGO_SETTINGS_MODULE in "
            "[tool.pytest.ini_options] first"
        )
    settings = SettingsModule(name, *located, f"{tree.relative(entry)} sets it")
    return _test_flavoured(tree, settings)


def _declared_settings(tree: SourceTree) -> tuple[str, Path] | None:
    """The ``DJANGO_SETTINGS_MODULE`` that manage.py (else asgi.py, wsgi.py) sets."""
    for entry_point in ENTRY_POINTS:
        named = [path for path in tree.files if path.name == entry_point]
        for path in sorted(named, key=lambda path: len(path.parts)):
            module = tree.parse(path)
            value = _setdefault_value(module) if module else None
            if value:
                return value, path
    return None


def _setdefault_value(module: ast.Module) -> str | None:
    """``"x"`` of ``os.environ.setdefault("DJANGO_SETTINGS_MODULE", "x")`` (or ``[...] = "x"``)."""
    for node in ast.walk(module):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "setdefault"
            and len(node.args) == 2
            and _constant(node.args[0]) == "DJANGO_SETTINGS_MODULE"
            and _constant(node.args[1])
        ):
            return _constant(node.args[1])
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Subscript)
            and _constant(target.slice) == "DJANGO_SETTINGS_MODULE"
            for target in node.targets
        ):
            return _constant(node.value) or None
    return None


def _constant(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _siblings(settings: SettingsModule) -> dict[str, str]:
    """Modules of the settings' family, by flavour: ``{"test": "config.settings.test"}``.

    A family is a settings package (``config/settings/{base,test}.py``) or
    ``settings*.py`` files side by side (``settings.py``, ``settings_ci.py``).
    """
    path, name = settings.path, settings.name
    if path.name == "__init__.py":
        return {file.stem: f"{name}.{file.stem}" for file in _modules_in(path.parent)}
    package = name.rpartition(".")[0]
    prefix = f"{package}." if package else ""
    if path.parent.name.endswith("settings"):
        return {file.stem: prefix + file.stem for file in _modules_in(path.parent)}
    if "settings" in path.stem:
        family = [file for file in _modules_in(path.parent) if "settings" in file.stem]
        return {file.stem.removeprefix("settings_"): prefix + file.stem for file in family}
    return {}


def _modules_in(directory: Path) -> list[Path]:
    return sorted(path for path in directory.glob("*.py") if path.name != "__init__.py")


def _flavour(module: str) -> str:
    return module.rpartition(".")[2].removeprefix("settings_")


def _test_flavoured(tree: SourceTree, settings: SettingsModule) -> SettingsModule:
    """The settings' test sibling if it has one (``config.settings.test`` for ``...dev``)."""
    if _flavour(settings.name) in TEST_FLAVOURS:
        return settings
    siblings = _siblings(settings)
    for flavour in TEST_FLAVOURS:
        sibling = siblings.get(flavour)
        located = tree.locate(sibling, [settings.source]) if sibling else None
        if sibling and located:
            origin = f"{settings.origin} to {settings.name}; its test sibling is {sibling}"
            return SettingsModule(sibling, *located, origin)
    return settings


def _worker_settings(tree: SourceTree, settings: SettingsModule) -> Found | None:
    """A sibling settings module named for the worker (``config/settings/worker.py``)."""
    for flavour, sibling in sorted(_siblings(settings).items()):
        located = tree.locate(sibling, [settings.source])
        if flavour in WORKER_FLAVOURS and sibling != settings.name and located:
            return Found(sibling, f"{tree.relative(located[0])}, named for the worker")
    return None


@dataclass(frozen=True)
class CeleryApp:
    """A module-level ``NAME = Celery(...)``: ``CeleryApp("config.celery", "app", path, 7)``."""

    module: str
    attribute: str
    path: Path
    line: int

    @property
    def reference(self) -> str:
        return f"{self.module}:{self.attribute}"


def find_celery_app(tree: SourceTree, settings: SettingsModule, notes: list[str]) -> Found | None:
    """The Celery app below the source root; the one the project package imports wins."""
    apps = [
        app
        for path in tree.under(settings.source)
        if not _is_test_file(settings.source, path)
        for app in _celery_apps(tree, settings.source, path)
    ]
    if not apps:
        notes.append(
            f"no `app = Celery(...)` found below {tree.relative(settings.source)}: set "
            'worker.app (and orchestrator_celery_app) by hand, as "package.module:app"'
        )
        return None
    imported = _imported_by_project(tree, settings, apps)
    top = settings.name.partition(".")[0]
    ranked = [found.app for found in imported] + sorted(
        apps, key=lambda app: (app.module.partition(".")[0] != top, app.module)
    )
    chosen = ranked[0]
    where = f"Celery(...) at {tree.relative(chosen.path)}:{chosen.line}"
    if imported:
        where += f", imported by {tree.relative(imported[0].importer)}"
    if len(apps) > 1 and not imported:
        others = ", ".join(app.reference for app in apps if app != chosen)
        notes.append(
            f"several Celery apps: took {chosen.reference}, not {others}; check worker.app"
        )
    return Found(chosen.reference, where)


def _is_test_file(source: Path, path: Path) -> bool:
    parts = path.relative_to(source).parts
    return path.name == "conftest.py" or any(
        part in ("tests", "test") or part.startswith("test_") for part in parts
    )


def _module_name(source: Path, path: Path) -> str:
    parts = path.relative_to(source).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _celery_apps(tree: SourceTree, source: Path, path: Path) -> Iterator[CeleryApp]:
    """Module-level assignments of a ``celery.Celery`` instance in ``path``."""
    try:
        if "Celery" not in path.read_text(encoding="utf-8", errors="replace"):
            return
    except OSError:
        return
    module = tree.parse(path)
    if module is None:
        return
    classes, packages = _celery_names(module)
    for statement in module.body:
        value: ast.expr | None
        targets: list[ast.expr]
        if isinstance(statement, ast.Assign):
            value, targets = statement.value, statement.targets
        elif isinstance(statement, ast.AnnAssign):
            value, targets = statement.value, [statement.target]
        else:
            continue
        if not isinstance(value, ast.Call) or not _is_celery(value.func, classes, packages):
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                yield CeleryApp(_module_name(source, path), target.id, path, statement.lineno)


def _celery_names(module: ast.Module) -> tuple[set[str], set[str]]:
    """Local names of the ``Celery`` class and of the ``celery`` package in ``module``."""
    classes: set[str] = set()
    packages: set[str] = set()
    for node in ast.walk(module):
        if isinstance(node, ast.ImportFrom) and node.module == "celery" and not node.level:
            classes.update(
                alias.asname or alias.name for alias in node.names if alias.name == "Celery"
            )
        elif isinstance(node, ast.Import):
            packages.update(
                alias.asname or alias.name for alias in node.names if alias.name == "celery"
            )
    return classes, packages


def _is_celery(func: ast.expr, classes: set[str], packages: set[str]) -> bool:
    if isinstance(func, ast.Name):
        return func.id in classes
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "Celery"
        and isinstance(func.value, ast.Name)
        and func.value.id in packages
    )


@dataclass(frozen=True)
class ImportedApp:
    """A Celery app and the package ``__init__.py`` that imports it."""

    app: CeleryApp
    importer: Path


def _imported_by_project(
    tree: SourceTree, settings: SettingsModule, apps: list[CeleryApp]
) -> list[ImportedApp]:
    """The apps that a package holding the settings imports in its ``__init__``.

    Django's convention: ``config/__init__.py`` does ``from .celery import app as celery_app``.
    """
    parts = settings.name.split(".")
    imported: list[ImportedApp] = []
    for depth in range(1, len(parts)):
        package = parts[:depth]
        init = settings.source.joinpath(*package, "__init__.py")
        module = tree.parse(init) if init.is_file() else None
        for node in ast.walk(module) if module else ():
            if not isinstance(node, ast.ImportFrom):
                continue
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join([*base, *(node.module or "").split(".")]).strip(".")
            names = {alias.name for alias in node.names}
            imported += [
                ImportedApp(app, init)
                for app in apps
                if app.module == target and app.attribute in names
            ]
    return imported


def settings_chain(tree: SourceTree, settings: SettingsModule) -> list[Path]:
    """The settings file and those it star-imports (``from .base import *``), derived first."""
    chain: list[Path] = []
    pending = [(settings.name, settings.path)]
    while pending:
        name, path = pending.pop(0)
        module = tree.parse(path)
        if path in chain or module is None:
            continue
        chain.append(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(module):
            if isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names):
                target = _absolute(package, node)
                located = tree.locate(target, [settings.source])
                if located:
                    pending.append((target, located[0]))
    return chain


def _absolute(package: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = package.split(".") if package else []
    base = parts[: len(parts) - node.level + 1]
    return ".".join([*base, *([node.module] if node.module else [])])


@dataclass(frozen=True)
class Evidence:
    """What one setting says of a server: ``Evidence(12, "postgres", 'ENGINE "..." in ...')``.

    ``kind``: ``postgres``, ``sqlite``, ``redis``, ``rabbitmq``, ``other`` (a server
    stackyard does not serve) or ``unknown`` (not readable statically).
    """

    line: int
    kind: str
    origin: str


def find_database(
    tree: SourceTree, chain: list[Path], dependencies: dict[str, set[str]], requirements: str
) -> Found:
    """The ``database`` role from the settings' ``DATABASES``: ``postgres`` or ``sqlite``.

    A URL read at run time (dj-database-url, ``env.db()``) is PostgreSQL when the
    project depends on a PostgreSQL driver; an engine stackyard does not serve is a check.
    """
    drivers = [
        (where, sorted(names & POSTGRES_DRIVERS))
        for where, names in dependencies.items()
        if names & POSTGRES_DRIVERS
    ]
    evidence = _last_evidence(tree, chain, _database_evidence)
    if evidence is None:
        return Found("sqlite", f"no DATABASES ENGINE in the settings; {SQLITE}")
    if evidence.kind == "postgres":
        return Found("postgres", evidence.origin, _driver_check(drivers, requirements))
    if evidence.kind == "sqlite":
        # Test settings often put the fast layer on a SQLite file over a PostgreSQL base:
        # the integration layer then runs on what the project runs on.
        base = _last_evidence(tree, chain[1:], _database_evidence)
        if base is not None and base.kind == "postgres":
            origin = (
                f"{base.origin}; the test settings' SQLite ({evidence.origin}) stays the fast "
                "layer's"
            )
            return Found("postgres", origin, _driver_check(drivers, requirements))
        return Found("sqlite", f"{evidence.origin}; {SQLITE}")
    if evidence.kind == "other":
        return Found(
            "sqlite",
            f"{evidence.origin}: neither SQLite nor PostgreSQL; the default",
            f"database: {evidence.origin}: stackyard's test database is SQLite or PostgreSQL; "
            'the tests and the worker run on SQLite unless database = "postgres"',
        )
    if drivers:
        where, names = drivers[0]
        origin = f"{evidence.origin}; {names[0]} in {where}: PostgreSQL"
        return Found("postgres", origin, _driver_check(drivers, requirements))
    return Found(
        "sqlite",
        f"{evidence.origin}, no PostgreSQL driver among the dependencies; {SQLITE}",
        f'database: {evidence.origin}: set database = "postgres" if it is PostgreSQL',
    )


def _driver_check(drivers: list[tuple[str, list[str]]], requirements: str) -> str:
    """What to check of the PostgreSQL driver the worker installs ('' when it has one)."""
    if requirements and any(where == requirements for where, _ in drivers):
        return ""
    target = requirements or "the worker's requirements"
    if drivers:
        where, names = drivers[0]
        return (
            f'database = "postgres": only {where} lists {names[0]}, which the worker will not '
            f"install; add it to {target}"
        )
    return (
        'database = "postgres": no PostgreSQL driver (psycopg, psycopg2) among the '
        f"dependencies; the worker image and the tests need one: add psycopg[binary] to {target}"
    )


def find_broker(tree: SourceTree, modules: list[Path]) -> Found:
    """The ``broker`` role: ``redis`` when the broker setting is a Redis URL, else the default.

    Read from the settings chain then the Celery app's module: a literal URL (or
    one an f-string starts with, or the default of an environment lookup), else a
    name saying REDIS (``REDIS_URL``). Anything else keeps RabbitMQ, the default.
    """
    evidence = _last_evidence(tree, modules, _broker_evidence)
    if evidence is not None and evidence.kind == "redis":
        return Found("redis", evidence.origin)
    if evidence is not None:
        return Found("rabbitmq", f"{evidence.origin}; the default")
    settings = [
        f"{name} in {tree.relative(path)}"
        for path in modules
        for node in _nodes(tree, path)
        for name, _ in _broker_settings(node)
    ]
    if settings:
        return Found(
            "rabbitmq",
            f"{settings[0]} is no Redis URL that can be read; the default "
            '(set broker = "redis" if the broker is Redis)',
        )
    return Found("rabbitmq", "no broker URL in the settings or the Celery module; the default")


def _nodes(tree: SourceTree, path: Path) -> Iterator[ast.AST]:
    module = tree.parse(path)
    return ast.walk(module) if module else iter(())


def _last_evidence(
    tree: SourceTree, modules: list[Path], read: Callable[[ast.AST, str], Evidence | None]
) -> Evidence | None:
    """The last evidence of the first module that has any (derived settings first)."""
    for path in modules:
        where = tree.relative(path)
        found = [evidence for node in _nodes(tree, path) if (evidence := read(node, where))]
        if found:
            return max(found, key=lambda evidence: evidence.line)
    return None


def _database_evidence(node: ast.AST, where: str) -> Evidence | None:
    """What an assignment to ``DATABASES`` (or its default, or its ENGINE) says."""
    if not isinstance(node, ast.Assign | ast.AnnAssign) or node.value is None:
        return None
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    for target in targets:
        path = _subscripts(target)
        if path == ["DATABASES"] and isinstance(node.value, ast.Dict):
            default = _item(node.value, "default")
            return _default_evidence(default, node.lineno, where) if default else None
        if path == ["DATABASES"] or path == ["DATABASES", "default"]:
            return _default_evidence(node.value, node.lineno, where)
        if path == ["DATABASES", "default", "ENGINE"]:
            return _engine_evidence(node.value, node.lineno, where)
    return None


def _subscripts(target: ast.expr) -> list[str]:
    """``["DATABASES", "default"]`` for ``DATABASES["default"]``; [] for anything else."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Subscript):
        key = _constant(target.slice)
        inner = _subscripts(target.value)
        return [*inner, key] if inner and key else []
    return []


def _item(mapping: ast.Dict, key: str) -> ast.expr | None:
    return next(
        (v for k, v in zip(mapping.keys, mapping.values, strict=True) if _constant(k) == key),
        None,
    )


def _default_evidence(value: ast.expr, line: int, where: str) -> Evidence | None:
    """A default database: a literal dict's ENGINE, else a URL read at run time.

    A dict without ENGINE says what a call it spreads says (``{**env.db(), ...}``).
    """
    if isinstance(value, ast.Dict):
        engine = _item(value, "ENGINE")
        calls = [
            v
            for k, v in zip(value.keys, value.values, strict=True)
            if k is None and isinstance(v, ast.Call)
        ]
        if engine or not calls:
            return _engine_evidence(engine, line, where) if engine else None
        return _default_evidence(calls[-1], line, where)
    if not isinstance(value, ast.Call):
        return Evidence(line, "unknown", f"DATABASES in {where} is not a literal")
    origin = f"DATABASES in {where} is read at run time ({ast.unparse(value.func)}(...))"
    schemes = {text.partition("://")[0] for text in _texts(value) if "://" in text}
    kinds = {_database_kind(scheme) for scheme in schemes}
    if len(kinds) == 1:
        return Evidence(line, kinds.pop(), f"{origin}, by default a {min(schemes)}:// URL")
    return Evidence(line, "unknown", origin)


def _texts(value: ast.expr) -> list[str]:
    """The string literals in an expression (f-strings' literal parts included)."""
    return [
        node.value
        for node in ast.walk(value)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def _engine_evidence(value: ast.expr, line: int, where: str) -> Evidence:
    """An ENGINE: a literal, else the one literal engine it defaults to (``env(..., "x")``)."""
    engine = _constant(value)
    if engine:
        return Evidence(line, _database_kind(engine), f'ENGINE "{engine}" in {where}')
    engines = {text for text in _texts(value) if ".backends." in text}
    if len(engines) == 1:
        engine = engines.pop()
        return Evidence(line, _database_kind(engine), f'ENGINE in {where} defaults to "{engine}"')
    return Evidence(line, "unknown", f"ENGINE in {where} is not a literal")


def _database_kind(engine: str) -> str:
    """``postgres``, ``sqlite`` or ``other``, of an ENGINE or a URL's scheme."""
    name = engine.lower()
    if "postg" in name or "pgsql" in name:
        return "postgres"
    return "sqlite" if "sqlite" in name or "spatialite" in name else "other"


def _broker_settings(node: ast.AST) -> Iterator[tuple[str, ast.expr]]:
    """``(name, value)`` of the broker settings ``node`` sets, in any spelling."""
    return settings_set(node, BROKER_NAMES)


def _broker_evidence(node: ast.AST, where: str) -> Evidence | None:
    """What a broker setting says: a Redis or an AMQP URL, else a name saying REDIS."""
    for name, value in _broker_settings(node):
        line = getattr(node, "lineno", 0)
        texts = _texts(value)
        kinds = {_broker_kind(text) for text in texts if "://" in text} - {"other"}
        if len(kinds) == 1:
            kind = kinds.pop()
            url = "a Redis URL" if kind == "redis" else "an AMQP URL"
            verb = "is" if _constant(value) else "holds"
            return Evidence(line, kind, f"{name} in {where} {verb} {url}")
        words = [text for text in texts if "://" not in text] + list(_names(value))
        redis = next((word for word in words if "redis" in word.lower()), "")
        if not kinds and redis:
            return Evidence(line, "redis", f"{name} in {where} is read from {redis}")
    return None


def _broker_kind(url: str) -> str:
    scheme = url.strip().partition("://")[0].lower()
    if scheme in ("redis", "rediss"):
        return "redis"
    return "rabbitmq" if scheme in ("amqp", "amqps", "pyamqp", "librabbitmq") else "other"


def _names(value: ast.expr) -> Iterator[str]:
    for node in ast.walk(value):
        if isinstance(node, ast.Name):
            yield node.id
        elif isinstance(node, ast.Attribute):
            yield node.attr
