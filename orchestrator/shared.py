"""Sharing one stack: between the processes of a run, and across runs (a kept stack).

:func:`open_stack` is how a process gets a stack. In order:

1. a kept stack (``orchestrator up``, ``--keep-stack``) that is healthy and
   matches the current images and configuration is attached to; a stale one is
   removed, with a one-line message saying why, and replaced by a new kept one;
2. otherwise the run's stack, if another process of the run started it, is
   attached to;
3. otherwise this process starts it, under the state directory's lock, and
   records it; a watchdog removes it if the run's owner process dies.

Shared services (Redis, RabbitMQ, the browser) run once; each process then takes
a slice (:meth:`Attachment.ensure_slice`): its own vhost, results database,
channel prefix and worker container. Stopping is the owner's job
(:func:`finish_run`); a kept stack is stopped only by ``orchestrator down``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import docker
from docker.errors import DockerException, NotFound

from orchestrator.config import Config, worker_settings_module
from orchestrator.errors import OrchestratorError
from orchestrator.images import ImageBuilder, ImageReport, stack_services
from orchestrator.owner import KEPT
from orchestrator.plan import Credentials, Slice, StackPlan
from orchestrator.probes import AmqpLogin, NotReadyYet
from orchestrator.services import browser, rabbitmq, redis
from orchestrator.spec import ServiceSpec
from orchestrator.stack import Stack, remove_stack, save_stack_logs
from orchestrator.state import SliceState, StackState, StateDir
from orchestrator.waiting import wait_until_ready

Log = Callable[[str], None]
DATABASE_DIR = "db"
WATCHDOG_LAUNCH_WAIT = 30  # seconds


@dataclass
class Attachment:
    """A process's hold on a stack: the stack, its plan, and where its state lives.

    ``mode`` says how this process got it: ``started``, ``attached`` (started by
    another process of the run) or ``kept`` (a kept-alive stack).
    """

    stack: Stack
    plan: StackPlan
    state_dir: StateDir
    mode: str
    images: dict[str, ImageReport] = field(default_factory=dict)
    seconds: float = 0.0
    headed: bool = False

    @property
    def kept(self) -> bool:
        return self.stack.kept

    def ensure_browser(self) -> None:
        """Have the stack's browser running (headed when the stack is), started once."""
        self.ensure_service(browser.NAME, self.plan.browser_spec(self.headed))

    def set_headed(self, headed: bool) -> None:
        """Switch the stack's browser between headless and headed (replaces its container)."""
        if headed == self.headed:
            return
        with self.state_dir.locked():
            state = self._state()
            state.headed = headed
            state.containers.pop(browser.NAME, None)
            self.state_dir.save(state)
        self.headed = headed
        self.stack.drop(browser.NAME)
        self.ensure_browser()

    def ensure_service(self, name: str, spec: ServiceSpec) -> None:
        """Have a shared service (the browser) running, started once for the stack."""
        with self.state_dir.locked():
            state = self._state()
            if name in state.containers and name not in self.stack.services():
                self._adopt(name, state.containers[name], spec)
            if name not in self.stack.services():
                self.stack.launch(spec)
                self.stack.wait(name)
                state.containers[name] = self.stack.container_ids()[name]
                self.state_dir.save(state)

    def ensure_slice(self, name: str) -> Slice:
        """This process's namespace on the stack (vhost, results database, channel prefix)."""
        with self.state_dir.locked():
            state = self._state()
            recorded = state.slices.get(name)
            if recorded is None:
                number = 1 + max((s.results_db for s in state.slices.values()), default=0)
                slice_ = Slice.numbered(name, number)
                self._add_vhost(slice_.vhost)
                recorded = SliceState(slice_.vhost, slice_.results_db, slice_.prefix)
                state.slices[name] = recorded
                self.state_dir.save(state)
        return Slice(name, recorded.vhost, recorded.results_db, recorded.prefix)

    def ensure_worker(self, slice_: Slice, database: Path | None) -> str:
        """The slice's worker container, running on ``database``; returns its node name.

        A recorded worker is reused when it runs on the same database, and
        restarted when the project's source changed since it started.
        """
        recorded = self._state().slices[slice_.name]
        self._ensure_worker(slice_, recorded, database)
        with self.state_dir.locked():
            state = self._state()
            state.slices[slice_.name] = recorded
            self.state_dir.save(state)
        return slice_.node_name

    def _ensure_worker(self, slice_: Slice, recorded: SliceState, database: Path | None) -> None:
        spec = self.plan.worker_spec(database, slice_)
        source = source_fingerprint(self.plan.config.path("worker.source"))
        usable = (
            recorded.worker is not None
            and recorded.database == (str(database) if database else None)
            and self._adopt(spec.name, recorded.worker, spec)
        )
        if usable and recorded.source != source:
            self.stack.log(f"worker {slice_.name}: project source changed; restarting it")
            container = self.stack.container(spec.name)
            container.restart(timeout=5)
            wait_until_ready(
                spec.name, container, spec.probe, self.stack.locate, spec.startup_timeout
            )
        elif not usable:
            if spec.name in self.stack.services():
                self.stack.drop(spec.name)
            self.stack.launch(spec)
            self.stack.wait(spec.name)
        recorded.worker = self.stack.container_ids()[spec.name]
        recorded.database = str(database) if database else None
        recorded.source = source

    def _adopt(self, name: str, container_id: str, spec: ServiceSpec) -> bool:
        """Take a container another process started into this process's stack object."""
        if name in self.stack.services():
            return True
        try:
            container = self.stack.client.containers.get(container_id)
        except NotFound:
            return False
        if container.status != "running":
            container.remove(force=True)
            return False
        self.stack.adopt(name, container, spec)
        return True

    def _add_vhost(self, vhost: str) -> None:
        add_vhosts(self.stack, self.plan.credentials.rabbitmq_user, [vhost])

    def _state(self) -> StackState:
        state = self.state_dir.load()
        if state is None or state.stack_id != self.stack.id:
            raise OrchestratorError(
                f"stack {self.stack.id} was stopped while this process used it "
                f"(state in {self.state_dir.path} is gone)"
            )
        return state


