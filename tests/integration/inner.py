"""Run pytest sessions inside a test, against this project's configuration."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from orchestrator.engine import LABEL_STACK

RUN_TIMEOUT = 300


def inner_command(root: Path, test_file: Path, *args: str) -> list[str]:
    command = [sys.executable, "-m", "pytest", str(test_file), "--rootdir", str(root)]
    return [*command, "-c", str(root / "pyproject.toml"), "-p", "no:cacheprovider", *args]


def inner_environment(state_dir: Path, **extra: str) -> dict[str, str]:
    """Its own state directory: the inner run's test databases and kept stack are its own.
    A run of its own, too: not an xdist worker of the outer run (whose variables say so)."""
    outer = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST_")}
    return {**outer, "ORCHESTRATOR_STATE_DIR": str(state_dir), **extra}


def write_test(directory: Path, source: str, name: str = "test_inner.py") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(source))
    return path


def run_inner(
    root: Path, test_file: Path, state_dir: Path, *args: str, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    return run_in_project(inner_command(root, test_file, *args), root, state_dir, **extra_env)


def run_in_project(
    command: list[str], root: Path, state_dir: Path, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    """``command`` in the project's directory, bounded, with the inner environment."""
    return subprocess.run(
        command,
        cwd=root,
        env=inner_environment(state_dir, **extra_env),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


def run_session(
    root: Path, tmp_path: Path, source: str, *args: str, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    """Write ``source`` as a test module and run it in one process (no xdist, tests in
    file order), with a state directory, and so a stack, of its own."""
    test_file = write_test(tmp_path, source)
    arguments = ["-p", "no:xdist", "-p", "no:randomly", *args]
    return run_inner(root, test_file, tmp_path / "state", *arguments, **extra_env)


def orchestrator(
    root: Path, state_dir: Path, *args: str, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    """Run the ``orchestrator`` command for this project with its own state directory."""
    command = [sys.executable, "-m", "orchestrator", "--project", str(root), *args]
    return subprocess.run(
        command,
        env=inner_environment(state_dir, **extra_env),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


def labelled(client, stack_id):
    """The containers and networks labelled with ``stack_id``."""
    label = {"label": f"{LABEL_STACK}={stack_id}"}
    # Sparse: listing must not inspect each container, which fails for one removed meanwhile.
    containers = client.containers.list(all=True, filters=label, sparse=True)
    return containers, client.networks.list(filters=label)


def collected_once_the_stack_starts(record: Path, then: str) -> str:
    """A test module that, while it is collected, waits for the first container of the
    stack its own run starts in the background, writes that stack's id to ``record``,
    then runs the statement ``then`` (fail, or wait to be killed)."""
    return f"""
import pathlib
import time

import docker

from orchestrator.engine import LABEL_OWNER, LABEL_STACK
from orchestrator.owner import owner_id

client = docker.from_env()
owner, deadline = owner_id(), time.monotonic() + 60
while True:
    ours = [
        container.attrs["Labels"]
        for container in client.containers.list(all=True, sparse=True)
        if container.attrs["Labels"].get(LABEL_OWNER) == owner
    ]
    if ours:
        break
    assert time.monotonic() < deadline, "the stack did not start at configure"
    time.sleep(0.05)
client.close()
pathlib.Path({str(record)!r}).write_text(ours[0][LABEL_STACK])
{then}
"""
