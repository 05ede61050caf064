"""What the worker image of a project installs, found by ``orchestrator init``.

The worker needs the project's *runtime* dependencies: the first of
``RUNTIME_REQUIREMENTS`` that exists (at the root, then in the source root),
else ``[project].dependencies`` of pyproject.toml. Pins come from a pip-style
constraints or lock file. Tool-specific lock files (``uv.lock``, ``poetry.lock``,
...) cannot be installed by pip: the user is told the command that exports one.
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

RUNTIME_REQUIREMENTS = (
    "requirements.txt",
    "requirements/base.txt",
    "requirements/production.txt",
    "requirements/prod.txt",
    "requirements/common.txt",
    "requirements/main.txt",
    "requirements-prod.txt",
)
DEV_REQUIREMENTS = (
    "requirements-dev.txt",
    "requirements-test.txt",
    "requirements_dev.txt",
    "dev-requirements.txt",
    "test-requirements.txt",
    "requirements/dev.txt",
    "requirements/development.txt",
    "requirements/local.txt",
    "requirements/test.txt",
    "requirements/tests.txt",
)
CONSTRAINTS = ("constraints.txt", "requirements.lock", "requirements/constraints.txt")
# Lock files pip cannot read, and the command that exports one it can ({target}).
LOCK_EXPORTS = {
    "uv.lock": "uv export --no-hashes --no-dev --no-emit-project -o {target}",
    "poetry.lock": "poetry export --without-hashes --only main -o {target}",
    "pdm.lock": "pdm export --prod --without-hashes -o {target}",
    "Pipfile.lock": "pipenv requirements > {target}",
}
# What was found, and where it came from: ("requirements/base.txt", "the first ...").
Found = tuple[str, str]
REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
PIN = re.compile(r"^\s*[A-Za-z0-9][A-Za-z0-9._-]*(\[[^\]]*\])?\s*==")
# The distributions of a PostgreSQL driver Django uses (normalized names).
POSTGRES_DRIVERS = frozenset({"psycopg", "psycopg2", "psycopg-binary", "psycopg2-binary"})


def find_requirements(
    root: Path, source: Path, constraints: Found | None, notes: list[str]
) -> Found | None:
    """The runtime requirements file, else ``pyproject.toml``; lock files become notes."""
    found: Found | None = None
    for base in _bases(root, source):
        path = next((base / name for name in RUNTIME_REQUIREMENTS if (base / name).is_file()), None)
        if path:
            found = (_relative(root, path), "the first runtime requirements file")
            break
    if found is None and _project_dependencies(root / "pyproject.toml"):
        found = ("pyproject.toml", "[project].dependencies of pyproject.toml")
    notes.extend(_lock_notes(root, found, constraints))
    if found is None and not any((root / lock).is_file() for lock in LOCK_EXPORTS):
        notes.append(
            "no requirements file and no [project].dependencies: set worker.requirements by "
            'hand to the file listing the runtime dependencies ("requirements.txt")'
        )
    return found


def _lock_notes(root: Path, requirements: Found | None, constraints: Found | None) -> list[str]:
    """How to export each lock file pip cannot read: to the pins, or to the requirements."""
    key, target = ("worker.requirements", "requirements.txt")
    if requirements:
        key, target = ("worker.constraints", constraints[0] if constraints else "constraints.txt")
    then = (
        f"whenever the lock changes, to keep {target} in step"
        if constraints
        else f'and set {key} = "{target}" (run it again whenever the lock changes)'
    )
    return [
        f"{lock} cannot be installed by pip: run `{command.format(target=target)}` {then}"
        for lock, command in LOCK_EXPORTS.items()
        if (root / lock).is_file()
    ]


def find_constraints(root: Path, source: Path) -> Found | None:
    """A pip constraints or ``pip freeze``-style lock file (``name==version`` lines)."""
    for base in _bases(root, source):
        named = [base / name for name in CONSTRAINTS]
        named += sorted(base.glob("*.lock.txt")) + sorted(base.glob("requirements/*.lock.txt"))
        for path in named:
            if path.is_file() and _is_pinned(path):
                return (_relative(root, path), "pins, one name==version a line")
    return None


def _bases(root: Path, source: Path) -> list[Path]:
    return [root] if source == root else [root, source]


def _relative(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _is_pinned(path: Path) -> bool:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return any(PIN.match(line) for line in lines)


def _project_dependencies(pyproject: Path) -> list[str]:
    if not pyproject.is_file():
        return []
    try:
        document = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return []
    dependencies = document.get("project", {}).get("dependencies", [])
    return [item for item in dependencies if isinstance(item, str)]


def runtime_gaps(
    root: Path,
    requirements: str,
    settings: str,
    chain: list[Path],
    parse: Callable[[Path], ast.Module | None],
) -> list[str]:
    """Notes for the packages the settings use that only development files list.

    The worker runs with the test settings: what they import (or name in
    ``INSTALLED_APPS``) must be in what the worker installs.
    """
    if not requirements:
        return []
    runtime = set(_names_in(root, requirements))
    development = _development_names(root)
    gaps: list[str] = []
    for package in sorted({name for path in chain for name in _used_packages(parse(path))}):
        if _listed(package, runtime):
            continue
        listed_in = [where for where, names in development.items() if _listed(package, names)]
        if listed_in:
            gaps.append(
                f"the settings {settings} use {package}, which only {', '.join(listed_in)} "
                f"lists: the worker will not have it; add it to {requirements} (or set "
                "worker.settings to settings without it)"
            )
    return gaps


def dependency_lists(root: Path, requirements: str) -> dict[str, set[str]]:
    """Every list of the project's dependencies, by where it is: the worker's first.

    ``{"requirements/base.txt": {"django", ...}, "requirements/test.txt": {...}}``:
    requirements files (following ``-r``), pyproject.toml's dependencies, its
    optional ones and groups, and Poetry's.
    """
    lists = {requirements: set(_names_in(root, requirements))} if requirements else {}
    project = set(_normalized(_project_dependencies(root / "pyproject.toml")))
    for where, names in [("pyproject.toml", project), *_development_names(root).items()]:
        lists.setdefault(where, names)
    for where, names in _poetry_names(root / "pyproject.toml").items():
        lists.setdefault(where, names)
    return {where: names for where, names in lists.items() if names}


def _poetry_names(pyproject: Path) -> dict[str, set[str]]:
    """Poetry's dependency tables (``[tool.poetry.dependencies]``, its groups), by name."""
    try:
        document: dict[str, Any] = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}
    poetry = document.get("tool", {}).get("poetry", {})
    tables = {"pyproject.toml's Poetry dependencies": poetry.get("dependencies", {})}
    for group, table in poetry.get("group", {}).items():
        if isinstance(table, dict):
            tables[f"pyproject.toml's Poetry {group} group"] = table.get("dependencies", {})
    return {
        where: set(_normalized(str(name) for name in table))
        for where, table in tables.items()
        if isinstance(table, dict)
    }


