"""Benchmark: what the role bindings cost, as ratios measured in one run.

- Cold start of a stack (images present, new containers) with ``broker = "rabbitmq"``
  vs ``broker = "redis"``, the other roles alike (results and channel layer on Redis,
  database SQLite) and the slice's worker container included: the worker is what the
  first test waits for. The stack is started as the run's owner starts it
  (``lifecycle._start``: every container, the worker's too, launched at once; the
  servers awaited, the slice provisioned, then the worker awaited), without the image
  check and the watchdog. With a
  Redis broker no RabbitMQ container runs at all, so the stack should be ready in
  about Redis's boot plus the worker's. Interleaved over rounds, alternating the order.
- PostgreSQL's start alone (launch to a real login), vs Redis alone and RabbitMQ alone.
- The per-test cost of a ``transactional_db`` test with the database on PostgreSQL vs
  SQLite: at teardown Django flushes every table, then sends ``post_migrate`` again
  (content types and permissions are made anew). Measured with Django itself: a pytest
  session (the repository's pytest configuration, ``-p no:xdist -m integration``) of
  trivial tests that each create one invoice of the example app, timed per phase by a
  small plugin. The first test, which also creates the test database, is left out.
  Two sessions per database, in the order SQLite, PostgreSQL, PostgreSQL, SQLite, so
  that a drift in the machine's load weighs on both alike; the broker is Redis (the
  tests do not use it, and its stack starts sooner).
- The slice's own per-test reset with each broker (what ``StackSlice.reset()`` runs
  before each test that uses ``stack_settings``: the same cleaners, made the same way),
  timed in each cold-started stack of the first measurement once it is ready.

Every stack runs under a state directory of its own (a kept stack of the project is not
touched) and is removed at the end. Every wait is bounded: the services' readiness by
``startup_timeout``, the pytest sessions by a subprocess timeout and pytest-timeout.
Run: ``.venv/bin/python bench/roles.py [--rounds N] [--alone N] [--tests N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import docker

from orchestrator.cleaning import SliceCleaner
from orchestrator.config import Config, database_dir, find_project_root, load_config
from orchestrator.engine import LABEL_MANAGED, LABEL_OWNER, connect
from orchestrator.images import ImageBuilder, stack_services
from orchestrator.plan import MAIN_SLICE, StackPlan, generate_credentials
from orchestrator.stack import Stack

ROOT = find_project_root(Path(__file__).parent)
BROKERS = ("rabbitmq", "redis")
DATABASES = ("sqlite", "postgres")
SESSION_TIMEOUT = 300  # seconds; a session here takes 15-30 s
RESETS = 50
PHASES = ("setup", "call", "teardown")
# Seconds of each phase of each test, by node id, in the order the tests ran.
Phases = dict[str, dict[str, float]]
# Loaded into the measured sessions: each test's phases, in the order they ran.
PHASES_PLUGIN = """
import json, os

_phases = {}


def pytest_runtest_logreport(report):
    _phases.setdefault(report.nodeid, {})[report.when] = report.duration


def pytest_sessionfinish(session):
    with open(os.environ["BENCH_PHASES"], "w") as out:
        json.dump(_phases, out)
"""
# The measured tests: each creates one row and leaves Django to flush it.
ROWS_TESTS = """
import pytest

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("number", range({tests}))
def test_row(number, stack, transactional_db):
    from billing.models import Invoice

    Invoice.objects.create(
        number=f"INV-{{number}}", amount="12.50", customer_email="someone@example.com"
    )
    assert Invoice.objects.count() == 1
