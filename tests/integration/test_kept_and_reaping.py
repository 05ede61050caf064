"""Kept stacks (attach, replace when stale, down), the watchdog after SIGKILL, and prune."""

import contextlib
import json
import os
import signal
import subprocess
import time
import uuid

import pytest
from docker.errors import NotFound

from orchestrator.engine import LABEL_KEPT, LABEL_MANAGED, LABEL_OWNER, LABEL_STACK, connect
from orchestrator.kept import prune
from orchestrator.owner import owner_id
from tests.integration.inner import (
    inner_command,
    inner_environment,
    orchestrator,
    run_inner,
    write_test,
)

REAP_BOUND = 10  # seconds the watchdog has to remove a dead run's stack
RECORD_TEST = """
import json, pathlib
import pytest

@pytest.mark.integration
def test_records_the_stack(stack):
    pathlib.Path({record!r}).write_text(json.dumps({{
        "stack": stack.stack.id, "mode": stack.attachment.mode,
        "containers": sorted(stack.stack.container_ids().values()),
    }}))
"""


@pytest.fixture
def client():
    client = connect()
    yield client
    client.close()


def labelled(client, stack_id):
    label = {"label": f"{LABEL_STACK}={stack_id}"}
    return client.containers.list(all=True, filters=label), client.networks.list(filters=label)


def test_runs_attach_to_a_kept_stack_which_is_replaced_when_stale_and_removed_by_down(
    pytestconfig, tmp_path, client
):
    root, state = pytestconfig.rootpath, tmp_path / "state"
    record = tmp_path / "record.json"
    test_file = write_test(tmp_path, RECORD_TEST.format(record=str(record)))

    try:
        check_kept_stack_life(root, state, test_file, record, client)
    finally:
        for environment in ({}, {"ORCHESTRATOR_STARTUP_TIMEOUT": "61"}):
            orchestrator(root, state, "down", **environment)


def check_kept_stack_life(root, state, test_file, record, client):
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
    assert len(labelled(client, kept["stack_id"])[0]) == 4  # redis, rabbitmq, browser, worker

    rabbitmq = client.containers.get(kept["containers"]["rabbitmq"])
    rabbitmq.kill()
    rabbitmq.wait(timeout=30)
    completed = run_inner(root, test_file, state, "-p", "no:xdist")
    assert completed.returncode == 0, completed.stdout[-3000:]
    assert f"replacing kept stack {kept['stack_id']}: rabbitmq: container exited" in (
        completed.stdout + completed.stderr
    )
    replacement = json.loads(record.read_text())
    assert replacement["stack"] != kept["stack_id"]
    assert labelled(client, kept["stack_id"]) == ([], [])

    completed = run_inner(
        root, test_file, state, "-p", "no:xdist", ORCHESTRATOR_STARTUP_TIMEOUT="61"
    )
    assert "its images or configuration changed" in completed.stdout + completed.stderr
    newest = json.loads(record.read_text())["stack"]

    stopped = orchestrator(root, state, "down", ORCHESTRATOR_STARTUP_TIMEOUT="61")
    assert stopped.returncode == 0, stopped.stderr
    assert labelled(client, replacement["stack"]) == ([], [])
    assert labelled(client, newest) == ([], [])
    assert not (state / "stack.json").exists()


KILLED_TEST = """
import pathlib, time
import pytest

@pytest.mark.integration
def test_waits_to_be_killed(stack):
    pathlib.Path({record!r}).write_text(stack.stack.id)
    time.sleep(120)
"""


def test_a_run_killed_with_sigkill_leaves_nothing_after_ten_seconds(pytestconfig, tmp_path, client):
    root, record = pytestconfig.rootpath, tmp_path / "stack-id"
    test_file = write_test(tmp_path, KILLED_TEST.format(record=str(record)))
    run = subprocess.Popen(
        inner_command(root, test_file, "-n", "2"),
        cwd=root,
        env=inner_environment(tmp_path / "state"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not record.exists():
            assert run.poll() is None, "the run ended before its test started"
            assert time.monotonic() < deadline, "the run never started its stack"
            time.sleep(0.1)
        stack_id = record.read_text()
        assert labelled(client, stack_id)[0]
    finally:
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=30)

    killed_at = time.monotonic()
    while labelled(client, stack_id) != ([], []):
        assert time.monotonic() - killed_at < REAP_BOUND, "the watchdog did not clean up in time"
        time.sleep(0.2)


def test_prune_removes_only_stacks_whose_owner_is_gone(client):
    image = client.images.get(_redis_image(client)).tags[0]
    gone_pid = _dead_pid()
    host = owner_id().split(":")[0]
    made = []

    def container(labels):
        made.append(client.containers.run(image, ["sleep", "300"], detach=True, labels=labels))

    managed = {LABEL_MANAGED: "true", LABEL_KEPT: "false"}
    run = uuid.uuid4().hex[:8]
    container({**managed, LABEL_STACK: f"orphan-{run}", LABEL_OWNER: f"{host}:{gone_pid}:1"})
    container({**managed, LABEL_STACK: f"kept-{run}", LABEL_KEPT: "true", LABEL_OWNER: "kept"})
    container({**managed, LABEL_STACK: f"alive-{run}", LABEL_OWNER: owner_id()})
    container({"someone.else": "true"})
    try:
        gone = prune(client)

        assert f"orphan-{run}" in [leftover.stack_id for leftover in gone]
        assert not {f"kept-{run}", f"alive-{run}"} & {leftover.stack_id for leftover in gone}
        remaining = {c.id for c in client.containers.list(all=True)}
        assert made[0].id not in remaining
        assert {c.id for c in made[1:]} <= remaining
    finally:
        for made_container in made:
            with contextlib.suppress(NotFound):
                made_container.remove(force=True)


def _redis_image(client):
    return next(
        image.id
        for image in client.images.list(filters={"label": f"{LABEL_MANAGED}=true"})
        if any(tag.startswith("stackyard/redis:") for tag in image.tags)
    )


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait(timeout=10)
    return process.pid