def _names_in(root: Path, requirements: str) -> list[str]:
    if requirements == "pyproject.toml":
        return _normalized(_project_dependencies(root / requirements))
    return _normalized(_requirement_lines(root / requirements, set()))


def _requirement_lines(path: Path, seen: set[Path]) -> Iterator[str]:
    """The requirement lines of a file, following ``-r other.txt``."""
    if path in seen or not path.is_file():
        return
    seen.add(path)
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith(("-r ", "--requirement ")):
            yield from _requirement_lines(path.parent / line.split(None, 1)[1], seen)
        elif line and not line.startswith("-"):
            yield line


def _development_names(root: Path) -> dict[str, set[str]]:
    names = {
        name: set(_normalized(_requirement_lines(root / name, set())))
        for name in DEV_REQUIREMENTS
        if (root / name).is_file()
    }
    pyproject = root / "pyproject.toml"
    try:
        document: dict[str, Any] = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return names
    groups = {
        **document.get("project", {}).get("optional-dependencies", {}),
        **document.get("dependency-groups", {}),
    }
    for group, items in groups.items():
        strings = [item for item in items if isinstance(item, str)]
        names[f"pyproject.toml's {group} group"] = set(_normalized(strings))
    return names


def _normalized(requirements: Iterable[str]) -> list[str]:
    return [
        _normal(match.group(1))
        for match in map(REQUIREMENT_NAME.match, requirements)
        if match is not None
    ]


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _listed(package: str, distributions: set[str]) -> bool:
    """Whether an import name is a distribution's (``debug_toolbar``, ``django-debug-toolbar``)."""
    wanted = _normal(package)
    return any(name == wanted or name.endswith(f"-{wanted}") for name in distributions)


def _used_packages(module: ast.Module | None) -> Iterator[str]:
    """Top-level packages a settings module imports or names in ``INSTALLED_APPS``."""
    for node in ast.walk(module) if module else ():
        if isinstance(node, ast.Import):
            yield from (alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            yield node.module.partition(".")[0]
        elif isinstance(node, ast.Assign | ast.AugAssign) and _assigns(node, "INSTALLED_APPS"):
            for item in ast.walk(node.value):
                if isinstance(item, ast.Constant) and isinstance(item.value, str):
                    yield item.value.partition(".")[0]


def _assigns(node: ast.Assign | ast.AugAssign, name: str) -> bool:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return any(isinstance(target, ast.Name) and target.id == name for target in targets)
