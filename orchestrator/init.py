"""``orchestrator init``: infer a project's stackyard configuration and write it.

Run in a Django + Channels + Celery project, it reads the project statically
(:mod:`orchestrator.inference`), prints every key with where its value came
from and what the user should check, then writes:

- ``[tool.orchestrator.worker]`` of pyproject.toml (a missing pyproject.toml is
  created holding only that table): ``source``, ``app``, ``requirements``,
  ``constraints``, ``queues``, and ``settings`` only for settings written for the
  worker;
- the roles of ``[tool.orchestrator]`` that differ from their defaults:
  ``database = "postgres"`` for PostgreSQL settings, ``broker = "redis"`` for a
  Redis broker URL (a role left at its default is reported, not written);
- ``DJANGO_SETTINGS_MODULE``, ``pythonpath`` (when the source root is not the
  project's) and ``orchestrator_celery_app`` where the project keeps its pytest
  configuration, pyproject.toml if nowhere.

Guarantees: a value the user set is kept unless it is invalid (then it is
replaced, and the report says so); no other file is created or changed; a
second run changes nothing and says so; a dry run prints the diffs and writes
nothing.
"""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from orchestrator.errors import ConfigError
from orchestrator.inference import Found, Inference, InitError, SourceTree, infer
from orchestrator.project_files import (
    PytestConfig,
    edit_ini,
    edit_toml,
    locate_pytest_config,
    pytest_paths,
    pytest_values,
    read_text,
    settings_option,
    toml_table,
    write_text,
)
from orchestrator.roles import ROLE_KEYS, parse
from orchestrator.services.base import redact

__all__ = ["InitError", "run_init"]

ROLES_TABLE = "tool.orchestrator"
WORKER_TABLE = "tool.orchestrator.worker"
SETTINGS_KEY = "DJANGO_SETTINGS_MODULE"
CELERY_APP_KEY = "orchestrator_celery_app"
# Keys written only when something was found: most projects need neither.
OPTIONAL_KEYS = frozenset({"worker.settings", "worker.constraints"})

Check = Callable[[Any], str]  # the problem with a value, '' when it is valid


@dataclass(frozen=True)
class Decision:
    """What init does with one key: ``Decision("worker.app", "config.celery:app", "set", ...)``.

    ``action`` is ``set`` or ``replaced`` (written), ``kept`` (the user's value),
    ``invalid`` (the user's, invalid, nothing to replace it), ``unset`` or
    ``default`` (a role left unwritten at its default).
    ``check`` is what the user should look at, if anything.
    """

    key: str
    value: Any
    action: str
    origin: str
    check: str = ""

    @property
    def writes(self) -> bool:
        return self.action in ("set", "replaced")

    def line(self) -> str:
        shown = self.key if self.value is None else f"{self.key} = {_shown(self.value)}"
        return f"  {self.action:<8} {shown}  ({self.origin})"


def _shown(value: Any) -> str:
    return json.dumps(value, default=str)


def run_init(project: Path, dry_run: bool = False, out: TextIO | None = None) -> int:
    """Infer the configuration of ``project``, report it (to stdout) and write it; 0."""
    out = out or sys.stdout
    root = project.resolve()
    if not root.is_dir():
        raise InitError(f"{project}: no such directory; pass the project's with --project DIR")
    pytest_config = locate_pytest_config(root)
    given = pytest_values(pytest_config)
    settings = str(given.get(SETTINGS_KEY) or settings_option(given))
    tree = SourceTree(root)
    found = infer(tree, settings, pytest_paths(given))
    existing = _flatten(toml_table(root / "pyproject.toml", ROLES_TABLE))
    roles = [_role_decision(key, existing.get(key), value) for key, value in found.roles.items()]
    worker = _worker_decisions(tree, found, existing)
    pytest = _pytest_decisions(tree, found, worker, given)
    changes = _changes(root, pytest_config, roles, worker, pytest)
    _report(out, root, pytest_config, [roles, worker, pytest], found.notes)
    _finish(out, root, changes, dry_run)
    return 0


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in table.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{name}."))
        else:
            flat[f"{prefix}{name}"] = value
    return flat


def decide(key: str, existing: Any, found: Found | None, check: Check) -> Decision | None:
    """Keep a valid existing value, else take the found one; ``None``: nothing to say."""
    if existing is not None:
        problem = check(existing)
        if not problem:
            return _kept(key, existing, found)
        if found is None:
            return Decision(key, existing, "invalid", problem, f"{key}: {problem}; fix it by hand")
        origin = f"was {_shown(existing)}: {problem}; {found.origin}"
        return Decision(key, found.value, "replaced", origin)
    if found is None:
        return None if key in OPTIONAL_KEYS else Decision(key, None, "unset", "nothing found")
    return Decision(key, found.value, "set", found.origin)


