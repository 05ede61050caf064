"""A failed run keeps its containers' logs and leaves no container or network behind, even
one that ends while its stack is still starting; registry mode explains a missing image."""

import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from orchestrator.config import load_config
from orchestrator.engine import connect
from orchestrator.errors import ImageError
from orchestrator.images import ImageBuilder, stack_services
from tests.integration.inner import (
    collected_once_the_stack_starts,
    inner_command,
    inner_environment,
    labelled,
    run_inner,
    write_test,
)

RUN_TIMEOUT = 300
# Services that are servers of the roles (not the worker, not the browser).
SERVERS = ("postgres", "rabbitmq", "redis")


@pytest.mark.parametrize(
    ("processes", "workers"),
    [(("-p", "no:xdist"), ["main"]), (("-n", "2"), ["gw0", "gw1"])],
    ids=["one-process", "xdist"],
)
def test_a_failing_run_saves_its_logs_and_removes_everything_its_stack_created(
    pytestconfig, tmp_path, processes, workers
):
    """Under xdist the controller takes the stack down as soon as the last worker is done,
    while xdist winds the workers up; the logs are saved first all the same."""
    stack_file = tmp_path / "stack-id"
    test_file = tmp_path / "test_fails_on_purpose.py"
    test_file.write_text(
        textwrap.dedent(
            f"""
            import pytest

            @pytest.mark.integration
            @pytest.mark.django_db(transaction=True)
            def test_fails_after_the_stack_started(stack, stack_worker):
                open({str(stack_file)!r}, "w").write(stack.stack_id)
                assert False, "failing on purpose"
            """
        )
    )
    root = pytestconfig.rootpath
    command = [sys.executable, "-m", "pytest", str(test_file), "--rootdir", str(root)]
    command += ["-c", str(root / "pyproject.toml"), "-m", "integration", *processes]
    command += ["-p", "no:cacheprovider"]
    artifacts = tmp_path / "artifacts"
    command += ["-o", f"orchestrator_artifacts_dir={artifacts}"]

    # Its own state directory: its test database must not be this session's.
    environment = {**os.environ, "ORCHESTRATOR_STATE_DIR": str(tmp_path / "state")}
    completed = subprocess.run(
        command,
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )

    assert completed.returncode == 1, completed.stdout[-3000:]
    assert "failing on purpose" in completed.stdout
    logs = artifacts / "containers"
    # The servers this run's roles bind to the stack (the environment may change them).
    servers = [f"{name}.log" for name in stack_services(load_config(root)) if name in SERVERS]
    expected = sorted([*servers, *(f"worker-{name}.log" for name in workers)])
    assert sorted(path.name for path in logs.iterdir()) == expected
    assert "Ready to accept connections" in (logs / "redis.log").read_text()
    if "rabbitmq.log" in servers:
        assert "Starting broker... completed" in (logs / "rabbitmq.log").read_text()
    assert f"container logs: {len(expected)} file(s) in {logs}" in completed.stdout
    stack_id = stack_file.read_text()
    client = connect()
    assert labelled(client, stack_id) == ([], [])
    client.close()


def test_a_run_that_ends_while_its_stack_starts_removes_what_it_launched(pytestconfig, tmp_path):
    """The stack starts in the background at configure; here collection fails once its
    first container exists, so the run ends while RabbitMQ still boots. The run waits
    for the start it cannot call off any more, and removes the stack before it exits."""
    stack_file = tmp_path / "stack-id"
    source = collected_once_the_stack_starts(
        stack_file, 'raise RuntimeError("collection fails on purpose while the stack starts")'
    )
    test_file = write_test(tmp_path, source)

    completed = run_inner(
        pytestconfig.rootpath, test_file, tmp_path / "state", "-m", "integration", "-p", "no:xdist"
    )

    assert completed.returncode == 2, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "collection fails on purpose while the stack starts" in completed.stdout
    client = connect()
    assert labelled(client, stack_file.read_text()) == ([], [])
    client.close()


def test_registry_mode_names_the_missing_image_and_the_fix(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.orchestrator]\nimage_mode = "registry"\n'
        '[tool.orchestrator.images]\nredis = "stackyard-test/not-a-real-image:0"\n'
    )
    client = connect()
    builder = ImageBuilder(client, load_config(tmp_path, environ={}), log=lambda message: None)

    with pytest.raises(ImageError) as error:
        builder.ensure(["redis"])

    message = str(error.value)
    assert "cannot pull stackyard-test/not-a-real-image:0" in message
    assert "image_mode = 'build'" in message
    assert "\n" not in message
    client.close()


TWO_CLASSES_NEED_THE_STACK = """
import pytest

@pytest.mark.integration
class TestOne:
    def test_one(self, stack):
        pass

@pytest.mark.integration
class TestTwo:
    def test_two(self, stack):
        pass
"""


def test_a_start_that_fails_is_not_tried_again_by_the_other_processes(
    pytestconfig, tmp_path, docker_client
):
    """Too short a start-up bound (RabbitMQ needs several seconds): the run's one start
    fails, and its xdist workers report that failure instead of starting stacks of their
    own."""
    test_file = write_test(tmp_path, TWO_CLASSES_NEED_THE_STACK)
    since = int(time.time()) - 1
    command = inner_command(pytestconfig.rootpath, test_file, "-n", "2", "--dist", "loadscope")
    environment = inner_environment(
        tmp_path / "state", ORCHESTRATOR_STARTUP_TIMEOUT="1", ORCHESTRATOR_BROKER="rabbitmq"
    )
    with subprocess.Popen(
        command, cwd=pytestconfig.rootpath, env=environment, stdout=subprocess.PIPE, text=True
    ) as run:
        output, _ = run.communicate(timeout=RUN_TIMEOUT)

    assert run.returncode == 1, output[-3000:]
    assert "not ready within 1s" in output  # RabbitMQ's, or another's under load
    events = docker_client.events(
        since=since,
        until=int(time.time()) + 1,
        filters={"type": "container", "event": "create"},
        decode=True,
    )
    owner = f"{socket.gethostname()}:{run.pid}:"  # the run's main process owns its stack
    stacks = {
        event["Actor"]["Attributes"]["io.stackyard.stack"]
        for event in events
        if event["Actor"]["Attributes"].get("io.stackyard.owner", "").startswith(owner)
    }
    assert len(stacks) == 1, stacks  # one stack for the run, however many processes
