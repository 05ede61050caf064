"""Kept stacks: attached to, replaced when stale, removed by `orchestrator down`."""

import fcntl
import json
import time
from contextlib import contextmanager

import pytest

from orchestrator.config import load_config
from orchestrator.engine import published_host
from orchestrator.images import stack_services
from tests.integration.inner import (
    labelled,
    orchestrator,
    run_inner,
    write_test,
)

RECORD_TEST = """
import json, pathlib
import pytest

@pytest.mark.integration
def test_records_the_stack(stack):
    pathlib.Path({record!r}).write_text(json.dumps({{
        "stack": stack.stack_id, "mode": stack.mode,
        "containers": sorted(stack.container_ids().values()),
    }}))
"""


# Four sessions and three stacks (up, a replacement, a reconfigured one): each start has
# its own 60 s bound; the test as a whole gets room for all of them on two busy cores.
@pytest.mark.timeout(180)
def test_runs_attach_to_a_kept_stack_which_is_replaced_when_stale_and_removed_by_down(
    pytestconfig, tmp_path, docker_client
):
    root, state = pytestconfig.rootpath, tmp_path / "state"
    record = tmp_path / "record.json"
    test_file = write_test(tmp_path, RECORD_TEST.format(record=str(record)))

    try:
        check_kept_stack_life(root, state, test_file, record, docker_client)
    finally:
        for environment in ({}, {"ORCHESTRATOR_STARTUP_TIMEOUT": "61"}):
            orchestrator(root, state, "down", **environment)


def check_kept_stack_life(root, state, test_file, record, docker_client):
    started = orchestrator(root, state, "up", "--workers", "0")
    assert started.returncode == 0, started.stderr
    kept = json.loads((state / "stack.json").read_text())
    assert oct((state / "stack.json").stat().st_mode & 0o777) == "0o600"

    runs = []
    for _ in range(2):
        completed = run_inner(root, test_file, state, "-p", "no:xdist")
        assert completed.returncode == 0, completed.stdout[-3000:]
        runs.append(json.loads(record.read_text()))
    assert [run["mode"] for run in runs] == ["kept", "kept"]
    assert {run["stack"] for run in runs} == {kept["stack_id"]}
    assert runs[0]["containers"] == runs[1]["containers"]  # nothing started, nothing replaced
    containers = labelled(docker_client, kept["stack_id"])[0]
    services = {c.attrs["Labels"]["io.stackyard.service"] for c in containers}
    # The servers this run's roles bind to the stack, the browser and the worker.
    wanted = {name for name in stack_services(load_config(root)) if name != "worker"}
    assert services == {*wanted, "worker-main"}

    redis = docker_client.containers.get(kept["containers"]["redis"])
    redis.kill()
    redis.wait(timeout=30)
    completed = run_inner(root, test_file, state, "-p", "no:xdist")
    assert completed.returncode == 0, completed.stdout[-3000:]
    assert f"replacing kept stack {kept['stack_id']}: redis: container exited" in (
        completed.stdout + completed.stderr
    )
    replacement = json.loads(record.read_text())
    assert replacement["stack"] != kept["stack_id"]
    assert labelled(docker_client, kept["stack_id"]) == ([], [])

    with slice_held_by_another_run(state / "db" / "gw7.lock"):
        refused = orchestrator(root, state, "up", ORCHESTRATOR_STARTUP_TIMEOUT="61")
    assert refused.returncode != 0
    assert f"the kept stack {replacement['stack']} needs replacing" in refused.stderr
    assert "another test run in this checkout is using it (slices gw7)" in refused.stderr
    assert labelled(docker_client, replacement["stack"])[0]  # left to the run using it

    completed = run_inner(
        root, test_file, state, "-p", "no:xdist", ORCHESTRATOR_STARTUP_TIMEOUT="61"
    )
    assert "its images or configuration changed" in completed.stdout + completed.stderr
    newest = json.loads(record.read_text())["stack"]

    stopped = orchestrator(root, state, "down", ORCHESTRATOR_STARTUP_TIMEOUT="61")
    assert stopped.returncode == 0, stopped.stderr
    assert labelled(docker_client, replacement["stack"]) == ([], [])
    assert labelled(docker_client, newest) == ([], [])
    assert not (state / "stack.json").exists()