"""


def quiet(message: str) -> None:
    del message


def role_config(state: Path, **roles: str) -> Config:
    overrides = {f"ORCHESTRATOR_{role.upper()}": value for role, value in roles.items()}
    return load_config(ROOT, {**os.environ, "ORCHESTRATOR_STATE_DIR": str(state), **overrides})


def images_for(
    client: docker.DockerClient, config: Config, services: Sequence[str]
) -> dict[str, str]:
    reports = ImageBuilder(client, config, quiet).ensure(services)
    built = [name for name, report in reports.items() if report.action != "present"]
    if built:
        print(f"(images {', '.join(built)} were not present: made before measuring)")
    return {name: report.reference for name, report in reports.items()}


def cold_start(
    client: docker.DockerClient, plan: StackPlan
) -> tuple[float, dict[str, float], list[float]]:
    """Launch to everything ready (the servers and the main slice's worker), as the run's
    owner starts it; each service's own launch-to-ready time; then the slice's resets."""
    stack = Stack(client, log=quiet)
    slices = [MAIN_SLICE]
    if plan.bindings["database"].service == "sqlite":
        database_dir(plan.config).mkdir(parents=True, exist_ok=True, mode=0o700)
    began = time.perf_counter()
    try:
        stack.ensure_network()
        for spec in [*plan.service_specs(slices), plan.worker_spec(MAIN_SLICE)]:
            stack.launch(spec)
        for name in plan.services:
            stack.wait(name)
        plan.provision(slices, stack.locate, stack.exec_in, stack.services())
        stack.wait_all()
        ready = time.perf_counter() - began
        return ready, dict(stack.timings), slice_resets(plan, stack)
    finally:
        stack.stop()


def slice_resets(plan: StackPlan, stack: Stack) -> list[float]:
    """Seconds of each of RESETS resets of the main slice, made as ``StackSlice`` makes it."""
    cleaner = SliceCleaner(plan.cleaners(plan.endpoints(stack.locate, MAIN_SLICE), MAIN_SLICE))
    try:
        for _ in range(10):  # warm up the connections
            cleaner.reset()
        samples = []
        for _ in range(RESETS):
            began = time.perf_counter()
            cleaner.reset()
            samples.append(time.perf_counter() - began)
        return samples
    finally:
        cleaner.close()


def alone(client: docker.DockerClient, plan: StackPlan, service: str) -> float:
    """Launch to ready of one server on its own (its probe: a login, an AUTH + PING)."""
    stack = Stack(client, log=quiet)
    try:
        return stack.start([plan.service_spec(service)])[service]
    finally:
        stack.stop()


def session(work: Path, database: str, number: int) -> tuple[Phases, float]:
    """One pytest session of the row tests: phases per test, and its wall time."""
    name = f"{database}-{number}"
    phases = work / f"phases-{name}.json"
    environment = {
        **os.environ,
        "PYTHONPATH": str(work),
        "ORCHESTRATOR_STATE_DIR": str(work / f"state-{name}"),
        "ORCHESTRATOR_DATABASE": database,
        "ORCHESTRATOR_BROKER": "redis",
        "BENCH_PHASES": str(phases),
    }
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(work / "test_roles_rows.py"),
        "--rootdir",
        str(ROOT),
        "-c",
        str(ROOT / "pyproject.toml"),
        "-p",
        "no:xdist",
        "-p",
        "no:cacheprovider",
        "-p",
        "bench_phases",
        "-m",
        "integration",
        "-q",
    ]
    began = time.perf_counter()
    completed = subprocess.run(
        command,
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=SESSION_TIMEOUT,
    )
    elapsed = time.perf_counter() - began
    if completed.returncode != 0:
        raise SystemExit(f"pytest session {name} failed:\n{completed.stdout[-3000:]}")
    return json.loads(phases.read_text()), elapsed


def row_phases(phases: Phases) -> list[dict[str, float]]:
    """The row tests' phases, the first (which creates the test database) left out."""
    rows = [value for nodeid, value in phases.items() if "test_row[" in nodeid]
    return [dict(value) for value in rows[1:]]


def median_ms(values: Sequence[float]) -> float:
    return statistics.median(values) * 1000


def p95_ms(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000


def others_running(client: docker.DockerClient) -> int:
    """Running stackyard containers on the engine, counted when none of this benchmark's
    run: those of other processes (contention)."""
    return len(client.containers.list(filters={"label": LABEL_MANAGED}, sparse=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="cold starts per broker")
    parser.add_argument("--alone", type=int, default=5, help="starts of each server alone")
    parser.add_argument("--tests", type=int, default=30, help="row tests per pytest session")
    args = parser.parse_args()

    client = connect()
    owner = Stack(client, log=quiet).owner
    contention = [others_running(client)]
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="stackyard-bench-") as tmp:
        work = Path(tmp)
        configs = {
            broker: role_config(work / "state", broker=broker, database="sqlite")
            for broker in BROKERS
        }
        plans = {
            broker: StackPlan(
                config,
                images_for(client, config, [s for s in stack_services(config) if s != "browser"]),
                generate_credentials(),
            )
            for broker, config in configs.items()
        }
        postgres_config = role_config(work / "state", database="postgres")
        alone_plan = StackPlan(
            postgres_config,
            images_for(client, postgres_config, ["postgres", "redis", "rabbitmq"]),
            generate_credentials(),
        )

        # 1. Cold start of the stack per broker, interleaved, the order alternating.
        totals: dict[str, list[float]] = {broker: [] for broker in BROKERS}
        services: dict[str, dict[str, list[float]]] = {broker: {} for broker in BROKERS}
        resets: dict[str, list[float]] = {broker: [] for broker in BROKERS}
        for number in range(args.rounds):
            for broker in BROKERS if number % 2 == 0 else reversed(BROKERS):
                total, timings, samples = cold_start(client, plans[broker])
                totals[broker].append(total)
                resets[broker].extend(samples)
                for name, seconds in timings.items():
                    services[broker].setdefault(name, []).append(seconds)

        # 2. Each server alone.
        servers = ("postgres", "redis", "rabbitmq")
        alone_starts: dict[str, list[float]] = {name: [] for name in servers}
        for number in range(args.alone):
            for name in servers if number % 2 == 0 else reversed(servers):
                alone_starts[name].append(alone(client, alone_plan, name))
        contention.append(others_running(client))
        load.append(os.getloadavg()[0])

        # 3. Per-test cost with each database, ABBA: SQLite, PostgreSQL, PostgreSQL, SQLite.
        (work / "bench_phases.py").write_text(textwrap.dedent(PHASES_PLUGIN))
        (work / "test_roles_rows.py").write_text(
            textwrap.dedent(ROWS_TESTS.format(tests=args.tests))
        )
        sessions = []
        for number, database in enumerate(("sqlite", "postgres", "postgres", "sqlite")):
            sessions.append((database, *session(work, database, number)))
        contention.append(others_running(client))
        load.append(os.getloadavg()[0])
        mine: dict[str, str | list[str] | bool] = {"label": f"{LABEL_OWNER}={owner}"}
        leftover = [
            *client.containers.list(all=True, filters=mine),
            *client.networks.list(filters=mine),
        ]

    report(args, totals, services, resets, alone_starts, sessions)
    print()
    print(
        f"other stackyard containers on the engine (start, middle, end): "
        f"{', '.join(map(str, contention))}; load average (1 min): "
        f"{', '.join(f'{value:.1f}' for value in load)} on {os.cpu_count()} cores"
    )
    if leftover:
        print(f"WARNING: {len(leftover)} containers/networks of this benchmark were left behind")


def report(
    args: argparse.Namespace,
    totals: Mapping[str, list[float]],
    services: Mapping[str, Mapping[str, list[float]]],
    resets: Mapping[str, list[float]],
    alone_starts: Mapping[str, list[float]],
    sessions: Sequence[tuple[str, Phases, float]],
) -> None:
    def runs(values: Sequence[float]) -> str:
        return ", ".join(f"{value:.2f}" for value in values)

    median = {broker: statistics.median(values) for broker, values in totals.items()}
    print("1. cold start, results + channel layer on Redis, database SQLite, worker included")
    print(f"   (launch to ready, median of {args.rounds}, interleaved), and the slice's reset")
    print(f"   ({RESETS} resets in each of those stacks once ready)")
    print()
    names = sorted({name for timings in services.values() for name in timings})
    print(
        f"| broker | whole stack | {' | '.join(names)} | runs (whole stack) "
        "| slice reset: median, p95 |"
    )
    print(f"|---|---|{'---|' * len(names)}---|---|")
    for broker in BROKERS:
        cells = [
            f"{statistics.median(services[broker][name]):.2f} s"
            if name in services[broker]
            else "-"
            for name in names
        ]
        print(
            f"| {broker} | **{median[broker]:.2f} s** | {' | '.join(cells)} "
            f"| {runs(totals[broker])} "
            f"| {median_ms(resets[broker]):.2f} ms, {p95_ms(resets[broker]):.2f} ms |"
        )
    ratio = median["rabbitmq"] / median["redis"]
    redis_own = statistics.median(services["redis"]["redis"])
    worker = statistics.median(services["redis"]["worker-main"])
    reset_ratio = statistics.median(resets["rabbitmq"]) / statistics.median(resets["redis"])
    print()
    print(f"   rabbitmq / redis (whole stack) = **{ratio:.2f}x**")
    print(
        f"   Redis broker: Redis ready in {redis_own:.2f} s, the worker in {worker:.2f} s "
        f"(whole stack {median['redis']:.2f} s); no RabbitMQ container"
    )
    print(f"   slice reset, rabbitmq / redis broker = **{reset_ratio:.2f}x**")
    print()
    print(f"2. each server alone, launch to ready (median of {args.alone}, interleaved)")
    print()
    print("| server | launch to ready | runs |")
    print("|---|---|---|")
    alone_median = {name: statistics.median(values) for name, values in alone_starts.items()}
    probes = {"postgres": "a login", "redis": "AUTH + PING", "rabbitmq": "AMQP login"}
    for name, values in alone_starts.items():
        print(f"| {name} ({probes[name]}) | **{alone_median[name]:.2f} s** | {runs(values)} |")
    print()
    print(
        f"   postgres / redis = **{alone_median['postgres'] / alone_median['redis']:.1f}x**, "
        f"postgres / rabbitmq = **{alone_median['postgres'] / alone_median['rabbitmq']:.2f}x**"
    )
    print()
    print(
        f"3. per test, a transactional_db test creating one row ({args.tests - 1} tests per "
        "session, the first left out; median, ms)"
    )
    print()
    print("| session | database | setup | call | teardown (flush) | whole test | wall time |")
    print("|---|---|---|---|---|---|---|")
    whole: dict[str, list[float]] = {database: [] for database in DATABASES}
    teardowns: dict[str, list[float]] = {database: [] for database in DATABASES}
    session_medians = []
    for number, (database, phases, wall) in enumerate(sessions, start=1):
        rows = row_phases(phases)
        per_test = [sum(row.values()) for row in rows]
        whole[database].extend(per_test)
        teardowns[database].extend(row["teardown"] for row in rows)
        session_medians.append(statistics.median(per_test))
        phase = [median_ms([row[name] for row in rows]) for name in PHASES]
        print(
            f"| {number} | {database} | {phase[0]:.1f} | {phase[1]:.1f} | {phase[2]:.1f} "
            f"| **{median_ms(per_test):.1f}** | {wall:.1f} s |"
        )
    pooled = {database: statistics.median(values) for database, values in whole.items()}
    flush = {database: statistics.median(values) for database, values in teardowns.items()}
    # The ABBA pairs: sessions 2 and 1, then 3 and 4 (postgres over sqlite).
    pairs = [session_medians[1] / session_medians[0], session_medians[2] / session_medians[3]]
    print()
    print(
        f"   postgres / sqlite, whole test = **{pooled['postgres'] / pooled['sqlite']:.2f}x** "
        f"({pooled['postgres'] * 1000:.1f} vs {pooled['sqlite'] * 1000:.1f} ms; "
        f"pairs 2/1 and 3/4: {pairs[0]:.2f}x, {pairs[1]:.2f}x), "
        f"teardown = {flush['postgres'] / flush['sqlite']:.2f}x"
    )


if __name__ == "__main__":
    main()
