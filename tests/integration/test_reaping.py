"""Crash-proof cleanup: the watchdog after a SIGKILL (of a run whose stack is up, and of
one whose stack is still starting), and `orchestrator prune`."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

from docker.errors import NotFound

from orchestrator.engine import (
    LABEL_HOST,
    LABEL_KEPT,
    LABEL_MANAGED,
    LABEL_OWNER,
    LABEL_STACK,
    LABEL_STATE,
)
from orchestrator.kept import prune
from orchestrator.owner import owner_id
from orchestrator.state import StackState, StateDir
from tests.integration.inner import (
    collected_once_the_stack_starts,
    inner_command,
    inner_environment,
    labelled,
    orchestrator,
    write_test,
)

REAP_BOUND = 10  # seconds the watchdog has to remove a dead run's stack


KILLED_TEST = """
import pathlib, time
import pytest

@pytest.mark.integration
def test_waits_to_be_killed(stack):
    pathlib.Path({record!r}).write_text(stack.stack_id)
    time.sleep(120)
"""


@contextlib.contextmanager
def run_killed_on_exit(root, test_file, state_dir, record, *args):
    """Start an inner run; once it records its stack's id in ``record``, yield that id,
    and SIGKILL the run when the block ends."""
    run = subprocess.Popen(
        inner_command(root, test_file, *args),
        cwd=root,
        env=inner_environment(state_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not record.exists():
            assert run.poll() is None, "the run ended before its stack started"
            assert time.monotonic() < deadline, "the run never started its stack"
            time.sleep(0.05)
        yield record.read_text()
    finally:
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=30)


def assert_reaped_in_time(docker_client, stack_id):
    killed_at = time.monotonic()
    while labelled(docker_client, stack_id) != ([], []):
        assert time.monotonic() - killed_at < REAP_BOUND, "the watchdog did not clean up in time"
        time.sleep(0.2)


def test_a_run_killed_with_sigkill_leaves_nothing_after_ten_seconds(
    pytestconfig, tmp_path, docker_client
):
    root, record = pytestconfig.rootpath, tmp_path / "stack-id"
    test_file = write_test(tmp_path, KILLED_TEST.format(record=str(record)))

    with run_killed_on_exit(root, test_file, tmp_path / "state", record, "-n", "2") as stack_id:
        assert labelled(docker_client, stack_id)[0]

    assert_reaped_in_time(docker_client, stack_id)


def test_a_run_killed_while_its_stack_starts_leaves_nothing_after_ten_seconds(
    pytestconfig, tmp_path, docker_client
):
    """The watchdog is launched with the stack's containers: a run killed while RabbitMQ
    still boots (here: during collection) is cleaned up as well."""
    root, record = pytestconfig.rootpath, tmp_path / "stack-id"
    source = collected_once_the_stack_starts(record, "time.sleep(120)")
    test_file = write_test(tmp_path, source)
    args = ("-m", "integration", "-p", "no:xdist")

    with run_killed_on_exit(root, test_file, tmp_path / "state", record, *args) as stack_id:
        pass

    assert_reaped_in_time(docker_client, stack_id)


def test_prune_removes_only_stacks_whose_owner_is_gone(docker_client, tmp_path):
    image = docker_client.images.get(_redis_image(docker_client)).tags[0]
    gone_pid = _dead_pid()
    host = owner_id().split(":")[0]
    made = []

    def container(labels):
        made.append(
            docker_client.containers.run(image, ["sleep", "300"], detach=True, labels=labels)
        )

    managed = {LABEL_MANAGED: "true", LABEL_KEPT: "false"}
    run = uuid.uuid4().hex[:8]
    container({**managed, LABEL_STACK: f"orphan-{run}", LABEL_OWNER: f"{host}:{gone_pid}:1"})
    container({**managed, LABEL_STACK: f"alive-{run}", LABEL_OWNER: owner_id()})
    container({"someone.else": "true"})
    kept = {**managed, LABEL_KEPT: "true", LABEL_OWNER: "kept"}
    container({**kept, LABEL_STACK: f"kept-{run}"})  # from before stacks named their state
    # Another machine sharing the engine: its paths mean nothing here.
    elsewhere = {LABEL_STATE: str(tmp_path / "elsewhere"), LABEL_HOST: "another-host"}
    container({**kept, LABEL_STACK: f"elsewhere-{run}", **elsewhere})
    kept[LABEL_HOST] = socket.gethostname()
    # A kept stack its state directory records, and one being started (its lock is held).
    recorded, starting = StateDir(tmp_path / "recorded"), StateDir(tmp_path / "starting")
    recorded.save(StackState(f"recorded-{run}", "kept", True, "", {}, {}))
    container({**kept, LABEL_STACK: f"recorded-{run}", LABEL_STATE: str(recorded.path)})
    container({**kept, LABEL_STACK: f"starting-{run}", LABEL_STATE: str(starting.path)})
    # A kept start killed before it wrote its state file: nothing records it.
    container({**kept, LABEL_STACK: f"killed-{run}", LABEL_STATE: str(tmp_path / "killed")})
    try:
        with starting.locked():
            gone = prune(docker_client)

        removed = {leftover.stack_id for leftover in gone}
        assert {f"orphan-{run}", f"killed-{run}"} <= removed
        staying = {f"alive-{run}", f"kept-{run}", f"elsewhere-{run}"}
        staying |= {f"recorded-{run}", f"starting-{run}"}
        assert not staying & removed
        remaining = {c.id for c in docker_client.containers.list(all=True, sparse=True)}
        assert made[0].id not in remaining
        assert made[-1].id not in remaining
        assert {c.id for c in made[1:-1]} <= remaining
    finally:
        for made_container in made:
            with contextlib.suppress(NotFound):
                made_container.remove(force=True)


def _redis_image(docker_client):
    return next(
        image.id
        for image in docker_client.images.list(filters={"label": f"{LABEL_MANAGED}=true"})
        if any(tag.startswith("stackyard/redis:") for tag in image.tags)
    )


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait(timeout=10)
    return process.pid


def test_up_killed_while_its_stack_starts_leaves_nothing_down_cannot_remove(
    pytestconfig, tmp_path, docker_client
):
    state = tmp_path / "state"
    command = [sys.executable, "-m", "orchestrator", "--project", str(pytestconfig.rootpath)]
    label = {"label": f"{LABEL_STATE}={state}"}
    with subprocess.Popen(
        [*command, "up", "--workers", "0"],
        env=inner_environment(state),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as up:
        deadline = time.monotonic() + 60
        while not docker_client.containers.list(all=True, filters=label, sparse=True):
            assert time.monotonic() < deadline, "up started no container in 60 s"
            time.sleep(0.05)
        up.send_signal(signal.SIGKILL)  # before its stack is recorded
    assert not (state / "stack.json").exists()
    time.sleep(1)  # a container requested as it died may appear a moment later

    down = orchestrator(pytestconfig.rootpath, state, "down")

    assert down.returncode == 0, down.stderr
    assert not docker_client.containers.list(all=True, filters=label, sparse=True)
    assert not docker_client.networks.list(filters=label)
