"""What the tests of other engines share: starting one with its script, loading this
machine's images into it, running the example's tests on it, and seeing what ran where.

Everything here goes through the docker command (``docker -H URL``): these tests run
under the fast layer's network guard, which lets subprocesses through.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from orchestrator.config import load_config
from orchestrator.engine import LABEL_MANAGED, LABEL_SERVICE, connect
from orchestrator.images import ImageBuilder
from tests.integration.inner import inner_environment

ROOT = Path(__file__).resolve().parents[2]
STEP_TIMEOUT = 1200  # the whole integration layer, ~6 min here
POLL = 0.5  # seconds between looks at what an engine runs
SERVICE_FORMAT = f'{{{{.Label "{LABEL_SERVICE}"}}}}'


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, capture_output=True, text=True, timeout=STEP_TIMEOUT, check=False, **kwargs
    )


def images_to_load(services: tuple[str, ...] | None = None) -> list[str]:
    """The images of ``services`` (default: all) as this machine's engine has them, and
    their bases (an image's tag depends on its base's id: the engine must have both)."""
    local = connect()
    try:
        builder = ImageBuilder(local, load_config(ROOT), log=lambda message: None)
        reports = builder.ensure() if services is None else builder.ensure(services)
        references = [report.reference for report in reports.values()]
        return sorted({*references, builder.base_image(), builder.worker_base()})
    finally:
        local.close()


@contextlib.contextmanager
def engine_started(script: str, services: tuple[str, ...] | None = None) -> Iterator[str]:
    """The engine ``ci/SCRIPT up`` starts, with this machine's images of ``services``
    loaded into it (it reaches no registry); ``down`` removes it and all of it afterwards."""
    command = ["bash", str(ROOT / "ci" / script)]
    try:  # `down` even when `up` stopped half-way
        started = run([*command, "up"])
        assert started.returncode == 0, started.stderr
        url = started.stdout.strip()
        names = images_to_load(services)
        with subprocess.Popen(["docker", "save", *names], stdout=subprocess.PIPE) as saved:
            loaded = run(["docker", "-H", url, "load"], stdin=saved.stdout)
        assert (saved.returncode, loaded.returncode) == (0, 0), loaded.stderr
        yield url
    finally:
        stopped = run([*command, "down"])
        assert stopped.returncode == 0, stopped.stderr


def environment(url: str, state_dir: Path, **extra: str) -> dict[str, str]:
    return inner_environment(state_dir, DOCKER_HOST=url, **extra)


def managed(url: str = "") -> set[str]:
    """The containers and networks stackyard made on an engine (this machine's: ``""``)."""
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
def services_seen(url: str = "") -> Iterator[set[str]]:
    """The services of stackyard's containers seen running on an engine meanwhile, looked
    at every POLL seconds (a stack's servers and workers run for a whole session)."""
    engine = ["-H", url] if url else []
    listing = ["docker", *engine, "ps", "--filter", f"label={LABEL_MANAGED}"]
    listing += ["--format", SERVICE_FORMAT]
    seen: set[str] = set()
    failures: list[str] = []
    done = threading.Event()

    def look() -> None:
        while not done.wait(POLL):
            listed = run(listing)
            if listed.returncode != 0:
                failures.append(listed.stderr)
            seen.update(listed.stdout.split())

    looking = threading.Thread(target=look, name="engine-look", daemon=True)
    looking.start()
    try:
        yield seen
    finally:
        done.set()
        looking.join(timeout=STEP_TIMEOUT)
    assert not failures, f"could not list what {url or 'this engine'} runs: {failures[0]}"


def run_tests(url: str, state_dir: Path, *paths: str, **extra: str) -> str:
    """Run the example's integration tests at ``paths`` on the engine at ``url`` as
    ``make test-integration`` does; their output, once they all passed."""
    command = [sys.executable, "-m", "pytest", *paths, "-m", "integration"]
    command += ["-n", "2", "--dist", "loadscope", "-p", "no:cacheprovider", "-p", "no:randomly"]
    result = run(command, cwd=ROOT, env=environment(url, state_dir, **extra))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    last = output.rstrip().splitlines()[-1]
    assert re.search(r"\d+ passed", last), output[-3000:]
    assert " failed" not in last
    assert " error" not in last
    return output


def orchestrator(url: str, state_dir: Path, *args: str, **extra: str):
    command = [sys.executable, "-m", "orchestrator", "--project", str(ROOT), *args]
    return run(command, cwd=ROOT, env=environment(url, state_dir, **extra))


def ran_there_only(url: str, there: set[str], here: set[str], before: set[str]) -> None:
    """What :func:`services_seen` saw: stackyard's services ran on the engine at ``url``
    and none on this machine's; nothing of them is left on either."""
    assert there, "no service of the stack ran on the engine"
    assert here == set()
    assert managed(url) == set()
    assert managed() <= before


@contextlib.contextmanager
def stack_up(url: str, state_dir: Path, services: tuple[str, ...], **extra: str) -> Iterator[str]:
    """``orchestrator up`` on the engine at ``url``, ``services`` running there; yields
    what ``orchestrator status`` says; then ``down``, which leaves nothing there."""
    try:
        up = orchestrator(url, state_dir, "up", **extra)
        assert up.returncode == 0, up.stdout + up.stderr
        listed = run(["docker", "-H", url, "ps", "--format", "{{.Names}}"])
        running = set(listed.stdout.split())
        for service in services:
            assert any(name.endswith(f"-{service}") for name in running), running
        status = orchestrator(url, state_dir, "status", **extra)
        assert status.returncode == 0, status.stdout + status.stderr
        yield status.stdout
        down = orchestrator(url, state_dir, "down", **extra)
        assert down.returncode == 0, down.stdout + down.stderr
        assert managed(url) == set()
    finally:
        orchestrator(url, state_dir, "down", **extra)
