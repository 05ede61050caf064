"""How a process gets a stack, and how a run's stack ends.

:func:`open_stack`, in order:

1. a kept stack (``orchestrator up``, ``--keep-stack``) that is healthy and
   matches the current images and configuration is attached to; a stale one is
   removed, with a one-line message saying why, and replaced by a new kept one;
2. otherwise the run's stack, if another process of the run started it, is
   attached to;
3. otherwise this process starts it, under the state directory's lock, and
   records it; a watchdog removes it if the run's owner process dies.

The servers the roles bind to the stack's own (:mod:`orchestrator.roles`) run
once; each process then takes a slice (:meth:`Attachment.ensure_slice`): its own
namespace on every server and its own worker container. Stopping is the owner's
job (:func:`finish_run`); a kept stack is stopped only by ``orchestrator down``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import docker
from docker.errors import DockerException, NotFound

from orchestrator.attachment import Attachment
from orchestrator.config import Config, database_dir
from orchestrator.demand import (
    BROWSER,
    DATABASE,
    Demand,
    StartCancelled,
    StartGate,
    launch_order,
    worker_want,
)
from orchestrator.errors import ConfigError, OrchestratorError
from orchestrator.fingerprints import configuration_fingerprint, source_fingerprint
from orchestrator.images import ImageBuilder, stack_services
from orchestrator.owner import KEPT
from orchestrator.plan import StackPlan, generate_credentials, state_credentials
from orchestrator.services.base import WORKER_PREFIX, Slice, is_worker
from orchestrator.spec import ServiceSpec
from orchestrator.stack import Stack, remove_stack, save_stack_logs
from orchestrator.state import SliceState, StackState, StateDir, slices_in_use, unwritable
from orchestrator.watchdog import Watchdog, is_watchdog

Log = Callable[[str], None]
# In a run's state directory: why its stack could not start (the other processes of the
# run report it instead of starting a stack of their own).
START_FAILED = "start-failed"


class StartFailed(OrchestratorError):
    """The run's stack failed to start in another of its processes."""


def kept_dir(config: Config) -> StateDir:
    return StateDir(config.path("state_dir"))


def all_specs(plan: StackPlan, state: StackState) -> dict[str, ServiceSpec]:
    specs = {spec.name: spec for spec in plan.service_specs()}
    specs["browser"] = plan.browser_spec(state.headed)
    if plan.has_worker:  # a project without Celery runs no workers
        for name, recorded in state.slices.items():
            spec = plan.worker_spec(Slice(name, recorded.number))
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
    demand: Demand | None = None,
) -> Attachment:
    """Attach to the kept stack or the run's stack, or start one (see the module docstring).

    A process that starts the stack makes the namespaces of ``slices`` (the run's
    processes) as the servers boot, and launches what the run's processes ask
    for (``demand``: the browser, their worker containers) while the servers
    boot. A start that ``gate`` calls off (the run ended before it needed the
    stack) raises :class:`StartCancelled` if it has not launched containers yet.
    """
    demand = demand or Demand()
    began = time.monotonic()
    kept = kept_dir(config)
    with kept.locked():
        state = kept.load()
        if state is not None:
            attachment = _attach_if_usable(client, config, kept, state, log, slices)
            if attachment is not None:
                attachment.seconds = time.monotonic() - began
                return attachment
            keep = True  # a stale kept stack is replaced by a kept one
        if keep:
            attachment = _start(client, config, kept, KEPT, log, slices, gate, demand, False)
            attachment.seconds = time.monotonic() - began
            return attachment
    run = StateDir(run_dir, create=False)
    with run.locked():
        failed = run.path / START_FAILED
        if failed.exists():  # another process of the run tried: never a second stack
            raise StartFailed(failed.read_text())
        state = run.load()
        if state is not None:
            attachment = attach_state(client, config, run, state, "attached", log)
        else:
            try:
                attachment = _start(client, config, run, owner, log, slices, gate, demand, True)
            except StartCancelled:
                raise
            except Exception as error:  # the engine's, or docker-py's, or a timeout
                failed.write_text(str(error) or type(error).__name__)
                raise
    attachment.seconds = time.monotonic() - began
    return attachment


