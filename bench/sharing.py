"""Benchmark: sharing and keeping stacks, as ratios measured in one run.

- attach to a kept stack vs a cold start of the same stack (engine API);
- the per-test reset of a slice (purge its queues, empty its results and channel keys);
- a cold run with ``-n 2`` vs ``-n 0`` (one stack either way, a worker container per process);
- the app's integration tests, cold (nothing running) vs warm (after ``orchestrator up``);
- overlap: the session overhead of a cold run of the app's integration tests (from the
  start of the pytest process to the moment every process runs its first test), with
  the stack started as the run is configured (the default) vs when the first test needs
  it (``orchestrator_overlap = false``), with ``-n 0`` and ``-n 2``.

Every run uses its own state directory, so a kept stack of the project is not touched.
Run: ``make bench`` (or ``.venv/bin/python bench/sharing.py``).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from orchestrator.cleaning import SliceCleaner
from orchestrator.config import find_project_root, load_config
from orchestrator.engine import connect
from orchestrator.kept import down
from orchestrator.lifecycle import open_stack
from orchestrator.owner import KEPT

ROOT = find_project_root(Path(__file__).parent)
APP_TESTS = [
    "tests/integration/test_celery_worker.py",
    "tests/integration/test_channels_redis.py",
    "tests/integration/test_browser.py",
    "tests/integration/test_live_server_testcase.py",
    "tests/integration/test_pytest_celery_style.py",
]
# Loaded into the measured runs: each process notes when its first test's body starts.
FIRST_CALL_PLUGIN = """
import os, time

_noted = []


def pytest_runtest_call(item):
    if not _noted:
        _noted.append(True)
        name = os.environ.get("PYTEST_XDIST_WORKER", "main")
        seconds = time.time() - float(os.environ["BENCH_STARTED"])
        with open(os.path.join(os.environ["BENCH_FIRST_CALLS"], name), "w") as out:
            out.write(repr(seconds))
"""
TWO_CLASSES = """
import pytest

RESULT_TIMEOUT = 30


@pytest.mark.django_db(transaction=True)
class TestOne:
    def test_round_trip(self, stack_celery_app):
        assert stack_celery_app.send_task("celery.accumulate", args=(1,)).get(
            timeout=RESULT_TIMEOUT) == [1]


@pytest.mark.django_db(transaction=True)
class TestTwo:
    def test_round_trip(self, stack_celery_app):
        assert stack_celery_app.send_task("celery.accumulate", args=(2,)).get(
            timeout=RESULT_TIMEOUT) == [2]
