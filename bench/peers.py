"""Benchmark: stackyard beside a hand-written testcontainers conftest, ratios measured in one run.

The peer is what a team writes without stackyard: session fixtures that start each service
with testcontainers' ``DockerContainer`` when a test first needs it, one after another (for
the worker's test: PostgreSQL for its test database, RabbitMQ, Redis, then the worker; the
browser at the first browser test), waiting with the library's default strategy (a log
line, polled every second), one WebDriver session per process, and, under pytest-xdist, a
stack per process. Its containers run exactly what stackyard's run: the same images,
commands, environment, mounts and limits (from ``StackPlan``'s specs, with the main
slice's vhost and endpoints), on a Docker network of its own, without Ryuk.

Both sides run the same trivial tests, in two modules (so that ``-n 2 --dist loadscope``
gives each process one), interleaved, over several rounds:

- ``all``: a Celery round trip through the worker container (on a transactional test
  database) and a browser test, as plain functions or in classes;
- ``brokers``: an AMQP login to the broker and a Redis ``PING`` on the result backend;

with ``-n 0`` and ``-n 2``; stackyard cold (nothing running) and kept (after
``orchestrator up``, not timed); the hand-written side is always cold. Each stackyard run
has its own state directory (a kept stack of the project is never touched) and its own
temporary directory (where a run that keeps no stack writes its state), which its
containers' labels name, so that what a run leaves behind is found and removed. The floor:
RabbitMQ's boot alone, Redis's alone, and pytest with no services.

It prints the goals beside the figures (met or not; nothing is asserted) and one line per
variant, ``peer-ratio VARIANT X.XX``: the hand-written run's time divided by stackyard's
(whole run), for scripts.

Run: ``make bench`` (or ``.venv/bin/python bench/peers.py [--rounds N] [--variants A,B]``).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import docker

from orchestrator.config import find_project_root, load_config
from orchestrator.engine import connect
from orchestrator.images import ImageBuilder
from orchestrator.plan import MAIN_SLICE, StackPlan, generate_credentials
from orchestrator.spec import ServiceSpec
from orchestrator.stack import Stack

ROOT = find_project_root(Path(__file__).parent)
RUN_TIMEOUT = 900
# Seconds stackyard may take to remove a stack's containers after its run ends.
REMOVAL_GRACE = 20.0
BENCH_LABEL = "bench.peers"
STATE_LABEL = "io.stackyard.state"  # what `docker ps --filter label=...` shows of a stack

GOAL_FIRST_TEST_MARGIN = 0.5  # s over the floor
GOAL_COLD_RATIO = 1.2
GOAL_KEPT_RATIO = 4.0
GOAL_FUNCTION_VS_CLASS = 1.2
GOAL_REDIS_BROKER_FIRST_TEST = 1.5  # s
REDIS_ONLY = {"ORCHESTRATOR_BROKER": "redis", "ORCHESTRATOR_DATABASE": "sqlite"}

SERVICE_SETS = ("all", "brokers")
PROCESSES = (0, 2)
STARTS = ("cold", "kept")
STYLES = ("functions", "classes")
MODULES = ("a", "b")
WORKER_TESTS = 2  # per module
BROWSER_TESTS = 3  # per module

# Loaded into every measured run: when each process runs its first test's body, and each
# test's set-up + call time, in the order the process ran them.
RECORD_PLUGIN = """
import json, os, time

_first = []
_tests = {}


def pytest_runtest_call(item):
    if not _first:
        _first.append(time.time() - float(os.environ["BENCH_STARTED"]))


def pytest_runtest_logreport(report):
    if report.when in ("setup", "call") and report.passed:
        _tests[report.nodeid] = _tests.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session):
    if not _first:  # xdist's controller: the workers' reports, not its own tests
        return
    name = os.environ.get("PYTEST_XDIST_WORKER", "main")
    record = {"first": _first[0], "tests": list(_tests.items())}
    with open(os.path.join(os.environ["BENCH_RECORD"], name + ".json"), "w") as out:
        json.dump(record, out)
"""
RECORD_MODULE = "bench_peers_record"

# The hand-written side: its own pytest configuration (stackyard's plugin not loaded) and
# conftest, as a team writes them with testcontainers. The stack's values (images,
# commands, environment with generated passwords) come from a JSON file of the work dir.
HAND_WRITTEN_INI = """
[pytest]
pythonpath = {example}
DJANGO_SETTINGS_MODULE = {settings}
asyncio_default_fixture_loop_scope = function
timeout = 60
"""
HAND_WRITTEN_CONFTEST = '''
"""Integration fixtures written by hand with testcontainers (no stackyard).