def add_vhosts(stack: Stack, user: str, vhosts: list[str]) -> None:
    """Create vhosts on the stack's RabbitMQ for ``user``, in parallel (rabbitmqctl, ~0.5 s)."""
    if not vhosts:
        return
    jobs = [
        f"(rabbitmqctl -q add_vhost {shlex.quote(vhost)} && rabbitmqctl -q set_permissions "
        f"-p {shlex.quote(vhost)} {shlex.quote(user)} '.*' '.*' '.*') & job{number}=$!;"
        for number, vhost in enumerate(vhosts)
    ]
    waits = " ".join(f"wait $job{number} || failed=1;" for number in range(len(vhosts)))
    script = " ".join(jobs) + f" failed=0; {waits} exit $failed"
    result = stack.container(rabbitmq.NAME).exec_run(["sh", "-c", script])
    if result.exit_code != 0:
        raw = result.output if isinstance(result.output, bytes) else b"".join(result.output)
        output = raw.decode(errors="replace").strip()
        raise OrchestratorError(f"could not create RabbitMQ vhosts {vhosts}: {output}")


def missing_vhosts(stack: Stack, plan: StackPlan, vhosts: list[str]) -> list[str]:
    """Those of ``vhosts`` the user cannot open (not made at boot: an image without
    stackyard's definitions support, such as the official one)."""
    creds = plan.credentials
    missing = []
    for vhost in vhosts:
        login = AmqpLogin(rabbitmq.NAME, creds.rabbitmq_user, creds.rabbitmq_password, vhost)
        try:
            login.attempt(stack.locate)
        except NotReadyYet:
            missing.append(vhost)
    return missing


def source_fingerprint(directory: Path) -> str:
    """Changes when a Python file under ``directory`` is added, removed or modified."""
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*.py")):
        stat = path.stat()
        digest.update(f"{path.relative_to(directory)}:{stat.st_mtime_ns}:{stat.st_size}\n".encode())
    return digest.hexdigest()[:12]


def configuration_fingerprint(config: Config, images: dict[str, str]) -> str:
    """What a kept stack was made from: a change means its containers are stale.

    The worker's settings module is resolved (it may come from the environment or
    pytest's configuration, not from ``[tool.orchestrator]``).
    """
    settings = worker_settings_module(config) if config["worker.app"] else ""
    document = json.dumps(
        {"images": images, "config": dict(config.values), "worker_settings": settings},
        sort_keys=True,
    )
    return hashlib.sha256(document.encode()).hexdigest()[:12]


def kept_dir(config: Config) -> StateDir:
    return StateDir(config.path("state_dir"))


def database_dir(config: Config) -> Path:
    """Where slices' SQLite test databases live (mounted into worker containers)."""
    return config.path("state_dir") / DATABASE_DIR


