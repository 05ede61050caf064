"""The stack on a remote Docker engine: ``DOCKER_HOST=tcp://...`` at an engine in a network
namespace of its own (``ci/remote-engine.sh``), another host as far as the tests know.

The example's whole integration layer runs there. Its published ports are reached at the
engine's address, the worker gets the project's source copied in (nothing of this
machine is mounted), and the browser reaches the live server at this machine's address
towards the engine. The engine has no registry: the images this machine built are
loaded into it (the ones the tests build themselves are built there, from the mirrors).

Run with ``make test-remote`` (as root); not collected by the other layers.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.config import load_config
from orchestrator.engine import LABEL_MANAGED, LABEL_SERVICE, connect
from orchestrator.images import ImageBuilder
from tests.integration.inner import inner_environment

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "ci" / "remote-engine.sh"
ENGINE_ADDRESS = "10.201.0.2"
STEP_TIMEOUT = 1200  # the whole integration layer, ~6 min here

SERVICE_OF_EVENT = f'{{{{index .Actor.Attributes "{LABEL_SERVICE}"}}}}'

pytestmark = pytest.mark.timeout(2 * STEP_TIMEOUT)


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, capture_output=True, text=True, timeout=STEP_TIMEOUT, check=False, **kwargs
    )


def images_to_load() -> list[str]:
    """The images the stack runs, as this machine's engine has them, and their bases."""
    local = connect()
    try:
        builder = ImageBuilder(local, load_config(ROOT), log=lambda message: None)
        references = [report.reference for report in builder.ensure().values()]
        return sorted({*references, builder.base_image(), builder.worker_base()})
    finally:
        local.close()


@pytest.fixture(scope="module")
def remote_engine() -> Iterator[str]:
    started = run(["bash", str(SCRIPT), "up"])
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip()
    try:
        names = images_to_load()
        with subprocess.Popen(["docker", "save", *names], stdout=subprocess.PIPE) as saved:
            loaded = run(["docker", "-H", url, "load"], stdin=saved.stdout)
        assert (saved.returncode, loaded.returncode) == (0, 0), loaded.stderr
        yield url
    finally:
        stopped = run(["bash", str(SCRIPT), "down"])
        assert stopped.returncode == 0, stopped.stderr


def environment(url: str, state_dir: Path, **extra: str) -> dict[str, str]:
    return inner_environment(state_dir, DOCKER_HOST=url, **extra)


def managed(url: str = "") -> set[str]:
    """The containers and networks stackyard made on an engine (this machine's: ``""``).

    Asked through the docker command: this process runs under the fast layer's network
    guard, which lets subprocesses through."""
    engine = ["-H", url] if url else []
    found = set()
    for kind in ("container", "network"):
        listing = [kind, "ls", "-q", "--filter", f"label={LABEL_MANAGED}"]
        if kind == "container":
            listing.insert(2, "-a")
        listed = run(["docker", *engine, *listing])
        assert listed.returncode == 0, listed.stderr
        found |= {f"{kind} {name}" for name in listed.stdout.split()}
    return found


@contextlib.contextmanager
def started_services(url: str = "") -> Iterator[list[str]]:
    """The services of stackyard's containers that an engine starts meanwhile, as the
    engine reports them (a stream: its event log keeps only the latest few hundred)."""
    engine = ["-H", url] if url else []
    command = ["docker", *engine, "events", "--filter", f"label={LABEL_MANAGED}"]
    command += ["--filter", "event=start", "--format", SERVICE_OF_EVENT]
    services: list[str] = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as events:
        try:
            time.sleep(1)  # the stream is open before anything starts
            yield services
            time.sleep(1)  # the last events are through
        finally:
            events.terminate()
            stdout, _ = events.communicate(timeout=30)
        services += stdout.split()


def test_the_integration_tests_pass_on_a_remote_engine(remote_engine, tmp_path):
    before = managed()
    command = [sys.executable, "-m", "pytest", "tests/integration", "-m", "integration"]
    command += ["-n", "2", "--dist", "loadscope", "-p", "no:cacheprovider", "-p", "no:randomly"]
    with started_services(remote_engine) as there, started_services() as here:
        result = run(command, cwd=ROOT, env=environment(remote_engine, tmp_path / "state"))
    output = result.stdout + result.stderr

    assert result.returncode == 0, output[-6000:]
    last = output.rstrip().splitlines()[-1]
    assert re.search(r"\d+ passed", last), output[-3000:]
    assert " failed" not in last
    assert " error" not in last
    # It ran there, every kind of service, and none here; nothing is left on either engine.
    assert {"rabbitmq", "redis", "postgres", "browser", "worker-gw0", "worker-gw1"} <= set(there), (
        there
    )
    assert here == []
    assert managed(remote_engine) == set()
    assert managed() <= before


def test_orchestrator_up_status_down_on_a_remote_engine(remote_engine, tmp_path):
    command = [sys.executable, "-m", "orchestrator", "--project", str(ROOT)]
    env = environment(remote_engine, tmp_path / "state")
    try:
        up = run([*command, "up"], cwd=ROOT, env=env)
        assert up.returncode == 0, up.stdout + up.stderr
        listed = run(["docker", "-H", remote_engine, "ps", "--format", "{{.Names}}"])
        running = set(listed.stdout.split())
        for service in ("rabbitmq", "redis", "postgres", "browser"):
            assert any(name.endswith(f"-{service}") for name in running), running

        status = run([*command, "status"], cwd=ROOT, env=env)
        assert status.returncode == 0, status.stdout + status.stderr
        # Its endpoints are the remote engine's address, never this machine's loopback.
        assert ENGINE_ADDRESS in status.stdout, status.stdout
        assert "127.0.0.1" not in status.stdout, status.stdout

        exported = run([*command, "env"], cwd=ROOT, env=env)
        assert exported.returncode == 0, exported.stderr
        assert f"@{ENGINE_ADDRESS}:" in exported.stdout

        down = run([*command, "down"], cwd=ROOT, env=env)
        assert down.returncode == 0, down.stdout + down.stderr
        assert managed(remote_engine) == set()
    finally:
        run([*command, "down"], cwd=ROOT, env=env)


def test_a_sqlite_stack_on_a_remote_engine_is_refused_in_one_line(remote_engine, tmp_path):
    env = environment(remote_engine, tmp_path / "state", ORCHESTRATOR_DATABASE="sqlite")
    command = [sys.executable, "-m", "orchestrator", "--project", str(ROOT), "up"]
    result = run(command, cwd=ROOT, env=env)

    assert result.returncode != 0
    assert "database = 'sqlite'" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert managed(remote_engine) == set()
