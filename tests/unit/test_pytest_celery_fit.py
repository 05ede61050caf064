"""pytest-celery beside the plugin: nothing breaks, and the stack serves celery_setup
only to a project that asks for it."""

import pytest

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
