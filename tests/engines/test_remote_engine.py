"""The stack on a remote Docker engine: ``DOCKER_HOST=tcp://...`` at an engine in a network
namespace of its own (``ci/remote-engine.sh``), another host as far as the tests know.

The example's whole integration layer runs there. Its published ports are reached at the
engine's address, the worker gets the project's source copied in (nothing of this
machine is mounted), and the browser reaches the live server at this machine's address
towards the engine. The engine has no registry: the images this machine built are
loaded into it (the ones the tests build themselves are built there, from the mirrors).

The same engine over ``ssh://`` (an sshd at its address, keys of the test's own) runs a
kept stack: this machine's ``ssh`` carries the API.

Run with ``make test-remote`` (as root); not collected by the other layers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.engines.engines import (
    ROOT,
    STEP_TIMEOUT,
    engine_started,
    managed,
    orchestrator,
    ran_there_only,
    run,
    run_tests,
    services_seen,
    stack_up,
)

ENGINE_ADDRESS = "10.201.0.2"

pytestmark = pytest.mark.timeout(2 * STEP_TIMEOUT)


@pytest.fixture(scope="module")
def remote_engine() -> Iterator[str]:
    with engine_started("remote-engine.sh") as url:
        yield url


def test_the_integration_tests_pass_on_a_remote_engine(remote_engine, tmp_path):
    before = managed()
    with services_seen(remote_engine) as there, services_seen() as here:
        run_tests(remote_engine, tmp_path / "state", "tests/integration")

    ran_there_only(remote_engine, there, here, before)
    assert {"rabbitmq", "redis", "postgres", "browser", "worker-gw0", "worker-gw1"} <= there


def test_orchestrator_up_status_down_on_a_remote_engine(remote_engine, tmp_path):
    state = tmp_path / "state"
    with stack_up(remote_engine, state, ("rabbitmq", "redis", "postgres", "browser")) as status:
        # Its endpoints are the remote engine's address, never this machine's loopback.
        assert ENGINE_ADDRESS in status, status
        assert "127.0.0.1" not in status, status
        exported = orchestrator(remote_engine, state, "env")
        assert exported.returncode == 0, exported.stderr
        assert f"@{ENGINE_ADDRESS}:" in exported.stdout


def test_a_sqlite_stack_on_a_remote_engine_is_refused_in_one_line(remote_engine, tmp_path):
    result = orchestrator(remote_engine, tmp_path / "state", "up", ORCHESTRATOR_DATABASE="sqlite")

    assert result.returncode != 0
    assert "database = 'sqlite'" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert managed(remote_engine) == set()


@pytest.fixture
def over_ssh(remote_engine, tmp_path, monkeypatch) -> str:
    """The same engine at an ``ssh://`` DOCKER_HOST (``ci/remote-engine.sh ssh``: an sshd
    at its address), this machine's ``ssh`` given the keys and known host on PATH."""
    keys = tmp_path / "ssh"
    started = run(["bash", str(ROOT / "ci" / "remote-engine.sh"), "ssh", str(keys)])
    assert started.returncode == 0, started.stderr
    monkeypatch.setenv("PATH", f"{keys / 'bin'}{os.pathsep}{os.environ['PATH']}")
    return started.stdout.strip()


def test_orchestrator_up_status_env_down_over_ssh(over_ssh, tmp_path):
    """The API over ssh: a kept stack made there, its worker ready (Celery imported the
    project's source, copied in over ssh), its endpoints at the engine's address, and
    all of it removed. (A pytest run over ssh meets docker-py's ssh transport leaving
    sockets and ssh processes behind, which pytest's warnings-as-errors reports: README,
    Known limits.)"""
    assert over_ssh == f"ssh://root@{ENGINE_ADDRESS}:2222"
    state = tmp_path / "state"
    services = ("rabbitmq", "redis", "postgres", "browser", "worker-main")
    with stack_up(over_ssh, state, services) as status:
        assert ENGINE_ADDRESS in status, status
        assert "127.0.0.1" not in status, status
        exported = orchestrator(over_ssh, state, "env")
        assert exported.returncode == 0, exported.stderr
        assert f"@{ENGINE_ADDRESS}:" in exported.stdout
