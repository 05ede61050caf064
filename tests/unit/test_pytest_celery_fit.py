"""pytest-celery beside the plugin: nothing breaks, the stack serves celery_setup only to
a project that asks for it, and serves it as a pytest-celery suite expects (its worker's
tasks, the overrides that act on a stack) or fails the test with the fix."""

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType

import pytest
from celery import Celery
from pytest_celery.vendors.worker import tasks as pytest_celery_tasks

from fixtures.celery_setup_checks import (
    HONOURED,
    REGISTERED_TIMEOUT,
    instead_of,
    missing_worker_tasks,
    module_tasks,
    pytest_celery_fixtures,
)
from fixtures.run import stack_fixtures

INNER_ARGS = ("-p", "no:django", "-p", "no:xdist", "-p", "no:asyncio")


def resolved(pytester, *extra: str) -> dict[str, str]:
    """Where each fixture a test requests is defined, as pytest resolves it."""
    pytester.makepyfile(
        "def test_requests(celery_setup, stack_celery_setup, celery_worker):\n    pass\n"
    )
    result = pytester.runpytest_subprocess(*INNER_ARGS, "--fixtures-per-test", "-v", *extra)
    assert result.ret == 0, result.stdout.str()
    locations = {}
    for line in result.outlines:
        name, _, where = line.partition(" -- ")
        if where:
            locations[name.split()[0]] = where
    return locations


def test_by_default_pytest_celery_keeps_its_own_celery_setup(pytester):
    locations = resolved(pytester)

    assert "pytest_celery" in locations["celery_setup"]
    assert "fixtures/celery_setup.py" in locations["stack_celery_setup"]
    assert "pytest_celery" in locations["celery_worker"]


def test_a_project_that_asks_gets_celery_setup_from_the_stack(pytester):
    """The project sets ``orchestrator_celery_setup = true`` (this repository does)."""
    pytester.makeini("[pytest]\norchestrator_celery_setup = true\n")
    locations = resolved(pytester)

    assert "fixtures/celery_setup_override.py" in locations["celery_setup"]
    assert "fixtures/celery_setup.py" in locations["stack_celery_setup"]
    assert "pytest_celery" in locations["celery_worker"]


@pytest.mark.parametrize("name", ["celery_setup", "stack_celery_setup"])
def test_requesting_celery_setup_makes_a_test_integration(pytester, name):
    pytester.makepyfile(f"def test_uses_it({name}):\n    pass\n")

    result = pytester.runpytest_subprocess(*INNER_ARGS, "--collect-only", "-q", "-m", "integration")

    result.stdout.fnmatch_lines(["*test_uses_it*"])


@pytest.mark.parametrize(("value", "served"), [("false", False), ("true", True)])
def test_celery_setup_needs_the_stack_only_when_the_stack_serves_it(pytester, value, served):
    config = pytester.parseconfig("-o", f"orchestrator_celery_setup={value}")

    assert ("celery_setup" in stack_fixtures(config)) is served
    assert "stack_celery_setup" in stack_fixtures(config)


# An inner project in pytest-celery's style: its files are copied under the names
# pytest collects (the outer run collects none of them where they are).
SUITE = Path(__file__).parent / "celery_setup_suite"
SUITE_ARGS = ("-p", "no:xdist", "-p", "no:asyncio")


def run_suite(pytester, conftest: str | None = None):
    """Run the inner suite (``conftest``: one of its ``*_conftest.py``) with the stack
    serving celery_setup; its tests stop before their fixtures unless stackyard stops them."""
    shutil.copy(SUITE / "suite_settings.py", pytester.path)
    shutil.copy(SUITE / "suite_tests.py", pytester.path / "test_suite.py")
    if conftest is not None:
        shutil.copy(SUITE / conftest, pytester.path / "conftest.py")
    pytester.makeini("[pytest]\norchestrator_celery_setup = true\npythonpath = .\n")
    return pytester.runpytest_subprocess(*SUITE_ARGS, "-rs")


@pytest.mark.parametrize("conftest", ["plain_conftest.py", "honoured_conftest.py"])
def test_a_suite_with_no_or_honoured_overrides_reaches_the_stack(pytester, monkeypatch, conftest):
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "suite_settings")

    result = run_suite(pytester, conftest)

    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*reached the fixtures*"])


def test_overrides_the_stack_cannot_honour_fail_the_test_naming_each(pytester, monkeypatch):
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "suite_settings")

    result = run_suite(pytester, "refused_conftest.py")

    # stack_celery_setup is stackyard's own: pytest-celery's overrides are not about it.
    result.assert_outcomes(errors=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_celery_setup*",
            "stackyard serves celery_setup from its stack (orchestrator_celery_setup = true),*",
            "  celery_worker_cluster (conftest.py:*): the worker is the project's own*",
            "  default_worker_container_cls (conftest.py:*): the worker is the project's own*",
            "Remove them (stackyard honours celery_setup_cls and default_worker_tasks)*",
        ]
    )


