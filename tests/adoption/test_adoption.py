"""Proof by adoption: a project unlike example/, with only the built wheel installed.

``ledger/`` is that project: a src layout, settings in a package of their own
(``config.settings.test``), the Celery app in ``config/workers.py`` under another
name, tasks routed to an extra queue, a dependency the example does not use
(humanize), a page whose script is a static file, and its own tests in both
styles. No ``[tool.orchestrator]``: ``orchestrator init`` writes it.

Each leg builds nothing from this repository but the wheel, makes a fresh
virtualenv, installs the wheel with the project's dependencies, and runs the
README's adopter quick start word for word (:data:`QUICK_START`):

- Python 3.11 on this machine, with the oldest versions stackyard claims to support;
- Python 3.13 in a Debian trixie container (the machines have only 3.11), with the
  newest, on the same engine through its socket and the host's network.

Run with ``make test-adoption`` (or ``pytest tests/adoption``); it is not collected
by the other layers.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.adoption.legs import Leg, build_wheel, run_leg

HERE = Path(__file__).parent
REPO = HERE.parents[1]

# The README's adopter quick start, after installing: the same words, in order.
QUICK_START = (
    "orchestrator init",
    'pytest -m "not integration"',
    "pytest -m integration -n 2 --dist loadscope",
)
# Then the same project's unittest-style class through Django's own runner (the README's
# "Django's own test runner"), its output on stdout for the check.
DJANGO_RUNNER = (
    "python manage.py test tests/integration --pattern test_payment_page.py "
    "--settings config.settings.test --testrunner fixtures.django_runner.StackyardTestRunner "
    "2>&1"
)
COMMANDS = (*QUICK_START, DJANGO_RUNNER)
# The project's runtime dependencies (pyproject.toml) and, per leg, what is pinned.
OLDEST = (
    "Django==5.2.*",
    "channels==4.1.0",
    "channels-redis==4.2.0",
    "daphne==4.1.2",
    "celery==5.3.6",
    "kombu==5.3.7",
    "redis==5.0.8",
    "humanize==4.9.0",
    "pytest==8.3.5",
    "pytest-django==4.9.0",
    "pytest-asyncio==0.24.0",
    "pytest-xdist==3.6.1",
    "pytest-timeout==2.3.1",
    "pytest-split==0.10.0",
    "selenium==4.25.0",
)


# A leg installs a virtualenv, builds a worker image and runs two suites: minutes, not
# the per-test minute of the other layers. Each of its steps has its own bound (legs.py).
pytestmark = pytest.mark.timeout(3600)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(REPO, tmp_path_factory.mktemp("dist"))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    target = tmp_path / "ledger"
    shutil.copytree(HERE / "ledger", target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def _files(root: Path) -> set[str]:
    skipped = ("__pycache__", ".pytest_cache", ".stackyard")
    return {
        str(path.relative_to(root))
        for path in root.rglob("*")
        if not any(part in skipped for part in path.relative_to(root).parts)
    }


def _check(project: Path, outputs: list[str], before: set[str]) -> None:
    __tracebackhide__ = True
    init, fast, integration, django_runner = outputs
    for inferred in ("config.settings.test", "config.workers:queue_app", "settlements", "src"):
        assert inferred in init, init
    table = tomllib.loads((project / "pyproject.toml").read_text())["tool"]
    assert table["orchestrator"]["worker"]["source"] == "src"
    assert set(table["orchestrator"]["worker"]["queues"]) == {"ledger", "settlements"}
    assert table["pytest"]["ini_options"]["DJANGO_SETTINGS_MODULE"] == "config.settings.test"
    assert "2 passed" in fast.splitlines()[-1], fast[-3000:]
    assert "6 passed" in integration.splitlines()[-1], integration[-3000:]
    assert " error" not in integration.splitlines()[-1], integration[-3000:]
    # manage.py test: the class ran on a stack of its own, removed at the end.
    assert re.search(r"^Ran 1 test in .*\n\nOK", django_runner, re.M), django_runner[-3000:]
    assert "[stackyard] stack removed" in django_runner, django_runner[-3000:]
    # Nothing created in the project's tree but the state directory (and caches).
    assert _files(project) == before, _files(project) ^ before


def _stackyard_containers() -> set[str]:
    completed = subprocess.run(
        ["docker", "ps", "-aq", "--filter", "label=io.stackyard.managed"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(completed.stdout.split())


def test_a_new_project_adopts_stackyard_on_python_311(wheel: Path, project: Path) -> None:
    before, containers = _files(project), _stackyard_containers()
    leg = Leg(python=sys.executable, pins=OLDEST)

    outputs = run_leg(leg, wheel, project, COMMANDS)

    _check(project, outputs, before | {"constraints.txt"})
    assert _stackyard_containers() <= containers, "containers left behind"


@pytest.mark.skipif(
    os.environ.get("DOCKER_HOST", "unix://").split("://")[0] != "unix",
    reason="the 3.13 leg mounts the engine's socket into its container",
)
def test_a_new_project_adopts_stackyard_on_python_313(wheel: Path, project: Path) -> None:
    before, containers = _files(project), _stackyard_containers()
    leg = Leg(python="python3.13", container_suite="trixie")

    outputs = run_leg(leg, wheel, project, COMMANDS)

    _check(project, outputs, before)
    assert _stackyard_containers() <= containers, "containers left behind"
