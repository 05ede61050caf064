"""A run starts what its selected tests use: no database server, worker or browser nobody
asked for, and what is asked for launched beside the servers, not after them."""

import json

import docker
import pytest

from orchestrator import THREAD_PREFIX
from orchestrator.engine import LABEL_STATE, engine_is_local
from tests.integration.inner import run_inner, run_session, write_test

# Each test writes the stack's services, as the engine lists them, when it runs.
RECORDING = """
import json, os, pathlib
import docker
import pytest

RECORDS = pathlib.Path({records!r})


def record(stack, name):
    client = docker.from_env()
    try:
        containers = client.containers.list(
            all=True, filters={{"label": f"io.stackyard.stack={{stack.stack_id}}"}})
        services = sorted(c.labels["io.stackyard.service"] for c in containers)
    finally:
        client.close()
    process = os.environ.get("PYTEST_XDIST_WORKER", "main")
    (RECORDS / f"{{name}}-{{process}}").write_text(json.dumps(services))
"""

BROKERS_ONLY = (
    RECORDING
    + """

class TestOne:
    def test_broker(self, stack, broker_url):
        record(stack, "one")


class TestTwo:
    def test_broker(self, stack, broker_url):
        record(stack, "two")
"""
)

MIXED = (
    RECORDING
    + """

def test_brokers_first(stack, broker_url):
    record(stack, "brokers")


@pytest.mark.django_db(transaction=True)
def test_worker_second(stack, stack_worker):
    record(stack, "worker")


def test_browser_third(stack, browser):
    record(stack, "browser")
"""
)


def recorded_run(root, tmp_path, source, *args):
    """Run ``source`` with ``-m integration`` and ``args``; each process's services as its
    tests saw them, by record name (``"one-gw0"``...)."""
    directory = tmp_path / "records"
    directory.mkdir()
    test_file = write_test(tmp_path, source.format(records=str(directory)))
    result = run_inner(root, test_file, tmp_path / "state", "-m", "integration", *args)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return {path.name: json.loads(path.read_text()) for path in directory.iterdir()}


@pytest.mark.timeout(180)
def test_a_run_of_brokers_only_tests_starts_no_worker_and_no_browser(pytestconfig, tmp_path):
    seen = recorded_run(
        pytestconfig.rootpath, tmp_path, BROKERS_ONLY, "-n", "2", "--dist", "loadscope"
    )
    assert len(seen) == 2, seen
    for name, services in seen.items():
        unused = [s for s in services if s.startswith("worker") or s in ("browser", "postgres")]
        assert not unused, f"{name}: the run started containers no selected test uses: {services}"
        assert "rabbitmq" in services, services


@pytest.mark.timeout(180)
def test_the_worker_and_browser_a_run_needs_boot_beside_the_servers(pytestconfig, tmp_path):
    seen = recorded_run(
        pytestconfig.rootpath, tmp_path, MIXED, "-p", "no:xdist", "-p", "no:randomly"
    )
    # The first test uses the brokers alone, and already finds the worker, its database
    # server and the browser the later tests asked for at collection: the start launched
    # them with the servers.
    assert {"postgres", "worker-main", "browser"} <= set(seen["brokers-main"])


LATE_DATABASE = (
    RECORDING
    + """

def test_brokers(stack, broker_url):
    record(stack, "before")


def test_database_asked_for_while_running(stack):
    import psycopg

    database = stack.database()  # no test asked for it at collection
    record(stack, "after")
    with psycopg.connect(
        host=database["HOST"],
        port=database["PORT"],
        user=database["USER"],
        password=database["PASSWORD"],
        dbname="postgres",
        connect_timeout=10,
    ) as connection:
        assert connection.execute("SELECT 1").fetchone() == (1,)
"""
)


@pytest.mark.timeout(180)
def test_a_database_server_nobody_asked_for_at_collection_starts_when_a_test_needs_it(
    pytestconfig, tmp_path
):
    seen = recorded_run(
        pytestconfig.rootpath, tmp_path, LATE_DATABASE, "-p", "no:xdist", "-p", "no:randomly"
    )
    assert "postgres" not in seen["before-main"], seen
    assert "postgres" in seen["after-main"], seen


# Imported with the conftest files, after the plugins and pytest-django's Django set-up.
NAMES_THREADS_AT_IMPORT = """
import pathlib, threading
pathlib.Path({record!r}).write_text("\\n".join(t.name for t in threading.enumerate()))
"""


@pytest.mark.timeout(180)
def test_the_stack_starts_before_the_conftest_files_are_imported(pytestconfig, tmp_path):
    record = tmp_path / "threads"
    write_test(tmp_path, NAMES_THREADS_AT_IMPORT.format(record=str(record)), "conftest.py")
    test_file = write_test(tmp_path, "def test_uses_the_stack(stack):\n    pass\n")
    result = run_inner(pytestconfig.rootpath, test_file, tmp_path / "state", "-m", "integration")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert f"{THREAD_PREFIX}-provision" in record.read_text().split()


@pytest.mark.timeout(180)
def test_a_run_stopped_by_a_usage_error_leaves_nothing(pytestconfig, tmp_path):
    """The stack begun as the command line was read is removed, with the run's directory."""
    (tmp_path / "tmp").mkdir()
    # Long enough at import for the start to launch its containers.
    write_test(tmp_path, "import time\ntime.sleep(3)\n", "conftest.py")
    test_file = write_test(tmp_path, "def test_uses_the_stack(stack):\n    pass\n")
    result = run_inner(
        pytestconfig.rootpath,
        test_file,
        tmp_path / "state",
        "-m",
        "integration",
        "--no-such-option",
        TMPDIR=str(tmp_path / "tmp"),
    )
    assert result.returncode == 4, result.stdout[-3000:] + result.stderr[-2000:]
    assert "--no-such-option" in result.stderr
    assert list((tmp_path / "tmp").iterdir()) == []
    client = docker.from_env()
    try:
        listed = client.api.containers(all=True, filters={"label": LABEL_STATE})
        left = [c["Id"] for c in listed if c["Labels"][LABEL_STATE].startswith(str(tmp_path))]
        assert left == []
    finally:
        client.close()


# A test run alone that uses the worker and not the database: pytest-django makes no test
# database for the session, which the worker's settings name all the same.
WORKER_WITHOUT_THE_DATABASE = """
def test_the_worker_alone(stack_worker):
    assert stack_worker.startswith("worker-main@"), stack_worker
"""


@pytest.mark.timeout(180)
# SQLite only where the engine mounts this machine's files (a remote engine refuses it).
@pytest.mark.parametrize("database", ["postgres", "sqlite"] if engine_is_local() else ["postgres"])
def test_a_test_using_the_worker_and_no_database_runs_alone(pytestconfig, tmp_path, database):
    result = run_session(
        pytestconfig.rootpath,
        tmp_path,
        WORKER_WITHOUT_THE_DATABASE,
        ORCHESTRATOR_DATABASE=database,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout, result.stdout[-3000:]
