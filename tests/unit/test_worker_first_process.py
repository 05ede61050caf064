"""The worker container's first process (docker/worker/boot.py), run as the first process of
a PID namespace of the test's own, as in the container: it reaps what the worker's children
leave behind, passes signals on to the worker, and exits as the worker did."""

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BOOT = Path(__file__).parents[2] / "docker" / "worker" / "boot.py"
# A namespace of this user's (root, or mapped to root) with its own /proc.
NAMESPACE = ["unshare", "--user", "--map-root-user", "--pid", "--fork", "--mount-proc"]
RUN_TIMEOUT = 30

# The worker's part after boot.py's first step: whatever each test gives as WORKER.
PROGRAM = """
import importlib.util, os, signal, subprocess, sys, time
spec = importlib.util.spec_from_file_location("boot", {boot!r})
boot = importlib.util.module_from_spec(spec)
spec.loader.exec_module(boot)
{first_step}
{worker}
"""
REAPER = """
boot.reap_as_first_process()
assert os.getpid() != 1, "the worker runs as a child of the first process"
"""

UNREAPED = """
def unreaped():
    found = []
    for stat in os.listdir("/proc"):
        if stat.isdigit():
            try:
                text = open(f"/proc/{stat}/stat").read()
            except OSError:
                continue
            if text.rpartition(")")[2].split()[0] == "Z":
                found.append(stat)
    return found
"""


def run_first_process(worker: str, first_step: str = REAPER) -> int:
    program = PROGRAM.format(boot=str(BOOT), first_step=first_step, worker=textwrap.dedent(worker))
    completed = subprocess.run(
        [*NAMESPACE, sys.executable, "-c", program],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert "Traceback" not in completed.stderr, completed.stderr
    return completed.returncode


@pytest.fixture(autouse=True, scope="module")
def namespaces_allowed() -> None:
    if shutil.which("unshare") is None:
        pytest.skip("util-linux's unshare is not installed")
    probe = subprocess.run([*NAMESPACE, "true"], capture_output=True, text=True, timeout=10)
    if probe.returncode != 0:
        pytest.skip(f"this machine refuses a PID namespace: {probe.stderr.strip()}")


def test_the_first_process_exits_with_the_workers_code() -> None:
    assert run_first_process("sys.exit(7)") == 7


def test_a_worker_ended_by_a_signal_gives_128_plus_the_signal() -> None:
    assert run_first_process("os.kill(os.getpid(), signal.SIGKILL)") == 128 + 9


def test_a_signal_to_the_first_process_reaches_the_worker() -> None:
    worker = """
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(5))
    os.kill(1, signal.SIGTERM)  # as `docker stop` does
    time.sleep(20)
    sys.exit(1)  # the signal never came
    """
    assert run_first_process(worker) == 5


REAPED = (
    UNREAPED
    + """
# Each subshell ends at once, orphaning its sleep to the first process.
for _ in range(3):
    subprocess.run(["sh", "-c", "(sleep 0.1 &)"], check=True)
time.sleep(0.5)  # the sleeps have ended: reaped, or left as zombies
deadline = time.monotonic() + 2  # reaped at once; 2 s means never
while unreaped() and time.monotonic() < deadline:
    time.sleep(0.05)
sys.exit(3 if unreaped() else 0)
"""
)


def test_orphans_of_the_worker_are_reaped() -> None:
    assert run_first_process(REAPED) == 0


def test_without_the_reaper_the_orphans_stay() -> None:
    """The check above can fail: with the worker as the first process, they stay."""
    assert run_first_process(REAPED, first_step="") == 3