def test_a_setup_without_django_settings_fails_with_the_fix(pytester, monkeypatch):
    """pytest-django skips what needs a database when no settings are configured: a
    test on the stack's worker would vanish from the run without a word."""
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)

    result = run_suite(pytester)

    result.assert_outcomes(errors=2)
    unconfigured = (
        "runs the project's Celery worker on its Django settings and test database, but no "
        "Django settings are configured: set DJANGO_SETTINGS_MODULE in the project's pytest "
        "configuration (`orchestrator init` does), in the environment, or with --ds"
    )
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_celery_setup*",
            f"celery_setup {unconfigured}; or set orchestrator_celery_setup = false*",
            "*ERROR at setup of test_stack_celery_setup*",
            f"stack_celery_setup {unconfigured}",
        ]
    )


WORKER_BOOT = Path(__file__).parents[2] / "docker" / "worker" / "boot.py"


def worker_boot() -> ModuleType:
    """docker/worker/boot.py, the worker container's entry point, as a module."""
    spec = importlib.util.spec_from_file_location("stackyard_worker_boot", WORKER_BOOT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class RecordingApp:
    """What the worker's boot uses of a Celery app: its task registry and task decorator."""

    def __init__(self, tasks: dict[str, object] | None = None) -> None:
        self.tasks = dict(tasks or {})

    def task(self, name: str, shared: bool, **options: object):
        def register(function):
            self.tasks[name] = function
            return function

        return register


@pytest.fixture
def booted_app() -> RecordingApp:
    """An app as the worker's boot leaves it, with stackyard's copies of pytest-celery's tasks."""
    app = RecordingApp()
    worker_boot().register_pytest_celery_tasks(app)
    return app


def test_the_worker_registers_every_pytest_celery_task_under_its_name(booted_app):
    assert set(booted_app.tasks) == module_tasks(pytest_celery_tasks)


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("ping", ()),
        ("identity", ({"any": ["json", 1]},)),
        ("add", (1, 2)),
        ("add", (1, 2, 3)),
        ("xsum", ([1, [2, 3], 4],)),
        ("noop", (1, 2)),
        ("sleep", (0,)),
    ],
)
def test_the_workers_copies_answer_as_pytest_celerys_tasks(booted_app, name, args):
    theirs = getattr(pytest_celery_tasks, name)

    assert booted_app.tasks[theirs.name](*args) == theirs.run(*args)


def test_the_workers_fail_task_raises_as_pytest_celerys(booted_app):
    with pytest.raises(RuntimeError) as ours:
        booted_app.tasks[pytest_celery_tasks.fail.name]("why")
    with pytest.raises(RuntimeError) as theirs:
        pytest_celery_tasks.fail.run("why")

    assert ours.value.args == theirs.value.args


def test_a_worker_that_imports_pytest_celery_keeps_its_tasks():
    """A real app: pytest-celery's shared tasks join it when it is finalized."""
    app = Celery("imports-pytest-celery", set_as_current=False)

    worker_boot().register_pytest_celery_tasks(app)

    assert app.tasks[pytest_celery_tasks.ping.name].run.__module__ == pytest_celery_tasks.__name__


class RegisteredReplies:
    """What ``missing_worker_tasks`` uses of a Celery app: ``control.inspect().registered()``."""

    def __init__(self, replies: dict[str, list[str]] | None) -> None:
        self.replies = replies
        self.asked: list[tuple[list[str], float]] = []
        self.control = self

    def inspect(self, destination: list[str], timeout: float) -> "RegisteredReplies":
        self.asked.append((destination, timeout))
        return self

    def registered(self) -> dict[str, list[str]] | None:
        return self.replies


@pytest.fixture
def suite_tasks() -> ModuleType:
    """A suite's tasks module with two tasks, and one it imports from elsewhere."""
    app = Celery("suite", set_as_current=False)
    module = ModuleType("suite_tasks")
    # Functions defined in a namespace are that module's: so are the tasks made of them.
    exec("def export():\n    pass\n\ndef archive():\n    pass\n", module.__dict__)
    module.export = app.task(module.export)
    module.archive = app.task(module.archive)
    elsewhere = {"__name__": "elsewhere"}
    exec("def imported():\n    pass\n", elsewhere)
    module.imported = app.task(elsewhere["imported"])
    return module


def test_pytest_celerys_own_tasks_need_no_round_trip_to_the_worker():
    app = RegisteredReplies({})

    assert missing_worker_tasks(app, "worker@gw0", {pytest_celery_tasks}) == []
    assert app.asked == []


def test_the_suites_tasks_are_looked_up_on_the_worker(suite_tasks):
    app = RegisteredReplies({"worker@gw0": ["suite_tasks.export [rate_limit=1/m]"]})

    missing = missing_worker_tasks(app, "worker@gw0", {pytest_celery_tasks, suite_tasks})

    assert missing == ["suite_tasks.archive"]
    assert app.asked == [(["worker@gw0"], REGISTERED_TIMEOUT)]


def test_a_worker_that_does_not_list_its_tasks_fails_the_setup(suite_tasks):
    with pytest.raises(pytest.fail.Exception, match=r"did not list its tasks within 5\.0s"):
        missing_worker_tasks(RegisteredReplies(None), "worker@gw0", {suite_tasks})


def test_every_pytest_celery_fixture_is_honoured_or_replaced_by_a_named_part():
    generic = instead_of("")

    assert {
        name
        for name in pytest_celery_fixtures()
        if name not in HONOURED and instead_of(name) == generic
    } == set()