@contextmanager
def slice_held_by_another_run(lock):
    """A slice lock held as a test run in progress holds it (an open file's lock)."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield


@pytest.mark.timeout(120)
def test_another_slices_dead_worker_does_not_replace_the_kept_stack(
    pytestconfig, tmp_path, docker_client
):
    # Each process checks the servers and its own worker as it attaches; the worker of
    # another slice is that process's to check (and is started again when it asks).
    root, state = pytestconfig.rootpath, tmp_path / "state"
    record = tmp_path / "record.json"
    test_file = write_test(tmp_path, RECORD_TEST.format(record=str(record)))
    with kept_stack(root, state, workers=2) as kept:
        other = docker_client.containers.get(kept["slices"]["gw0"]["worker"])
        other.kill()
        other.wait(timeout=30)

        completed = run_inner(root, test_file, state, "-p", "no:xdist")
        assert completed.returncode == 0, completed.stdout[-3000:]
        assert "replacing kept stack" not in completed.stdout + completed.stderr
        run = json.loads(record.read_text())
        assert (run["mode"], run["stack"]) == ("kept", kept["stack_id"])


@contextmanager
def kept_stack(root, state, workers):
    """``orchestrator up --workers N`` in ``state``: its state file's content; then down."""
    try:
        started = orchestrator(root, state, "up", "--workers", str(workers))
        assert started.returncode == 0, started.stderr
        yield json.loads((state / "stack.json").read_text())
    finally:
        orchestrator(root, state, "down")


DATABASE_TEST = """
import json, pathlib
import pytest
from django.db import connection

@pytest.mark.integration
def test_records_its_database(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT datname, oid FROM pg_database WHERE datname = current_database()"
        )
        name, oid = cursor.fetchone()
    pathlib.Path({record!r}).write_text(json.dumps({{"name": name, "oid": oid}}))
"""
SPARE = "spare_test_stackyard"


def spare_oid(docker_client, kept):
    """The OID of the main slice's spare on the kept stack's server (None: there is none)."""
    import psycopg

    container = docker_client.containers.get(kept["containers"]["postgres"])
    port = container.ports["5432/tcp"][0]["HostPort"]
    credentials = kept["credentials"]["postgres"]
    with psycopg.connect(
        host=published_host(),  # a remote engine's host, in the remote engine's leg
        port=port,
        user=credentials["user"],
        password=credentials["password"],
        dbname="postgres",
        connect_timeout=5,
    ) as connection:
        row = connection.execute("SELECT oid FROM pg_database WHERE datname = %s", [SPARE])
        found = row.fetchone()
    return found[0] if found else None


@pytest.mark.timeout(120)
def test_a_kept_stacks_test_database_is_its_spare_renamed_and_each_run_makes_the_next(
    pytestconfig, tmp_path, docker_client
):
    # The spare is a copy of template1 made ahead of time: the test database a run gets
    # is that very database (same OID), not one CREATE DATABASE made while it waited.
    root, state = pytestconfig.rootpath, tmp_path / "state"
    record = tmp_path / "record.json"
    test_file = write_test(tmp_path, DATABASE_TEST.format(record=str(record)))
    with kept_stack(root, state, workers=0) as kept:
        for _ in range(2):
            spare = spare_oid(docker_client, kept)
            assert spare is not None, "no spare before the run"
            completed = run_inner(root, test_file, state, "-p", "no:xdist")
            assert completed.returncode == 0, completed.stdout[-3000:]
            assert json.loads(record.read_text()) == {"name": "test_stackyard", "oid": spare}
            deadline = time.monotonic() + 30
            while spare_oid(docker_client, kept) in (None, spare):
                assert time.monotonic() < deadline, "the run made no new spare"
                time.sleep(0.2)
