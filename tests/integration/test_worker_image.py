"""The worker image runs the Python it is built for, with dependencies resolved for that
interpreter: redis-py needs async-timeout below Python 3.11.3 (Debian bookworm's python3 is
3.11.2), and not on 3.13, whatever Python runs the tests."""

from __future__ import annotations

import pytest

from orchestrator.config import load_config
from orchestrator.images import ImageBuilder

# A first build debootstraps the release (~50 s) and installs python3 and the
# requirements (~40-90 s); later runs find the image by its tag.
BUILD_TIMEOUT = 900
PROBE = (
    "import importlib.util, sys, redis; "
    "print('%d.%d' % sys.version_info[:2], importlib.util.find_spec('async_timeout') is not None)"
)


@pytest.mark.timeout(BUILD_TIMEOUT)
@pytest.mark.parametrize(("python", "needs_async_timeout"), [("3.13", False), ("3.11", True)])
def test_the_worker_image_has_its_python_and_dependencies_resolved_for_it(
    tmp_path, docker_client, python, needs_async_timeout
):
    (tmp_path / "requirements.txt").write_text("redis==8.1.0\n")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.orchestrator]\nimage_mode = "build"\n'
        '[tool.orchestrator.worker]\nrequirements = "requirements.txt"\n'
    )
    config = load_config(tmp_path, environ={"ORCHESTRATOR_WORKER_PYTHON": python})

    report = ImageBuilder(docker_client, config, log=lambda message: None).ensure(["worker"])

    output = docker_client.containers.run(
        report["worker"].reference, entrypoint=["python", "-c", PROBE], remove=True
    )
    assert output.decode().split() == [python, str(needs_async_timeout)]