def all_specs(plan: StackPlan, state: StackState) -> dict[str, ServiceSpec]:
    specs = {spec.name: spec for spec in plan.broker_specs()}
    specs[browser.NAME] = plan.browser_spec(state.headed)
    for name, recorded in state.slices.items():
        if not plan.config["worker.app"]:
            break  # a project without Celery runs no workers
        slice_ = Slice(name, recorded.vhost, recorded.results_db, recorded.prefix)
        database = Path(recorded.database) if recorded.database else None
        spec = plan.worker_spec(database, slice_)
        specs[spec.name] = spec
    return specs


def open_stack(
    client: docker.DockerClient,
    config: Config,
    run_dir: Path,
    owner: str,
    keep: bool = False,
    log: Log = print,
    slices: Sequence[str] = (),
    gate: StartGate | None = None,
) -> Attachment:
    """Attach to the kept stack or the run's stack, or start one (see the module docstring).

    A process that starts the stack also starts the worker containers of
    ``slices`` (the run's xdist workers), so that their boot overlaps RabbitMQ's.
    A start that ``gate`` calls off (the run ended before it needed the stack)
    raises :class:`StartCancelled` if it has not launched containers yet.
    """
    began = time.monotonic()
    kept = kept_dir(config)
    with kept.locked():
        state = kept.load()
        if state is not None:
            attachment = _attach_if_usable(client, config, kept, state, log)
            if attachment is not None:
                attachment.seconds = time.monotonic() - began
                return attachment
            keep = True  # a stale kept stack is replaced by a kept one
        if keep:
            attachment = _start(client, config, kept, KEPT, log, slices, gate, watched=False)
            attachment.seconds = time.monotonic() - began
            return attachment
    run = StateDir(run_dir, create=False)
    with run.locked():
        state = run.load()
        if state is not None:
            attachment = attach_state(client, config, run, state, "attached", log)
        else:
            attachment = _start(client, config, run, owner, log, slices, gate, watched=True)
    attachment.seconds = time.monotonic() - began
    return attachment


def _attach_if_usable(
    client: docker.DockerClient, config: Config, kept: StateDir, state: StackState, log: Log
) -> Attachment | None:
    reason = ""
    try:
        builder = ImageBuilder(client, config, log)
        current = {service: builder.reference(service) for service in stack_services(config)}
        if configuration_fingerprint(config, current) != state.fingerprint:
            reason = "its images or configuration changed"
        else:
            attachment = attach_state(client, config, kept, state, "kept", log)
            problems = attachment.stack.unhealthy()
            if not problems:
                return attachment
            reason = "; ".join(f"{name}: {problem}" for name, problem in problems.items())
    except (NotFound, DockerException, OrchestratorError) as error:
        reason = f"it cannot be reached ({error})"
    log(f"replacing kept stack {state.stack_id}: {reason}")
    remove_stack(client, state.stack_id)
    kept.remove()
    return None


def attach_state(
    client: docker.DockerClient,
    config: Config,
    state_dir: StateDir,
    state: StackState,
    mode: str,
    log: Log,
) -> Attachment:
    plan = StackPlan(config, state.images, Credentials(**state.credentials))
    specs = all_specs(plan, state)
    stack = Stack.attach(
        client, state.stack_id, state.owner, state.containers, specs, state.kept, log
    )
    for name, recorded in state.slices.items():
        worker_name = Slice(name, recorded.vhost, recorded.results_db, recorded.prefix).worker_name
        if recorded.worker:
            with contextlib.suppress(NotFound):  # a missing worker is started again on demand
                stack.adopt(worker_name, client.containers.get(recorded.worker), specs[worker_name])
    return Attachment(stack, plan, state_dir, mode, headed=state.headed)


