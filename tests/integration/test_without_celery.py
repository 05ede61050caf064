"""A project that does not use Celery (no worker.app) still gets the browser and the
live server, in both styles, and no worker container is started for it."""

from pathlib import Path

import pytest

from tests.integration.inner import run_inner

ROOT = Path(__file__).parents[2]


@pytest.mark.timeout(240)
def test_live_server_and_browser_without_a_celery_worker(tmp_path):
    completed = run_inner(
        ROOT,
        ROOT / "tests/integration/test_live_server_testcase.py",
        tmp_path / "state",
        # Two processes: the second attaches to the stack the first started.
        "-n",
        "2",
        "--dist",
        "loadscope",
        "-k",
        "RoomPageTests or OwnBrowserOptionsTests",
        ORCHESTRATOR_WORKER_APP="",
    )

    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-4000:]
    assert "2 passed" in output, output[-4000:]
    services = output.split("services:")[1].split("slowest tests:")[0]
    assert "browser" in services, services
    assert "worker" not in services, services