def _attach_if_usable(
    client: docker.DockerClient,
    config: Config,
    kept: StateDir,
    state: StackState,
    log: Log,
    slices: Sequence[str],
) -> Attachment | None:
    """The kept stack, if its configuration is the project's and its servers and these
    slices' workers answer; else None, once it is removed. Other slices' workers are
    those processes' to check: a worker that died is started again on demand, and the
    control ping of each of them took ~20 ms here."""
    reason = ""
    try:
        builder = ImageBuilder(client, config, log)
        current = {service: builder.reference(service) for service in stack_services(config)}
        if configuration_fingerprint(config, current) != state.fingerprint:
            reason = "its images or configuration changed"
        else:
            attachment = attach_state(client, config, kept, state, "kept", log)
            own = {f"{WORKER_PREFIX}{name}" for name in slices}
            stack = attachment.stack
            problems = stack.unhealthy(n for n in stack.services() if not is_worker(n) or n in own)
            if not problems:
                return attachment
            reason = "; ".join(f"{name}: {problem}" for name, problem in problems.items())
    except (NotFound, DockerException, OrchestratorError) as error:
        reason = f"it cannot be reached ({error})"
    busy = slices_in_use(database_dir(config))
    if busy:
        raise OrchestratorError(
            f"the kept stack {state.stack_id} needs replacing ({reason}), but another test "
            f"run in this checkout is using it (slices {', '.join(busy)}): let that run "
            "end, then run again"
        )
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
    plan = StackPlan(config, state.images, state_credentials(state.credentials))
    specs = all_specs(plan, state)
    stack = Stack.attach(
        client,
        state.stack_id,
        state.owner,
        state.containers,
        specs,
        state.kept,
        log,
        str(state_dir.path),
    )
    for name, recorded in state.slices.items():
        worker_name = Slice(name, recorded.number).worker_name
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
    demand: Demand,
    watched: bool,
) -> Attachment:
    """Start a stack and record it; ``watched``: with a watchdog that removes it if the
    owner dies, launched together with the containers so that no moment is unguarded.

    The servers are launched first, except the database server; until every container
    is ready, what ``demand`` asks for (the database server, the browser, the slices'
    workers) is launched as it is asked for."""
    reports = ImageBuilder(client, config, log).ensure(stack_services(config))
    if gate is not None:
        gate.launch()
    images = {name: report.reference for name, report in reports.items()}
    plan = StackPlan(config, images, generate_credentials())
    stack = Stack(client, owner=owner, log=log, kept=owner == KEPT, state_dir=str(state_dir.path))
    slices = [Slice(name, number) for number, name in enumerate(slice_names, start=1)]
    if plan.bindings["database"].service == "sqlite" and plan.has_worker and not stack.local:
        raise ConfigError(
            f"database = 'sqlite' shares a file between the tests and the worker containers, "
            f"which a remote engine ({stack.host}) cannot mount: set database = 'postgres'"
        )
    if plan.bindings["database"].service == "sqlite":
        with unwritable(database_dir(config)):
            database_dir(config).mkdir(parents=True, exist_ok=True, mode=0o700)
    extras: dict[str, Callable[[], ServiceSpec]] = {BROWSER: plan.browser_spec}
    if plan.database_server is not None:
        extras[DATABASE] = functools.partial(plan.service_spec, plan.database_server, slices)
    if plan.has_worker:  # a project without Celery runs no workers
        for s in slices:
            extras[worker_want(s.name)] = functools.partial(plan.worker_spec, s)
    launched: set[str] = set()

    def launch_wanted() -> None:
        for want in launch_order(demand.wanted()):
            if want not in launched:
                launched.add(want)
                if want in extras:  # another stack's slice, or a worker this project lacks
                    stack.launch(extras[want]())

    watchdog = Watchdog.launch(owner, stack.id, state_dir) if watched else None
    try:
        stack.ensure_network()
        for spec in plan.eager_specs(slices):
            stack.launch(spec)
        for name in plan.eager_services:
            stack.wait(name, between=launch_wanted)
        plan.provision(slices, stack.locate, stack.exec_in, plan.eager_services)
        stack.wait_all(between=launch_wanted)
        watchdog_pid = watchdog.pid() if watchdog is not None else None
        # Recorded before it is handed over: a stack that cannot be recorded (a full or
        # read-only state_dir) is removed, not left running where only prune finds it.
        ids = stack.container_ids()
        source = source_fingerprint(config.path("worker.source"))
        state = StackState(
            stack_id=stack.id,
            owner=owner,
            kept=owner == KEPT,
            fingerprint=configuration_fingerprint(config, images),
            images=images,
            credentials=plan.credentials,
            containers={name: ident for name, ident in ids.items() if not is_worker(name)},
            slices={
                s.name: SliceState(
                    s.number,
                    worker=ids.get(s.worker_name),  # None: a project without Celery
                    database=plan.internal_endpoints(s).database_url,
                    source=source,
                )
                for s in slices
            },
            watchdog_pid=watchdog_pid,
        )
        state_dir.save(state)
    except BaseException:
        try:
            stack.stop()
        finally:
            if watchdog is not None:
                watchdog.stop()
        raise
    return Attachment(stack, plan, state_dir, "started", reports)


def finish_run(client: docker.DockerClient, run_dir: Path) -> bool:
    """Stop the run's own stack (never a kept one); return whether there was one."""
    run = StateDir(run_dir, create=False)
    if not run.path.is_dir():
        return False
    with run.locked():
        state = run.load()
        if state is None:
            return False
        if state.watchdog_pid and is_watchdog(state.watchdog_pid, state.stack_id):
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