Each service starts when a test first needs it and lives for the session (each xdist
process has its own); readiness is testcontainers' log wait, polled every second.
"""

import json
import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network
from testcontainers.core.wait_strategies import LogMessageWaitStrategy

STACK = json.loads(Path(os.environ["PEER_STACK"]).read_text())
LABELS = {"BENCH_LABEL": os.environ["PEER_LABEL"]}
READY = {
    "rabbitmq": r"completed with \\d+ plugins|Server startup complete",
    "redis": r"Ready to accept connections",
    "postgres": r"database system is ready to accept connections",
    "worker": r"@\\S+ ready\\.",
    "browser": r"ChromeDriver was started successfully",
}
SERVER_FIXTURES = {"rabbitmq": "rabbitmq", "redis": "redis_server"}
CHROME_ARGUMENTS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage")


def container(service, network):
    spec = STACK["containers"][service]
    return DockerContainer(
        spec["image"],
        command=spec["command"],
        env=spec["env"],
        ports=spec["ports"],
        volumes=[tuple(mount) for mount in spec["mounts"]],
        network=network,
        network_aliases=[spec["alias"]],
        labels=LABELS,
        mem_limit=spec["memory"],
        pids_limit=spec["pids"],
        **spec["options"],
    ).waiting_for(LogMessageWaitStrategy(READY[service]))


def published(url, server, port):
    """The URL the worker uses (the network alias) as this process reaches it."""
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    where = f"{server.get_container_host_ip()}:{server.get_exposed_port(port)}"
    return urlunsplit(parts._replace(netloc=f"{credentials}@{where}"))


@pytest.fixture(scope="session")
def docker_network():
    network = Network(docker_network_kw={"labels": LABELS})
    network.create()
    yield network
    network.remove()


@pytest.fixture(scope="session")
def rabbitmq(docker_network):
    with container("rabbitmq", docker_network) as started:
        yield started


@pytest.fixture(scope="session")
def redis_server(docker_network):
    with container("redis", docker_network) as started:
        yield started


@pytest.fixture(scope="session")
def postgres(docker_network):
    with container("postgres", docker_network) as started:
        yield started


@pytest.fixture(scope="session")
def broker_url(request):
    broker = STACK["broker"]
    server = request.getfixturevalue(SERVER_FIXTURES[broker["service"]])
    return published(broker["url"], server, broker["port"])


@pytest.fixture(scope="session")
def results_url(request):
    results = STACK["results"]
    server = request.getfixturevalue(SERVER_FIXTURES[results["service"]])
    return published(results["url"], server, results["port"])


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, request):
    """The test database on this session's PostgreSQL, under the name the worker uses."""
    database = STACK["database"]
    if not database:
        return
    server = request.getfixturevalue("postgres")
    from django.conf import settings
    from django.db import connections

    default = settings.DATABASES["default"]
    default.update(
        ENGINE="django.db.backends.postgresql",
        NAME=database["name"],
        USER=database["user"],
        PASSWORD=database["password"],
        HOST=server.get_container_host_ip(),
        PORT=str(server.get_exposed_port(database["port"])),
        OPTIONS={},
    )
    default.setdefault("TEST", {})["NAME"] = database["test_name"]
    if any(c.alias == "default" for c in connections.all(initialized_only=True)):
        connections["default"].close()
        del connections["default"]  # made with the settings' engine: make it anew


@pytest.fixture(scope="session")
def celery_worker_container(docker_network, broker_url, results_url, request):
    if STACK["database"]:
        request.getfixturevalue("postgres")
    with container("worker", docker_network) as started:
        yield started


@pytest.fixture(scope="session")
def peer_celery(celery_worker_container, broker_url, results_url):
    from celery import Celery

    app = Celery("peers", broker=broker_url, backend=results_url)
    yield app
    app.close()


@pytest.fixture(scope="session")
def chromium(docker_network):
    with container("browser", docker_network) as started:
        yield f"http://{started.get_container_host_ip()}:{started.get_exposed_port(4444)}"