"""


def quiet(message: str) -> None:
    del message


def pytest_run(state: Path, *args: str) -> float:
    command = [sys.executable, "-m", "pytest", *args, "-q", "-p", "no:cacheprovider"]
    environment = {**os.environ, "ORCHESTRATOR_STATE_DIR": str(state)}
    began = time.perf_counter()
    completed = subprocess.run(
        command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=900
    )
    elapsed = time.perf_counter() - began
    if completed.returncode != 0:
        raise SystemExit(f"pytest {' '.join(args)} failed:\n{completed.stdout[-3000:]}")
    return elapsed


def session_overhead(work: Path, state: Path, *args: str) -> float:
    """Seconds from the pytest process's start until its last process runs its first test."""
    calls = Path(tempfile.mkdtemp(dir=work))
    environment = {
        **os.environ,
        "ORCHESTRATOR_STATE_DIR": str(state),
        "PYTHONPATH": str(work),
        "BENCH_FIRST_CALLS": str(calls),
        "BENCH_STARTED": repr(time.time()),
    }
    command = [sys.executable, "-m", "pytest", *args, "-q", "-p", "no:cacheprovider"]
    completed = subprocess.run(
        [*command, "-p", "bench_first_call"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if completed.returncode != 0:
        raise SystemExit(f"pytest {' '.join(args)} failed:\n{completed.stdout[-3000:]}")
    return max(float(path.read_text()) for path in calls.iterdir())


def orchestrator_up(state: Path) -> None:
    environment = {**os.environ, "ORCHESTRATOR_STATE_DIR": str(state)}
    subprocess.run(
        [sys.executable, "-m", "orchestrator", "--project", str(ROOT), "up"],
        env=environment,
        capture_output=True,
        check=True,
        timeout=600,
    )


def kept_attach_vs_cold(work: Path, rounds: int) -> tuple[list[float], list[float], list[float]]:
    """Cold starts, attaches, and RabbitMQ's own launch-to-ready time in each cold start."""
    client = connect()
    colds, attaches, rabbitmq_boots = [], [], []
    for number in range(rounds):
        state = work / f"kept-{number}"
        config = load_config(ROOT, {**os.environ, "ORCHESTRATOR_STATE_DIR": str(state)})
        began = time.perf_counter()
        started = open_stack(client, config, state, KEPT, keep=True, log=quiet)
        colds.append(time.perf_counter() - began)
        rabbitmq_boots.append(started.stack.timings["rabbitmq"])
        for _ in range(3):
            began = time.perf_counter()
            open_stack(client, config, state, KEPT, keep=False, log=quiet)
            attaches.append(time.perf_counter() - began)
        down(client, config)
    return colds, attaches, rabbitmq_boots


def reset_latency(work: Path, count: int) -> list[float]:
    client = connect()
    state = work / "reset"
    config = load_config(ROOT, {**os.environ, "ORCHESTRATOR_STATE_DIR": str(state)})
    attachment = open_stack(client, config, state, KEPT, keep=True, log=quiet)
    try:
        slice_ = attachment.ensure_slice("bench")
        endpoints = attachment.plan.endpoints(attachment.stack.locate, slice_)
        cleaner = SliceCleaner(attachment.plan.cleaners(endpoints, slice_))
        for _ in range(20):
            cleaner.reset()
        samples = []
        for _ in range(count):
            began = time.perf_counter()
            cleaner.reset()
            samples.append(time.perf_counter() - began)
        cleaner.close()
        return samples
    finally:
        down(client, config)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="stackyard-bench-") as tmp:
        work = Path(tmp)
        (work / "test_two_classes.py").write_text(textwrap.dedent(TWO_CLASSES))
        (work / "bench_first_call.py").write_text(textwrap.dedent(FIRST_CALL_PLUGIN))
        two_classes = str(work / "test_two_classes.py")
        base = ["--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"), "-m", "integration"]

        colds, attaches, rabbitmq_boots = kept_attach_vs_cold(work, rounds=3)
        resets = reset_latency(work, count=500)
        sequential, parallel = [], []
        overheads: dict[tuple[str, bool], list[float]] = {}
        lazy = ("-o", "orchestrator_overlap=false")
        for number in range(5):
            state = work / f"runs-{number}"
            sequential.append(pytest_run(state, *base, two_classes, "-p", "no:xdist"))
            parallel.append(pytest_run(state, *base, two_classes, "-n", "2"))
            for processes in ("0", "2"):
                for overlapped in (True, False):
                    args = ["-m", "integration", "-n", processes, *APP_TESTS]
                    seconds = session_overhead(work, state, *args, *(() if overlapped else lazy))
                    overheads.setdefault((processes, overlapped), []).append(seconds)
        app_args = ["-m", "integration", "-n", "2", "--dist", "loadscope", *APP_TESTS]
        cold_suite = pytest_run(work / "suite", *app_args)
        orchestrator_up(work / "suite")
        warm_suite = pytest_run(work / "suite", *app_args)
        down(
            connect(),
            load_config(ROOT, {**os.environ, "ORCHESTRATOR_STATE_DIR": str(work / "suite")}),
        )

    cold, attach = statistics.median(colds), statistics.median(attaches)
    print(f"kept stack: cold start {cold:.2f} s, attach {attach * 1000:.0f} ms (median)")
    print(f"  cold / attach = {cold / attach:.0f}x   (goals: attach <= 0.3 s, >= 20x)")
    milliseconds = sorted(sample * 1000 for sample in resets)
    p95 = milliseconds[int(len(milliseconds) * 0.95) - 1]
    print(f"per-test reset of a slice, {len(resets)} resets:")
    median = statistics.median(milliseconds)
    print(f"  median {median:.2f} ms, p95 {p95:.2f} ms   (goal median <= 5 ms)")
    n0, n2 = statistics.median(sequential), statistics.median(parallel)
    print(f"cold run, two test classes handing work to workers: -n 0 {n0:.1f} s, -n 2 {n2:.1f} s")
    print(f"  -n 2 / -n 0 = {n2 / n0:.2f}x   (goal <= 1.1x)")
    print(f"app integration tests (-n 2): cold {cold_suite:.1f} s, warm {warm_suite:.1f} s")
    print(f"  cold / warm = {cold_suite / warm_suite:.2f}x")
    boot = statistics.median(rabbitmq_boots)
    print("session overhead of a cold run of the app's integration tests (start to first test),")
    print(f"median of 5; RabbitMQ's boot (launch to ready, in the cold starts above): {boot:.2f} s")
    for processes in ("0", "2"):
        with_overlap = statistics.median(overheads[(processes, True)])
        without = statistics.median(overheads[(processes, False)])
        hidden = without - with_overlap
        print(
            f"  -n {processes}: overlap {with_overlap:.2f} s, stack when first needed "
            f"{without:.2f} s; hidden {hidden:.2f} s = {hidden / boot:.0%} of RabbitMQ's boot"
        )
    print("  (goal: overlap hides at least half of RabbitMQ's boot)")


if __name__ == "__main__":
    main()
