"""``manage.py test`` on the stack: Django's own runner, with --parallel processes on slices.

The example's ContainerLiveServerTestCase classes run through ``manage.py test
--parallel 2``: each class's task goes through a worker container (the tests check
the result names a worker container's node) and its page through the stack's
browser; each process has its own slice and worker; nothing is left afterwards.
"""

import re
import sys

import docker
import pytest

from orchestrator.engine import LABEL_STACK, engine_is_local
from tests.integration.inner import RUN_TIMEOUT, run_in_project

RUNNER = "fixtures.django_runner.StackyardTestRunner"
MODULE = "tests.integration.test_live_server_testcase"


def manage_test(root, state_dir, *args, **extra_env):
    command = [sys.executable, str(root / "example" / "manage.py"), "test", *args]
    return run_in_project(
        command,
        root,
        state_dir,
        PYTHONPATH=f"{root}:{root / 'example'}",
        DJANGO_SETTINGS_MODULE="example_project.settings.fast",
        **extra_env,
    )


def containers_of(stack_id):
    client = docker.from_env()
    try:
        return client.api.containers(all=True, filters={"label": f"{LABEL_STACK}={stack_id}"})
    finally:
        client.close()


@pytest.mark.timeout(RUN_TIMEOUT + 30)
def test_manage_py_test_parallel_runs_each_process_on_its_own_slice(pytestconfig, tmp_path):
    result = manage_test(
        pytestconfig.rootpath, tmp_path / "state", MODULE, "--parallel", "2", "--testrunner", RUNNER
    )
    output = result.stdout + result.stderr

    assert result.returncode == 0, output[-4000:]
    assert re.search(r"^Ran 3 tests in .*\n\nOK", output, re.M), output[-4000:]
    started = re.search(r"\[stackyard\] stack (\w+) started; slices 1, 2", output)
    assert started, output[-4000:]
    for number in (1, 2):
        assert f"[stackyard] process {number}: slice {number}, worker worker-{number}" in output
    # Two clones of the test database, one per process, on the stack's PostgreSQL.
    assert output.count("Cloning test database for alias 'default'") == 2
    assert "[stackyard] stack removed" in output
    assert containers_of(started.group(1)) == []


@pytest.mark.timeout(120)
def test_a_bad_configuration_ends_the_run_with_one_line_and_starts_nothing(pytestconfig, tmp_path):
    result = manage_test(
        pytestconfig.rootpath,
        tmp_path / "state",
        MODULE,
        "--testrunner",
        RUNNER,
        ORCHESTRATOR_BROKER="kafka",
    )

    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("stackyard: ")]
    assert len(lines) == 1, result.stderr[-3000:]
    assert "broker = 'kafka'" in lines[0]
    assert "Traceback" not in result.stderr
    assert list((tmp_path / "state").glob("*")) == []


@pytest.mark.timeout(RUN_TIMEOUT + 30)
def test_manage_py_test_without_parallel_runs_on_the_main_slice(pytestconfig, tmp_path):
    """One process: the main slice. On a local engine its database is a SQLite file that
    the worker container mounts (and which this run holds, as a pytest run does); a
    remote engine mounts nothing of this machine (SQLite is refused there), so PostgreSQL."""
    database = "sqlite" if engine_is_local() else "postgres"
    result = manage_test(
        pytestconfig.rootpath,
        tmp_path / "state",
        f"{MODULE}.DashboardTests",
        "--testrunner",
        RUNNER,
        ORCHESTRATOR_DATABASE=database,
    )
    output = result.stdout + result.stderr

    assert result.returncode == 0, output[-4000:]
    assert re.search(r"^Ran 1 test in .*\n\nOK", output, re.M), output[-4000:]
    started = re.search(r"\[stackyard\] stack (\w+) started; slices main\n", output)
    assert started, output[-4000:]
    assert containers_of(started.group(1)) == []