@pytest.fixture(scope="session")
def driver(chromium):
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    for argument in CHROME_ARGUMENTS:
        options.add_argument(argument)
    session = webdriver.Remote(command_executor=chromium, options=options)
    yield session
    session.quit()
'''.replace("BENCH_LABEL", BENCH_LABEL)


@dataclass(frozen=True)
class Shape:
    """What one pair of test runs has: services, processes, and how the tests are written."""

    services: str
    processes: int
    style: str

    def variant(self, start: str) -> str:
        return f"{self.services}-n{self.processes}-{start}-{self.style}"

    @property
    def directory(self) -> str:
        return f"{self.services}-{self.style}"

    @property
    def expected_tests(self) -> int:
        per_module = WORKER_TESTS + BROWSER_TESTS if self.services == "all" else 2
        return per_module * len(MODULES)

    def xdist_args(self) -> list[str]:
        return ["-n", str(self.processes), *(["--dist", "loadscope"] if self.processes else [])]


# The Redis-broker floor runs these tests whatever variants are selected.
REDIS_FLOOR_SHAPE = Shape("brokers", 0, "functions")


@dataclass(frozen=True)
class Run:
    whole: float  # s, the pytest process's wall time
    first: float  # s from its start until its last process runs its first test
    browser: float | None  # mean set-up + call of a browser test after each process's first


# --------------------------------------------------------------------------- the tests


def module_text(side: str, services: str, style: str, module: str) -> str:
    """One test module: both sides run the same tests, each through its own fixtures."""
    stackyard = side == "stackyard"
    celery, browser = ("stack_celery_app", "browser") if stackyard else ("peer_celery", "driver")
    broker, results = (
        ("broker_url", "result_backend_url") if stackyard else ("broker_url", "results_url")
    )
    # The worker shares the test database; only committed rows reach it. stackyard's
    # stack_celery_app gives the test transactional_db itself.
    database = "" if stackyard else "@pytest.mark.django_db(transaction=True)\n"
    self_ = "self, " if style == "classes" else ""
    groups: list[tuple[str, list[str]]] = []
    if services == "all":
        worker_tests = [
            f"{database}def test_worker_round_trip_{module}{n}({self_}{celery}):\n"
            f'    result = {celery}.send_task("celery.accumulate", args=({n},))\n'
            f"    assert result.get(timeout=RESULT_TIMEOUT) == [{n}]\n"
            for n in range(1, WORKER_TESTS + 1)
        ]
        browser_tests = [
            f"def test_browser_{module}{n}({self_}{browser}):\n"
            f"    {browser}.get(PAGE)\n"
            f'    assert {browser}.find_element(By.ID, "x").text == "hi"\n'
            for n in range(1, BROWSER_TESTS + 1)
        ]
        groups = [("TestWorker", worker_tests), ("TestBrowser", browser_tests)]
    else:
        groups = [
            (
                "TestBrokers",
                [
                    f"def test_broker_accepts_a_login_{module}({self_}{broker}):\n"
                    f"    with Connection(str({broker}), connect_timeout=5) as connection:\n"
                    "        connection.ensure_connection(max_retries=3)\n",
                    f"def test_results_answer_a_ping_{module}({self_}{results}):\n"
                    f"    with Redis.from_url(str({results}), socket_timeout=5) as client:\n"
                    "        assert client.ping()\n",
                ],
            )
        ]
    header = textwrap.dedent(
        """\
        import pytest
        from kombu import Connection
        from redis import Redis
        from selenium.webdriver.common.by import By

        RESULT_TIMEOUT = 30
        PAGE = "data:text/html,<p id=x>hi</p>"
        """
    )
    parts = [header]
    for class_name, tests in groups:
        if style == "classes":
            body = "\n".join(textwrap.indent(test, "    ") for test in tests)
            parts.append(f"\nclass {class_name}{module.upper()}:\n{body}")
        else:
            parts.append("\n" + "\n\n".join(tests))
    text = "\n".join(parts)
    return text if "pytest.mark" in text else text.replace("import pytest\n", "", 1)


NO_SERVICES_TEST = "def test_nothing_{module}():\n    assert True\n"


def write_trees(work: Path, shapes: Iterable[Shape]) -> None:
    (work / f"{RECORD_MODULE}.py").write_text(textwrap.dedent(RECORD_PLUGIN))
    hand = work / "hand-written"
    hand.mkdir()
    (hand / "pytest.ini").write_text(
        textwrap.dedent(HAND_WRITTEN_INI).format(
            example=ROOT / "example", settings=django_settings_module()
        )
    )
    (hand / "conftest.py").write_text(HAND_WRITTEN_CONFTEST.lstrip())
    for side in ("stackyard", "hand-written"):
        none = work / side / "none"
        none.mkdir(parents=True)
        for module in MODULES:
            (none / f"test_none_{module}.py").write_text(NO_SERVICES_TEST.format(module=module))
        for directory in {(shape.services, shape.style) for shape in shapes}:
            tree = work / side / "-".join(directory)
            tree.mkdir()
            for module in MODULES:
                text = module_text(side, *directory, module)
                (tree / f"test_peers_{module}.py").write_text(text)


def django_settings_module() -> str:
    """The tests' settings as pytest-django reads them from the project's configuration."""
    import tomllib

    with (ROOT / "pyproject.toml").open("rb") as config:
        options = tomllib.load(config)["tool"]["pytest"]["ini_options"]
    return str(options["DJANGO_SETTINGS_MODULE"])


# ------------------------------------------------------------------- the stack's values


def container_values(spec: ServiceSpec) -> dict[str, Any]:
    """What docker's create gets for ``spec`` (as orchestrator.stack.Stack._create gives it)."""
    return {
        "image": spec.image,
        "command": list(spec.command) if spec.command is not None else None,
        "env": dict(spec.env),
        "ports": list(spec.ports),
        "mounts": [[m.host_path, m.container_path, m.mode] for m in spec.mounts],
        "options": dict(spec.options),
        "memory": spec.memory,
        "pids": spec.pids,
        "alias": spec.name,
    }


def server_url(plan: StackPlan, role: str, url: str) -> dict[str, Any]:
    service = plan.bindings[role].service
    return {"service": service, "url": url, "port": urlsplit(url).port}


def hand_written_stack(plan: StackPlan) -> dict[str, Any]:
    """The same containers as stackyard's, with the main slice's vhost and endpoints."""
    specs = [
        plan.service_spec(name, [MAIN_SLICE]) if name == "rabbitmq" else plan.service_spec(name)
        for name in plan.services
    ]
    worker = plan.worker_spec(MAIN_SLICE)
    containers = {spec.name: container_values(spec) for spec in specs}
    containers["worker"] = container_values(worker)
    containers["browser"] = container_values(plan.browser_spec())
    internal = plan.internal_endpoints(MAIN_SLICE)
    database = None
    if "postgres" in plan.services:
        url = urlsplit(internal.database_url)
        env = containers["postgres"]["env"]
        database = {
            "name": env["POSTGRES_DB"],
            "user": env["POSTGRES_USER"],
            "password": env["POSTGRES_PASSWORD"],
            "port": url.port,
            "test_name": url.path.lstrip("/"),
        }
    return {
        "containers": containers,
        "broker": server_url(plan, "broker", internal.broker_url),
        "results": server_url(plan, "results", internal.result_backend),
        "database": database,
    }


def secrets_of(plan: StackPlan) -> list[str]:
    """The generated passwords, kept out of what the bench prints."""
    return [
        value
        for values in plan.credentials.values()
        for key, value in values.items()
        if "pass" in key and value
    ]


# ---------------------------------------------------------------------------- the runs


class RunFailed(SystemExit):
    """A measured run failed (its tests, or the command)."""


class Bench:
    def __init__(self, work: Path, client: docker.DockerClient, hidden: Sequence[str]) -> None:
        self.work = work
        self.client = client
        self.hidden = list(hidden)
        self.label = secrets.token_hex(4)
        self.left: list[str] = []  # containers and networks a run left behind
        self.kept_states: list[dict[str, str]] = []  # kept stacks up now (brought down on failure)
        self.count = 0
        self.retried: list[str] = []  # runs that failed once (and passed the second time)

    def redact(self, text: str) -> str:
        for value in self.hidden:
            text = text.replace(value, "***")
        return text

    def fail(self, what: str, completed: subprocess.CompletedProcess[str]) -> None:
        tail = self.redact(
            (completed.stdout or "")[-4000:] + "\n" + (completed.stderr or "")[-2000:]
        )
        raise RunFailed(f"{what} failed (exit code {completed.returncode}):\n{tail}")

    def new_dir(self, prefix: str) -> Path:
        self.count += 1
        return Path(tempfile.mkdtemp(dir=self.work, prefix=f"{prefix}-{self.count}-"))

    def pytest(
        self, side: str, tree: str, args: Sequence[str], expected: int, env: dict[str, str]
    ) -> Run:
        """One measured run; a run whose tests fail is noted and run once more (the
        figures are of runs that passed), a second failure ends the bench."""
        try:
            return self._measured(side, tree, args, expected, env)
        except RunFailed as error:
            failed = [line for line in str(error).splitlines() if line.startswith("FAILED")]
            self.retried.append(f"{side} {' '.join(args)} {tree}: {'; '.join(failed) or error}")
            progress(f"  a {side} run failed, run again: {self.retried[-1]}")
            return self._measured(side, tree, args, expected, env)

    def _measured(
        self, side: str, tree: str, args: Sequence[str], expected: int, env: dict[str, str]
    ) -> Run:
        record = self.new_dir("record")
        if side == "hand-written":
            run_label = f"{self.label}-{self.count}"
            env = {
                **env,
                "TESTCONTAINERS_RYUK_DISABLED": "true",
                # The engine here runs inside a container, where testcontainers would reach
                # the containers at their network's gateway address, which chromedriver
                # refuses; on a usual machine it picks this mode itself (localhost).
                "TESTCONTAINERS_CONNECTION_MODE": "docker_host",
                "PEER_STACK": str(self.work / "stack.json"),
                "PEER_LABEL": run_label,
            }
            try:
                return self._pytest(side, tree, args, expected, env, record)
            finally:
                self.remove_left(f"{BENCH_LABEL}={run_label}", lambda labels: True, grace=0.0)
        return self._pytest(side, tree, args, expected, env, record)

    def _pytest(
        self,
        side: str,
        tree: str,
        args: Sequence[str],
        expected: int,
        env: dict[str, str],
        record: Path,
    ) -> Run:
        if side == "stackyard":
            cwd = ROOT
            base = ["--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml")]
        else:
            cwd = self.work / "hand-written"
            base = ["--rootdir", str(cwd), "-c", str(cwd / "pytest.ini"), "-p", "no:stackyard"]
        command = [
            sys.executable, "-m", "pytest", *base, *args, str(self.work / side / tree),
            "-q", "-p", "no:cacheprovider", "-p", RECORD_MODULE,
        ]  # fmt: skip
        path = os.pathsep.join(filter(None, [str(self.work), os.environ.get("PYTHONPATH")]))
        environment = {**os.environ, **env, "PYTHONPATH": path, "BENCH_RECORD": str(record)}
        environment["BENCH_STARTED"] = repr(time.time())
        began = time.perf_counter()
        completed = subprocess.run(
            command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=RUN_TIMEOUT
        )
        whole = time.perf_counter() - began
        if completed.returncode != 0:
            self.fail(f"{side} pytest {' '.join(args)} {tree}", completed)
        records = [json.loads(path.read_text()) for path in sorted(record.iterdir())]
        ran = sum(len(r["tests"]) for r in records)
        if ran != expected:
            self.fail(f"{side} {tree}: {ran} tests passed of {expected}", completed)
        return Run(whole, max(r["first"] for r in records), browser_time(records))

    def hand_written(self, shape: Shape) -> Run:
        return self.pytest(
            "hand-written", shape.directory, shape.xdist_args(), shape.expected_tests, {}
        )

    def stackyard(self, shape: Shape, start: str, extra: dict[str, str] | None = None) -> Run:
        state, env = self.stackyard_dirs(start)
        env.update(extra or {})
        if start == "kept":
            self.kept_states.append(env)  # brought down by close() if what follows fails
            self.orchestrator(env, "up")
        try:
            return self.pytest(
                "stackyard", shape.directory, ["-m", "integration", *shape.xdist_args()],
                shape.expected_tests, env,
            )  # fmt: skip
        finally:
            if start == "kept":
                self.orchestrator(env, "down")
                self.kept_states.remove(env)
            self.remove_left(STATE_LABEL, under(Path(env["TMPDIR"]), state), REMOVAL_GRACE)

    def stackyard_dirs(self, start: str) -> tuple[Path, dict[str, str]]:
        """A state directory of the run's own, and a temporary directory where a run that
        keeps no stack makes its own state directory (which its containers' labels name)."""
        state, temporary = self.new_dir(f"state-{start}"), self.new_dir("tmp")
        return state, {"ORCHESTRATOR_STATE_DIR": str(state), "TMPDIR": str(temporary)}

    def no_services(self, side: str, processes: int) -> Run:
        xdist = ["-n", str(processes), *(["--dist", "loadscope"] if processes else [])]
        state, env = self.stackyard_dirs("none")
        try:
            return self.pytest(side, "none", xdist, len(MODULES), env)
        finally:
            self.remove_left(STATE_LABEL, under(Path(env["TMPDIR"]), state), REMOVAL_GRACE)

    def orchestrator(self, env: dict[str, str], command: str) -> None:
        environment = {**os.environ, **env}
        completed = subprocess.run(
            [sys.executable, "-m", "orchestrator", "--project", str(ROOT), command],
            env=environment,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )
        if completed.returncode != 0:
            self.fail(f"orchestrator {command}", completed)

    def remove_left(self, label: str, ours: Callable[[dict[str, str]], bool], grace: float) -> None:
        """Remove (and note) containers and networks with ``label`` a run left behind."""
        deadline = time.monotonic() + grace
        while True:
            containers = [
                c
                for c in self.client.containers.list(all=True, filters={"label": label})
                if ours(c.labels)
            ]
            networks = [
                n
                for n in self.client.networks.list(filters={"label": label})
                if ours(n.attrs.get("Labels") or {})
            ]
            if not containers and not networks:
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(0.5)
        for container in containers:
            self.left.append(f"container {container.name}")
            container.remove(force=True, v=True)
        for network in networks:
            self.left.append(f"network {network.name}")
            network.remove()

    def close(self) -> None:
        """After the bench, or a failure: nothing of this bench stays on the engine."""
        for env in list(self.kept_states):
            subprocess.run(
                [sys.executable, "-m", "orchestrator", "--project", str(ROOT), "down"],
                env={**os.environ, **env},
                capture_output=True,
                timeout=RUN_TIMEOUT,
            )
        self.remove_left(BENCH_LABEL, lambda labels: labels[BENCH_LABEL].startswith(self.label), 0)
        self.remove_left(STATE_LABEL, under(self.work), grace=REMOVAL_GRACE)


def under(*directories: Path) -> Callable[[dict[str, str]], bool]:
    """Whether a stack's labels name a state directory in one of ``directories``."""
    prefixes = tuple(str(directory) for directory in directories)
    return lambda labels: labels.get(STATE_LABEL, "").startswith(prefixes)


def browser_time(records: list[dict[str, Any]]) -> float | None:
    """Mean set-up + call of a browser test, each process's first left out (it waits for
    the browser's container)."""
    times = []
    for record in records:
        browser = [seconds for nodeid, seconds in record["tests"] if "test_browser" in nodeid]
        times.extend(browser[1:])
    return statistics.fmean(times) if times else None


def boot_alone(client: docker.DockerClient, spec: ServiceSpec) -> float:
    """Launch-to-ready of one service started alone (stackyard's engine, its probe)."""
    stack = Stack(client, log=lambda message: None)
    try:
        return stack.start([spec])[spec.name]
    finally:
        stack.stop()


# ----------------------------------------------------------------------------- report


def median(values: Iterable[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def seconds(value: float | None, width: int = 6) -> str:
    return f"{value:{width}.2f}" if value is not None else f"{'-':>{width}}"


def verdict(met: bool) -> str:
    return "met" if met else "NOT MET"


def report(
    rounds: int,
    selected: list[str],
    hand: dict[Shape, list[Run]],
    ours: dict[tuple[Shape, str], list[Run]],
    floors: dict[str, list[float]],
) -> None:
    def whole(runs: list[Run]) -> float:
        return statistics.median(run.whole for run in runs)

    def first(runs: list[Run]) -> float:
        return statistics.median(run.first for run in runs)

    rabbitmq = statistics.median(floors["rabbitmq"])
    print("peer benchmark: stackyard vs a hand-written testcontainers conftest, median of")
    print(f"{rounds} rounds; seconds: whole pytest run / from its start to the first test of")
    print("its last process")
    print(f"{'variant':<26} {'hand-written':>15} {'stackyard':>15} {'ratio':>7}  goal")
    ratios: dict[str, float] = {}
    for variant in selected:
        shape, start = parse_variant(variant)
        theirs, mine = hand[shape], ours[(shape, start)]
        ratio = whole(theirs) / whole(mine)
        ratios[variant] = ratio
        goal = GOAL_KEPT_RATIO if start == "kept" else GOAL_COLD_RATIO
        print(
            f"{variant:<26} {whole(theirs):6.2f} / {first(theirs):6.2f} "
            f"{whole(mine):6.2f} / {first(mine):6.2f} {ratio:6.2f}x  "
            f">= {goal}x: {verdict(ratio >= goal)}"
        )
    # No run, kept stack or not, is shorter than pytest with no services at all: the
    # hand-written time over that is the most any stackyard run could reach.
    print("ceiling: hand-written whole run / pytest's whole run with no services and no")
    print("fixtures (the same plugins and processes; the faster of the two configurations),")
    print("the ratio no kept stack can pass:")
    for variant in selected:
        shape, start = parse_variant(variant)
        if start != "kept":
            continue
        empty = min(
            statistics.median(floors[f"{side}-n{shape.processes}-whole"])
            for side in ("stackyard", "hand-written")
        )
        ceiling = whole(hand[shape]) / empty
        print(
            f"  {variant:<26} {whole(hand[shape]):6.2f} / {empty:5.2f} = {ceiling:5.2f}x"
            f"{'' if ceiling >= GOAL_KEPT_RATIO else f' (below the goal of {GOAL_KEPT_RATIO}x)'}"
        )

    browsers = [v for v in selected if parse_variant(v)[0].services == "all"]
    if browsers:
        print()
        print("browser tests: mean set-up + call per test, after each process's first (s)")
        print(f"{'variant':<26} {'hand-written':>12} {'stackyard':>10}")
        for variant in browsers:
            shape, start = parse_variant(variant)
            their_test = median(run.browser for run in hand[shape])
            our_test = median(run.browser for run in ours[(shape, start)])
            print(f"{variant:<26} {seconds(their_test, 12)} {seconds(our_test, 10)}")
        for variant in browsers:
            shape, start = parse_variant(variant)
            if shape.style != "functions":
                continue
            twin = Shape(shape.services, shape.processes, "classes")
            if (twin, start) not in ours:
                continue
            functions = median(run.browser for run in ours[(shape, start)])
            classes = median(run.browser for run in ours[(twin, start)])
            if functions is None or classes is None:
                continue
            ratio = functions / classes
            print(
                f"  stackyard {shape.services}-n{shape.processes}-{start}: a browser test in a "
                f"function / in a class = {ratio:.2f}x  (goal <= {GOAL_FUNCTION_VS_CLASS}x: "
                f"{verdict(ratio <= GOAL_FUNCTION_VS_CLASS)})"
            )

    print()
    print(f"floor, median of {rounds}:")
    print(f"  RabbitMQ's boot alone (launch to ready)  {rabbitmq:6.2f} s")
    print(f"  Redis's boot alone                       {statistics.median(floors['redis']):6.2f} s")
    for processes in PROCESSES:
        our_floor = statistics.median(floors[f"stackyard-n{processes}"])
        their_floor = statistics.median(floors[f"hand-written-n{processes}"])
        print(
            f"  pytest, no services, -n {processes}: to first test {our_floor:5.2f} s "
            f"(hand-written configuration {their_floor:5.2f} s)"
        )
    redis_broker = statistics.median(floors["redis-broker"])
    alone = statistics.median(floors["stackyard-n0"])
    print(
        f"  Redis as the broker, SQLite (brokers tests, -n 0, cold): to first test "
        f"{redis_broker:5.2f} s, {redis_broker - alone:+.2f} s on pytest with no services;"
    )
    goal = GOAL_REDIS_BROKER_FIRST_TEST
    print(
        f"    goal <= {goal} s: {verdict(redis_broker <= goal)} "
        f"(beyond pytest's own start: {verdict(redis_broker - alone <= goal)})"
    )
    colds = [v for v in selected if parse_variant(v)[1] == "cold"]
    if colds:
        print("cold time to first test vs the floor (pytest, no services + RabbitMQ's boot), goal")
        print(f"<= floor + {GOAL_FIRST_TEST_MARGIN} s:")
    for variant in colds:
        shape, start = parse_variant(variant)
        floor = statistics.median(floors[f"stackyard-n{shape.processes}"]) + rabbitmq
        value = first(ours[(shape, start)])
        needs = "" if shape.services == "brokers" else " (its first test also needs the worker)"
        print(
            f"  {variant:<26} {value:6.2f} s, floor {floor:5.2f} s: "
            f"{verdict(value <= floor + GOAL_FIRST_TEST_MARGIN)}{needs}"
        )
    print()
    for variant, ratio in ratios.items():
        print(f"peer-ratio {variant} {ratio:.2f}")


# ------------------------------------------------------------------------------- main


def all_variants() -> list[str]:
    return [
        Shape(services, processes, style).variant(start)
        for services in SERVICE_SETS
        for processes in PROCESSES
        for start in STARTS
        for style in STYLES
    ]


def parse_variant(variant: str) -> tuple[Shape, str]:
    services, processes, start, style = variant.split("-")
    return Shape(services, int(processes.removeprefix("n")), style), start


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--variants",
        default="",
        help="comma-separated variants to run (default: all), e.g. all-n0-cold-functions",
    )
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    known = all_variants()
    selected = [v for v in args.variants.split(",") if v] or known
    unknown = [v for v in selected if v not in known]
    if unknown:
        parser.error(f"unknown variant {unknown[0]!r}; known: {', '.join(known)}")
    shapes = list(dict.fromkeys(parse_variant(v)[0] for v in selected))

    client = connect()
    with tempfile.TemporaryDirectory(prefix="stackyard-bench-peers-") as tmp:
        work = Path(tmp)
        environ = {**os.environ, "ORCHESTRATOR_STATE_DIR": str(work / "plan")}
        config = load_config(ROOT, environ)
        images = ImageBuilder(client, config, log=lambda message: None).ensure()
        references = {name: report.reference for name, report in images.items()}
        plan = StackPlan(config, references, generate_credentials())
        stack_file = work / "stack.json"
        stack_file.touch(mode=0o600)
        stack_file.write_text(json.dumps(hand_written_stack(plan)))
        write_trees(work, [*shapes, REDIS_FLOOR_SHAPE])

        bench = Bench(work, client, secrets_of(plan))
        hand: dict[Shape, list[Run]] = {}
        ours: dict[tuple[Shape, str], list[Run]] = {}
        floors: dict[str, list[float]] = {}
        try:
            for number in range(args.rounds):
                progress(f"round {number + 1}/{args.rounds}")
                rabbitmq = plan.service_spec("rabbitmq", [MAIN_SLICE])
                floors.setdefault("rabbitmq", []).append(boot_alone(client, rabbitmq))
                redis = plan.service_spec("redis")
                floors.setdefault("redis", []).append(boot_alone(client, redis))
                # The stack with no RabbitMQ: Redis the broker, SQLite the database.
                run = bench.stackyard(REDIS_FLOOR_SHAPE, "cold", REDIS_ONLY)
                floors.setdefault("redis-broker", []).append(run.first)
                for processes in PROCESSES:
                    for side in ("stackyard", "hand-written"):
                        run = bench.no_services(side, processes)
                        floors.setdefault(f"{side}-n{processes}", []).append(run.first)
                        floors.setdefault(f"{side}-n{processes}-whole", []).append(run.whole)
                # Interleaved; every other round in the other order.
                order = shapes if number % 2 == 0 else shapes[::-1]
                for shape in order:
                    # The hand-written side is always cold: its runs serve both starts.
                    steps = ["hand-written"]
                    steps += [start for start in STARTS if shape.variant(start) in selected]
                    for step in steps if number % 2 == 0 else steps[::-1]:
                        if step == "hand-written":
                            run = bench.hand_written(shape)
                            hand.setdefault(shape, []).append(run)
                        else:
                            run = bench.stackyard(shape, step)
                            ours.setdefault((shape, step), []).append(run)
                        side = step if step == "hand-written" else f"stackyard {step}"
                        progress(
                            f"  {shape.services}-n{shape.processes}-{shape.style} {side}: "
                            f"{run.whole:.2f} s, first test {run.first:.2f} s"
                        )
        finally:
            bench.close()
        report(args.rounds, selected, hand, ours, floors)
        for line in bench.retried:
            print(f"run failed once, and passed when run again: {line}")
        if bench.left:
            print(f"left behind by the runs and removed by the bench: {', '.join(bench.left)}")
        else:
            print("left behind by the runs: nothing (containers and networks checked)")


if __name__ == "__main__":
    main()
