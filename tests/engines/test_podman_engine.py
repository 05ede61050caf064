"""The stack on Podman's Docker-compatible service (``DOCKER_HOST=unix://...podman.sock``),
rootful, beside this machine's Docker engine (``ci/podman-engine.sh``).

A local engine, as Docker's: ports on 127.0.0.1, the project's files mounted. Where
Podman differs, the stack says what Docker infers: Podman before 4.7 (Debian bookworm
has 4.3) knows no ``host-gateway`` (it lands in /etc/hosts as is), so the browser and
the workers get an address of this machine instead; its containers' default open-file
and process limits cannot be set where this machine's hard limits are lower (they are
here), so they get this process's own.

The tests of the worker, the channel layer, the browser and the live server run there,
on the Redis broker and SQLite (a file the worker mounts, read and written from both
sides): what crosses between this machine and Podman. The RabbitMQ and PostgreSQL
images are not loaded: the remote engine's run has them in every test.

Run with ``make test-podman`` (as root); not collected by the other layers.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.engines.engines import (
    STEP_TIMEOUT,
    engine_started,
    managed,
    ran_there_only,
    run,
    run_tests,
    services_seen,
    stack_up,
)

ACROSS = (
    "tests/integration/test_celery_worker.py",
    "tests/integration/test_channels_redis.py",
    "tests/integration/test_browser.py",
    "tests/integration/test_live_server_testcase.py",
)
ROLES = {"ORCHESTRATOR_BROKER": "redis", "ORCHESTRATOR_DATABASE": "sqlite"}
SERVICES = ("redis", "browser", "worker")

pytestmark = pytest.mark.timeout(2 * STEP_TIMEOUT)


@pytest.fixture(scope="module")
def podman() -> Iterator[str]:
    with engine_started("podman-engine.sh", SERVICES) as url:
        version = run(["docker", "-H", url, "version", "--format", "{{json .Server}}"])
        assert "Podman" in version.stdout, version.stdout + version.stderr
        yield url


def test_the_integration_tests_pass_on_podman(podman, tmp_path):
    before = managed()
    with services_seen(podman) as there, services_seen() as here:
        run_tests(podman, tmp_path / "state", *ACROSS, **ROLES)

    ran_there_only(podman, there, here, before)
    assert {"redis", "browser"} <= there, there
    assert any(service.startswith("worker-") for service in there), there


def test_orchestrator_up_status_down_on_podman(podman, tmp_path):
    with stack_up(
        podman, tmp_path / "state", ("redis", "browser", "worker-main"), **ROLES
    ) as status:
        assert "127.0.0.1:" in status, status  # a local engine's ports
