"""The queues a project's Celery worker must consume, read statically for ``orchestrator init``.

A task sent to a queue no worker consumes waits forever, so the worker takes
the default queue (``task_default_queue``, else ``celery``) and every queue that
the task routes or a ``queue=`` argument names. Routes are read from the Django
settings (``CELERY_TASK_ROUTES``) and the Celery module (``app.conf.task_routes``,
``app.conf.update(task_routes=...)``); what is not a literal is a note to check.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Set
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.inference import SourceTree

ROUTES_NAMES = frozenset({"CELERY_TASK_ROUTES", "CELERY_ROUTES", "task_routes"})
DEFAULT_QUEUE_NAMES = frozenset(
    {"CELERY_TASK_DEFAULT_QUEUE", "CELERY_DEFAULT_QUEUE", "task_default_queue"}
)
# Calls whose ``queue=`` sends work to a queue the worker must consume.
QUEUE_CALLS = frozenset({"shared_task", "task", "apply_async", "send_task", "set", "signature"})


def find_queues(
    tree: SourceTree, modules: list[Path], source: Path, notes: list[str]
) -> tuple[list[str], str]:
    """The default queue, then every queue that routes or ``queue=`` arguments name.

    ``modules``: the settings chain and the Celery app's module, where queue
    settings are read; ``queue=`` arguments are looked for in every file below ``source``.
    Returns the queues and where each came from.
    """
    default: tuple[str, str] | None = None
    named: dict[str, str] = {}
    for path in modules:
        module = tree.parse(path)
        for node in ast.walk(module) if module else ():
            for kind, value in _configured(node):
                where = f"{kind} in {tree.relative(path)}"
                queue = _constant(value)
                if kind in DEFAULT_QUEUE_NAMES and not queue:
                    notes.append(f"{where} is not a string literal; check worker.queues")
                elif kind in DEFAULT_QUEUE_NAMES and queue:
                    default = default or (queue, where)
                else:
                    _route_queues(value, where, named, notes)
    _call_queues(tree, source, named, notes)
    first = default or ("celery", "Celery's default queue")
    queues = [first[0], *sorted(set(named) - {first[0]})]
    origins = [f"{first[0]} ({first[1]})"] + [f"{name} ({named[name]})" for name in queues[1:]]
    return queues, "; ".join(origins)


def _configured(node: ast.AST) -> Iterator[tuple[str, ast.expr]]:
    """``(setting, value)`` pairs of queue settings set by ``node``, in any spelling."""
    return settings_set(node, ROUTES_NAMES | DEFAULT_QUEUE_NAMES)


def settings_set(node: ast.AST, names: Set[str]) -> Iterator[tuple[str, ast.expr]]:
    """``(setting, value)`` pairs of the settings among ``names`` that ``node`` sets.

    ``CELERY_TASK_ROUTES = {...}``, ``app.conf.task_routes = {...}`` and
    ``app.conf.update(task_routes={...})`` (or ``Celery(..., broker=...)``) all count.
    """
    if isinstance(node, ast.Assign):
        for target in node.targets:
            name = target.id if isinstance(target, ast.Name) else None
            name = target.attr if isinstance(target, ast.Attribute) else name
            if name in names:
                yield str(name), node.value
    elif isinstance(node, ast.Call):
        yield from ((str(k.arg), k.value) for k in node.keywords if k.arg in names)


def _route_queues(node: ast.expr, where: str, named: dict[str, str], notes: list[str]) -> None:
    """Add the queues that literal task routes name; a router we cannot read is a note."""
    routes = node.elts if isinstance(node, ast.List | ast.Tuple) else [node]
    for route in routes:
        if isinstance(route, ast.Tuple) and len(route.elts) == 2:
            values = [route.elts[1]]
        elif isinstance(route, ast.Dict):
            values = list(route.values)
        else:
            notes.append(f"{where}: routes that are not literal mappings; check worker.queues")
            continue
        for value in values:
            queue = _constant(value)
            if isinstance(value, ast.Dict):
                queue = next(
                    (
                        _constant(v)
                        for k, v in zip(value.keys, value.values, strict=True)
                        if _constant(k) == "queue"
                    ),
                    None,
                )
            if queue:
                named.setdefault(queue, where)


def _call_queues(tree: SourceTree, source: Path, named: dict[str, str], notes: list[str]) -> None:
    """Add the queues that ``queue=`` names in task decorators and sending calls."""
    for path in tree.under(source):
        module = tree.parse(path)
        for node in ast.walk(module) if module else ():
            if not isinstance(node, ast.Call) or _called(node.func) not in QUEUE_CALLS:
                continue
            for keyword in node.keywords:
                if keyword.arg != "queue":
                    continue
                where = f"queue= at {tree.relative(path)}:{node.lineno}"
                queue = _constant(keyword.value)
                if queue:
                    named.setdefault(queue, where)
                else:
                    notes.append(f"{where} is not a string literal; check worker.queues")


def _called(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else ""


def _constant(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None