def _kept(key: str, existing: Any, found: Found | None) -> Decision:
    if found is None or _agrees(existing, found.value):
        return Decision(key, existing, "kept", "already set")
    inferred = f"inferred {_shown(found.value)} ({found.origin})"
    return Decision(key, existing, "kept", "already set; differs", f"{key}: kept; {inferred}")


def _agrees(existing: Any, inferred: Any) -> bool:
    """Whether a kept value says what was inferred (queues: at least those; apps: same module)."""
    if isinstance(existing, str) and isinstance(inferred, list):
        existing = [name.strip() for name in existing.split(",")]
    if isinstance(existing, list) and isinstance(inferred, list):
        return set(inferred) <= set(existing)
    if isinstance(existing, str) and isinstance(inferred, str) and ":" in inferred:
        module = inferred.partition(":")[0]
        return existing == inferred or f"{module}.".startswith(f"{existing}.")
    return bool(existing == inferred)


def _role_decision(key: str, existing: Any, found: Found) -> Decision:
    """A role: the default is reported, not written; a set value is kept if valid.

    ``found.check`` is said when the found value is the one used.
    """
    inferred = found if found.value != ROLE_KEYS[key].default else None
    if existing is None and inferred is None:
        return Decision(key, found.value, "default", found.origin, found.check)
    problem = _role_problem(key)
    shown = redact(existing) if isinstance(existing, str) else existing  # a URL's password
    if existing is not None and not problem(existing):
        if parse(key, existing, ROLES_TABLE).service == found.value:
            return Decision(key, shown, "kept", "already set", found.check)
        if inferred is None:
            return Decision(key, shown, "kept", "already set")
    decision = decide(key, existing, inferred, problem)
    assert decision is not None  # a role is never optional
    if not decision.writes:
        return replace(decision, value=shown)
    return replace(decision, check=decision.check or found.check)


def _role_problem(key: str) -> Check:
    def check(value: Any) -> str:
        if not isinstance(value, str):
            return "not a string"
        try:
            parse(key, value, ROLES_TABLE)
        except ConfigError as error:
            # "tool.orchestrator: database = 'x': expected ...": what follows the value.
            message = str(error).removeprefix(f"{ROLES_TABLE}: ")
            return message.removeprefix(f"{key} = {redact(value)!r}: ")
        return ""

    return check


class Checks:
    """Whether values are usable, given the project and the worker's import root.

    ``strict``: modules must import from ``source`` (the worker's); otherwise from
    anywhere in the project (pytest-django also adds manage.py's directory).
    """

    def __init__(self, tree: SourceTree, source: Path, strict: bool = True) -> None:
        self.tree = tree
        self.source = source
        self.strict = strict

    def directory(self, value: Any) -> str:
        if not isinstance(value, str):
            return "not a string"
        return "" if (self.tree.root / value).is_dir() else "no such directory"

    def file(self, value: Any) -> str:
        if not isinstance(value, str):
            return "not a string"
        return "" if not value or (self.tree.root / value).is_file() else "no such file"

    def module(self, value: Any) -> str:
        if not isinstance(value, str):
            return "not a string"
        module, _, attribute = value.partition(":")
        if attribute and not attribute.isidentifier():
            return "not 'package.module[:attribute]'"
        found = self.tree.locate(module, [self.source], anywhere=not self.strict)
        where = self.tree.relative(self.source) if self.strict else "the project"
        return "" if found else f"no module {module} in {where}"

    def queues(self, value: Any) -> str:
        names = value.split(",") if isinstance(value, str) else value
        valid = isinstance(names, list) and all(isinstance(name, str) for name in names)
        return "" if valid and names else "not a list of queue names"


def _worker_decisions(
    tree: SourceTree, found: Inference, existing: Mapping[str, Any]
) -> list[Decision]:
    given = existing.get("worker.source")
    source = decide("worker.source", given, found.source, Checks(tree, tree.root).directory)
    assert source is not None  # the source root is always found
    checks = Checks(tree, tree.root / str(source.value))
    candidates = [
        ("worker.app", found.app, checks.module),
        ("worker.settings", found.worker_settings, checks.module),
        ("worker.requirements", found.requirements, checks.file),
        ("worker.constraints", found.constraints, checks.file),
        ("worker.queues", found.queues, checks.queues),
    ]
    decisions = [decide(key, existing.get(key), value, check) for key, value, check in candidates]
    return [source, *(decision for decision in decisions if decision is not None)]