def _start(
    client: docker.DockerClient,
    config: Config,
    state_dir: StateDir,
    owner: str,
    log: Log,
    slice_names: Sequence[str],
    gate: StartGate | None,
    watched: bool,
) -> Attachment:
    """Start a stack and record it; ``watched``: with a watchdog that removes it if the
    owner dies, launched together with the containers so that no moment is unguarded."""
    reports = ImageBuilder(client, config, log).ensure(stack_services(config))
    if gate is not None:
        gate.launch()
    images = {name: report.reference for name, report in reports.items()}
    plan = StackPlan(config, images, Credentials.generate())
    stack = Stack(client, owner=owner, log=log, kept=owner == KEPT)
    slices = [Slice.numbered(name, number) for number, name in enumerate(slice_names, start=1)]
    databases = database_dir(config)
    databases.mkdir(parents=True, exist_ok=True, mode=0o700)
    workers = {
        s.name: plan.worker_spec(databases / f"{s.name}.sqlite3", s)
        for s in slices
        if config["worker.app"]  # a project without Celery has no worker to start
    }
    vhosts = [s.vhost for s in slices]
    watchdog = Watchdog.launch(owner, stack.id, state_dir) if watched else None
    try:
        for spec in [*plan.broker_specs(boot_vhosts=vhosts), *workers.values()]:
            stack.launch(spec)
        stack.wait(rabbitmq.NAME)
        add_vhosts(stack, plan.credentials.rabbitmq_user, missing_vhosts(stack, plan, vhosts))
        stack.wait_all()
        watchdog_pid = watchdog.pid() if watchdog is not None else None
    except BaseException:
        try:
            stack.stop()
        finally:
            if watchdog is not None:
                watchdog.stop()
        raise
    ids = stack.container_ids()
    source = source_fingerprint(config.path("worker.source"))
    state = StackState(
        stack_id=stack.id,
        owner=owner,
        kept=owner == KEPT,
        fingerprint=configuration_fingerprint(config, images),
        images=images,
        credentials=plan.credentials.as_dict(),
        containers={name: ids[name] for name in (redis.NAME, rabbitmq.NAME)},
        slices={
            s.name: SliceState(
                s.vhost,
                s.results_db,
                s.prefix,
                worker=ids.get(s.worker_name),  # None: a project without Celery
                database=str(databases / f"{s.name}.sqlite3"),
                source=source,
            )
            for s in slices
        },
        watchdog_pid=watchdog_pid,
    )
    state_dir.save(state)
    return Attachment(stack, plan, state_dir, "started", reports)


class StartCancelled(OrchestratorError):
    """The run ended before its stack was needed, and before any container was launched."""


class StartGate:
    """Lets a run call off a stack start (in the background) that launched no container yet."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._called_off = False
        self._launched = False

    def launch(self) -> None:
        """Called by the start just before it launches containers; raises if called off."""
        with self._lock:
            if self._called_off:
                raise StartCancelled("the run ended before it needed its stack; nothing started")
            self._launched = True

    def call_off(self) -> bool:
        """Call the start off; return whether it launched containers already (then the
        caller waits for it to finish, and removes the stack)."""
        with self._lock:
            self._called_off = True
            return self._launched


class Watchdog:
    """The launcher of a stack's watchdog (``orchestrator.watchdog``), run alongside the start.

    The launcher forks the watchdog, prints its pid and exits; it takes ~0.3 s
    (imports), which :meth:`pid` waits for only once the containers are up.
    """

    def __init__(self, launcher: subprocess.Popen[str]) -> None:
        self._launcher = launcher
        self._pid: int | None = None
        self._failure: OrchestratorError | None = None

    @classmethod
    def launch(cls, owner: str, stack_id: str, state_dir: StateDir) -> Watchdog:
        command = [
            sys.executable,
            "-m",
            "orchestrator.watchdog",
            owner,
            stack_id,
            str(state_dir.path),
        ]
        launcher = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        return cls(launcher)

    def pid(self) -> int:
        """The watchdog's pid (waits for the launcher, at most 30 s)."""
        if self._failure is not None:
            raise self._failure
        if self._pid is None:
            try:
                out, err = self._launcher.communicate(timeout=WATCHDOG_LAUNCH_WAIT)
            except subprocess.TimeoutExpired:
                self._launcher.kill()
                self._launcher.communicate()
                out, err = "", f"its launcher did not finish within {WATCHDOG_LAUNCH_WAIT} s"
            if self._launcher.returncode != 0 or not out.strip().isdigit():
                self._failure = OrchestratorError(
                    f"could not start the stack's watchdog: {err.strip()}"
                )
                raise self._failure
            self._pid = int(out.strip())
        return self._pid

    def stop(self) -> None:
        """Stop the watchdog (its stack is being removed by its own process)."""
        with contextlib.suppress(OrchestratorError, ProcessLookupError):
            os.kill(self.pid(), signal.SIGTERM)


def finish_run(client: docker.DockerClient, run_dir: Path) -> bool:
    """Stop the run's own stack (never a kept one); return whether there was one."""
    run = StateDir(run_dir, create=False)
    if not run.path.is_dir():
        return False
    with run.locked():
        state = run.load()
        if state is None:
            return False
        if state.watchdog_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(state.watchdog_pid, signal.SIGTERM)
        remove_stack(client, state.stack_id)
        run.remove()
    return True


def save_run_logs(client: docker.DockerClient, run_dir: Path, directory: Path) -> list[Path]:
    """Save the logs of the run's own stack's containers (none when it attached to a kept one)."""
    state = StateDir(run_dir).load()
    if state is None:
        return []
    return save_stack_logs(client, state.stack_id, directory)
