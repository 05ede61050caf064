"""pytest-celery beside the plugin: nothing breaks, and the stack serves celery_setup."""

import pytest

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


def test_celery_setup_comes_from_the_stack_and_celery_worker_stays_pytest_celerys(pytester):
    locations = resolved(pytester)

    assert "fixtures/celery_setup_override.py" in locations["celery_setup"]
    assert "fixtures/celery_setup.py" in locations["stack_celery_setup"]
    assert "pytest_celery" in locations["celery_worker"]


def test_the_override_can_be_turned_off(pytester):
    locations = resolved(pytester, "-o", "orchestrator_celery_setup=false")

    assert "pytest_celery" in locations["celery_setup"]
    assert "fixtures/celery_setup.py" in locations["stack_celery_setup"]


@pytest.mark.parametrize("name", ["celery_setup", "stack_celery_setup"])
def test_requesting_celery_setup_makes_a_test_integration(pytester, name):
    pytester.makepyfile(f"def test_uses_it({name}):\n    pass\n")

    result = pytester.runpytest_subprocess(*INNER_ARGS, "--collect-only", "-q", "-m", "integration")

    result.stdout.fnmatch_lines(["*test_uses_it*"])