def _pytest_decisions(
    tree: SourceTree, found: Inference, worker: list[Decision], given: Mapping[str, Any]
) -> list[Decision]:
    values = {decision.key: decision.value for decision in worker}
    source = str(values["worker.source"])
    checks = Checks(tree, tree.root / source, strict=False)
    option = settings_option(given)
    settings: Decision | None
    if option and SETTINGS_KEY not in given:
        settings = Decision(SETTINGS_KEY, option, "kept", "--ds in addopts")
    else:
        test_settings = Found(found.settings.name, found.settings.origin)
        settings = decide(SETTINGS_KEY, given.get(SETTINGS_KEY), test_settings, checks.module)
    app = values.get("worker.app")
    reference = app if isinstance(app, str) and ":" in app else None
    reference = reference or (str(found.app.value) if found.app else None)
    celery_app = Found(reference, "the Celery app of worker.app") if reference else None
    decisions = [
        settings,
        _python_path(source, given),
        decide(
            CELERY_APP_KEY,
            given.get(CELERY_APP_KEY),
            celery_app,
            checks.module,
        ),
    ]
    return [decision for decision in decisions if decision is not None]


def _python_path(source: str, given: Mapping[str, Any]) -> Decision | None:
    """``pythonpath`` holding the worker's import root, so that its packages import."""
    if source == ".":
        return None
    if "pythonpath" not in given:
        return Decision("pythonpath", [source], "set", "the worker's import root")
    paths = [Path(path) for path in pytest_paths(given)]
    if Path(source) in paths:
        return Decision("pythonpath", given["pythonpath"], "kept", "already set")
    check = f"pythonpath does not hold {source!r}: add it, unless the project is installed"
    return Decision("pythonpath", given["pythonpath"], "kept", "already set", check)


def _changes(
    root: Path,
    config: PytestConfig,
    roles: list[Decision],
    worker: list[Decision],
    pytest: list[Decision],
) -> dict[Path, tuple[str | None, str]]:
    """The files to write: ``{path: (text before or None, text after)}``."""
    pyproject = root / "pyproject.toml"
    before = {path: read_text(path) for path in (pyproject, config.path)}
    after = dict(before)
    written = {d.key: d.value for d in roles if d.writes}
    if written:
        after[pyproject] = edit_toml(pyproject, after[pyproject], ROLES_TABLE, written)
    written = {d.key.removeprefix("worker."): d.value for d in worker if d.writes}
    if written:
        after[pyproject] = edit_toml(pyproject, after[pyproject], WORKER_TABLE, written)
    written = {d.key: d.value for d in pytest if d.writes}
    if written and config.is_toml:
        after[config.path] = edit_toml(config.path, after[config.path], config.table, written)
    elif written:
        lines = {key: " ".join(v) if isinstance(v, list) else str(v) for key, v in written.items()}
        after[config.path] = edit_ini(after[config.path], config.table, lines)
    return {
        path: (before[path], text)
        for path, text in after.items()
        if text is not None and text != before[path]
    }


def _report(
    out: TextIO,
    root: Path,
    config: PytestConfig,
    groups: list[list[Decision]],
    notes: list[str],
) -> None:
    print(f"orchestrator init: {root}", file=out)
    titles = [f"pyproject.toml [{ROLES_TABLE}]", f"pyproject.toml [{WORKER_TABLE}]", config.label]
    for title, decisions in zip(titles, groups, strict=True):
        print(title, file=out)
        for decision in decisions:
            print(decision.line(), file=out)
    checks = notes + [d.check for decisions in groups for d in decisions if d.check]
    if checks:
        print("check:", file=out)
        for check in checks:
            print(f"  - {check}", file=out)


def _finish(
    out: TextIO, root: Path, changes: dict[Path, tuple[str | None, str]], dry_run: bool
) -> None:
    names = ", ".join(path.relative_to(root).as_posix() for path in changes)
    if not changes:
        print("nothing to change: the configuration is already written", file=out)
    elif dry_run:
        for path, (before, after) in changes.items():
            out.writelines(_diff(path.relative_to(root).as_posix(), before, after))
        print(f"dry run: would change {names}; nothing written", file=out)
    else:
        for path, (_, after) in changes.items():
            write_text(path, after)
        print(f"wrote {names}", file=out)


def _diff(name: str, before: str | None, after: str) -> list[str]:
    old = before.splitlines(keepends=True) if before is not None else []
    lines = difflib.unified_diff(
        old,
        after.splitlines(keepends=True),
        fromfile=f"a/{name}" if before is not None else "/dev/null",
        tofile=f"b/{name}",
    )
    return [line if line.endswith("\n") else f"{line}\n" for line in lines]
