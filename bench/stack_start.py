"""Benchmark: cold stack start and task round-trip latency, as ratios measured in one run.

Start-up (images present, containers new each time), interleaved over rounds:
- all four services (Redis, RabbitMQ, browser, worker) started concurrently;
- RabbitMQ, the slowest service, started alone;
- the four started one after another.
Then the round-trip latency of a task through RabbitMQ, the worker container
and the Redis result backend (Celery's built-in ``celery.accumulate``, so only
the transport is measured).

Run: ``make bench`` (or ``.venv/bin/python bench/stack_start.py [--rounds N]``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from celery import Celery

from orchestrator.config import database_dir, find_project_root, load_config
from orchestrator.engine import connect
from orchestrator.images import ImageBuilder
from orchestrator.plan import MAIN_SLICE, StackPlan, generate_credentials
from orchestrator.spec import ServiceSpec
from orchestrator.stack import Stack

GOAL_START_RATIO = 1.2
GOAL_P50_MS = 15.0


def timed(start: Callable[[Stack], None], client: object) -> float:
    stack = Stack(client, log=lambda message: None)  # type: ignore[arg-type]
    began = time.perf_counter()
    try:
        start(stack)
        return time.perf_counter() - began
    finally:
        stack.stop()


def together(specs: list[ServiceSpec]) -> Callable[[Stack], None]:
    def start(stack: Stack) -> None:
        stack.start(specs)

    return start


def one_after_another(specs: list[ServiceSpec]) -> Callable[[Stack], None]:
    def start(stack: Stack) -> None:
        for spec in specs:
            stack.launch(spec)
            stack.wait(spec.name)

    return start


def brokers(plan: StackPlan) -> list[ServiceSpec]:
    """Redis and RabbitMQ, RabbitMQ making the slice's vhost as it boots."""
    return [plan.service_spec("redis"), plan.service_spec("rabbitmq", [MAIN_SLICE])]


def round_trips(plan: StackPlan, client: object, count: int) -> list[float]:
    stack = Stack(client, log=lambda message: None)  # type: ignore[arg-type]
    try:
        stack.start([*brokers(plan), plan.worker_spec()])
        endpoints = plan.endpoints(stack.locate)
        app = Celery("bench", broker=endpoints.broker_url, backend=endpoints.result_backend)
        try:
            for _ in range(20):  # warm up connections and the worker's threads
                app.send_task("celery.accumulate", args=(0,)).get(timeout=10)
            samples = []
            for number in range(count):
                began = time.perf_counter()
                result = app.send_task("celery.accumulate", args=(number,))
                assert result.get(timeout=10) == [number]
                samples.append(time.perf_counter() - began)
            return samples
        finally:
            app.close()
    finally:
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=300)
    args = parser.parse_args()

    client = connect()
    with tempfile.TemporaryDirectory(prefix="stackyard-bench-") as tmp:
        # The default roles: RabbitMQ the broker, Redis the rest, the worker on SQLite.
        roles = {"ORCHESTRATOR_BROKER": "rabbitmq", "ORCHESTRATOR_DATABASE": "sqlite"}
        environ = {**os.environ, **roles, "ORCHESTRATOR_STATE_DIR": tmp}
        config = load_config(find_project_root(Path(__file__).parent), environ)
        database_dir(config).mkdir(parents=True)
        images = {name: r.reference for name, r in ImageBuilder(client, config).ensure().items()}
        plan = StackPlan(config, images, generate_credentials())
        specs = [*brokers(plan), plan.browser_spec(), plan.worker_spec()]
        rabbitmq = [spec for spec in specs if spec.name == "rabbitmq"]
        starts: dict[str, list[float]] = {"concurrent": [], "rabbitmq alone": [], "sequential": []}
        for _ in range(args.rounds):
            starts["concurrent"].append(timed(together(specs), client))
            starts["rabbitmq alone"].append(timed(together(rabbitmq), client))
            starts["sequential"].append(timed(one_after_another(specs), client))
        samples = round_trips(plan, client, args.tasks)

    median = {name: statistics.median(values) for name, values in starts.items()}
    print(f"stack start, median of {args.rounds} rounds (all four services ready):")
    for name, value in median.items():
        runs = ", ".join(f"{v:.2f}" for v in starts[name])
        print(f"  {name:<15} {value:6.2f} s   ({runs})")
    start_ratio = median["concurrent"] / median["rabbitmq alone"]
    print(f"  concurrent / rabbitmq alone = {start_ratio:.2f}x  (goal <= {GOAL_START_RATIO}x)")
    print(f"  sequential / concurrent     = {median['sequential'] / median['concurrent']:.2f}x")
    milliseconds = sorted(sample * 1000 for sample in samples)
    p50 = statistics.median(milliseconds)
    p95 = milliseconds[int(len(milliseconds) * 0.95) - 1]
    print(f"task round trip via RabbitMQ -> worker container -> Redis, {len(samples)} tasks:")
    print(f"  p50 {p50:.1f} ms   p95 {p95:.1f} ms   (goal p50 <= {GOAL_P50_MS} ms)")


if __name__ == "__main__":
    main()
