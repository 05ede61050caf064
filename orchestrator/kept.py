"""Kept-alive stacks for local debugging, and pruning what crashed runs left behind.

``orchestrator up`` starts a stack that outlives any run (owner ``kept``, label
``io.stackyard.kept=true``); test runs attach to it in well under a second and
never stop it; ``orchestrator down`` removes it. ``prune`` removes stacks whose
owner process is gone, never a kept stack, never a container it did not create.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import docker
from docker.errors import NotFound

from orchestrator import THREAD_PREFIX
from orchestrator.attachment import Attachment
from orchestrator.config import Config
from orchestrator.demand import BROWSER, DATABASE, Demand, worker_want
from orchestrator.engine import (
    LABEL_HOST,
    LABEL_KEPT,
    LABEL_MANAGED,
    LABEL_OWNER,
    LABEL_STACK,
    LABEL_STATE,
)
from orchestrator.errors import OrchestratorError
from orchestrator.lifecycle import attach_state, kept_dir, open_stack
from orchestrator.owner import KEPT, owner_alive
from orchestrator.services import SERVICES, browser
from orchestrator.services.base import Slice
from orchestrator.stack import remove_stack
from orchestrator.state import StateDir

Log = Callable[[str], None]
LOCK_CHECK = 0.2  # seconds prune waits for a state directory's lock before leaving it be


def orphaned(stack_id: str, state_path: str, host: str) -> bool:
    """Whether a kept stack made on this machine is recorded by no state directory: the
    one it names has no state file for it and is not being written (its lock is free).
    A stack of another machine sharing the engine, or one whose directory this user
    cannot read, is never judged an orphan."""
    if not state_path or host != socket.gethostname():
        return False  # made elsewhere, or before stacks named their state directory
    state_dir = StateDir(Path(state_path), create=False)
    try:
        if not state_dir.path.is_dir():
            return True
        with state_dir.locked(timeout=LOCK_CHECK):
            state = state_dir.load()
    except (OrchestratorError, OSError):
        return False  # being started or stopped right now, or not this user's to read
    return state is None or state.stack_id != stack_id


def slice_names(workers: int) -> list[str]:
    """The slices test runs use: ``main`` (no xdist) and ``gw0``... for ``-n workers``."""
    return ["main", *(f"gw{number}" for number in range(workers))]


def up(
    client: docker.DockerClient, config: Config, workers: int, log: Log, headed: bool = False
) -> Attachment:
    """Start (or find) the kept stack, with the browser, a worker and a spare test
    database per slice ready.

    ``headed``: the browser draws on a virtual display a person can watch over VNC.
    """
    names = slice_names(workers)
    state_dir = kept_dir(config).path
    # Launched while the servers boot (a headed browser replaces the headless one below).
    demand = Demand(fixed=[DATABASE, *([] if headed else [BROWSER]), *map(worker_want, names)])
    attachment = open_stack(
        client, config, state_dir, KEPT, keep=True, log=log, slices=names, demand=demand
    )
    if attachment.headed != headed:
        attachment.set_headed(headed)
    attachment.ensure_browser()
    slices = [attachment.ensure_slice(name) for name in names]

    def start_worker(slice_: Slice) -> str:
        return attachment.ensure_worker(slice_)

    if config["worker.app"]:  # a project without Celery runs no workers
        with ThreadPoolExecutor(len(slices), thread_name_prefix=THREAD_PREFIX) as pool:
            list(pool.map(start_worker, slices))
    for slice_ in slices:  # each run makes its slice's next one
        attachment.make_spare_database(slice_)
    return attachment


def attach_kept(client: docker.DockerClient, config: Config) -> Attachment:
    """The kept stack as it is (not repaired: ``status`` shows what is wrong)."""
    state_dir = kept_dir(config)
    state = state_dir.load()
    if state is None:
        raise OrchestratorError(
            f"no kept stack for {config.root} (no {state_dir.file}); "
            "start one with `orchestrator up`"
        )
    try:
        return attach_state(client, config, state_dir, state, "kept", lambda message: None)
    except NotFound as error:
        raise OrchestratorError(
            f"kept stack {state.stack_id} is broken ({error}); `orchestrator up` replaces it"
        ) from None


def down(client: docker.DockerClient, config: Config) -> int:
    """Remove the kept stack, and any other this state directory labelled (a start that
    was killed before it recorded its stack); return how many containers and networks went."""
    state_dir = kept_dir(config)
    with state_dir.locked():
        state = state_dir.load()
        stacks = set(labelled_stacks(client, str(state_dir.path)))
        if state is not None:
            stacks.add(state.stack_id)
        removed = sum(remove_stack(client, stack_id) for stack_id in sorted(stacks))
        state_dir.remove()
    return removed


def labelled_stacks(client: docker.DockerClient, state_path: str) -> list[str]:
    """The stacks made on this machine whose containers or networks name ``state_path``
    as their state directory."""
    label: dict[str, str | list[str] | bool] = {
        "label": [f"{LABEL_STATE}={state_path}", f"{LABEL_HOST}={socket.gethostname()}"]
    }
    found = {
        (c.attrs.get("Labels") or {}).get(LABEL_STACK, "")
        for c in client.containers.list(all=True, filters=label, sparse=True)
    }
    found |= {
        (n.attrs.get("Labels") or {}).get(LABEL_STACK, "")
        for n in client.networks.list(filters=label)
    }
    return sorted(found - {""})


@dataclass(frozen=True)
class ServiceStatus:
    service: str
    image: str
    endpoint: str
    health: str
    uptime: str


def status(attachment: Attachment) -> list[ServiceStatus]:
    stack = attachment.stack
    problems = stack.unhealthy()
    rows = []
    for name in stack.services():
        container = stack.container(name)
        service = SERVICES.get(name)
        port = service.port if service is not None and service.port else None
        endpoint = "{}:{}".format(*stack.locate(name, port)) if port else "(on the stack network)"
        started = datetime.fromisoformat(container.attrs["State"]["StartedAt"][:26] + "+00:00")
        uptime = _duration(time.time() - started.timestamp())
        health = problems.get(name, "ready")
        image = container.attrs["Config"]["Image"]
        rows.append(ServiceStatus(name, image, endpoint, health, uptime))
    return rows


def viewer(attachment: Attachment) -> str | None:
    """How to watch the kept stack's headed browser, or None when it is headless."""
    stack = attachment.stack
    if not attachment.headed or browser.NAME not in stack.services():
        return None
    host, vnc_port = stack.locate(browser.NAME, browser.VNC_PORT)
    novnc_port = stack.locate(browser.NAME, browser.NOVNC_PORT)[1]
    vnc, web = browser.viewer_urls(host, vnc_port, novnc_port)
    password = attachment.plan.credentials["browser"]["vnc_password"]
    return f"watch the browser: {web} or {vnc} (password {password})"


def _duration(seconds: float) -> str:
    minutes, second = divmod(int(seconds), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}h{minute:02d}m" if hours else f"{minute}m{second:02d}s"


def environment(attachment: Attachment, slice_name: str) -> dict[str, str]:
    """What a shell, the app or a debugger needs to use one slice of the kept stack."""
    slice_ = attachment.ensure_slice(slice_name)
    attachment.ensure_database()  # a stack a run kept may not have started it
    return attachment.plan.endpoints(attachment.stack.locate, slice_).as_env()


def follow_logs(
    client: docker.DockerClient, attachment: Attachment, service: str, follow: bool, tail: int
) -> Iterator[bytes]:
    if service not in attachment.stack.services():
        known = ", ".join(attachment.stack.services())
        raise OrchestratorError(f"the kept stack has no service {service!r}; it has: {known}")
    container = attachment.stack.container(service)
    if follow:
        yield from container.logs(stream=True, follow=True, tail=tail)
    else:
        yield bytes(container.logs(tail=tail))


@dataclass(frozen=True)
class Leftover:
    stack_id: str
    owner: str
    containers: int
    networks: int


def prune(client: docker.DockerClient, dry_run: bool = False) -> list[Leftover]:
    """Remove stacks whose owner process is gone, and kept stacks their state directory no
    longer records (a start killed before it wrote the state file); a kept stack that is
    recorded, or being started, stays, and so do containers stackyard did not create."""
    managed: dict[str, str | list[str] | bool] = {"label": f"{LABEL_MANAGED}=true"}
    owners: dict[str, tuple[str, bool]] = {}
    states: dict[str, str] = {}
    hosts: dict[str, str] = {}
    counts: dict[str, list[int]] = {}
    # Sparse: no inspection of each container, which fails for one removed meanwhile.
    for container in client.containers.list(all=True, filters=managed, sparse=True):
        labels = container.attrs.get("Labels") or {}
        stack_id = labels.get(LABEL_STACK)
        if stack_id:
            owners[stack_id] = (labels.get(LABEL_OWNER, ""), labels.get(LABEL_KEPT) == "true")
            states[stack_id] = labels.get(LABEL_STATE, "")
            hosts[stack_id] = labels.get(LABEL_HOST, "")
            counts.setdefault(stack_id, [0, 0])[0] += 1
    for network in client.networks.list(filters=managed):
        labels = network.attrs.get("Labels") or {}
        stack_id = labels.get(LABEL_STACK)
        if stack_id:
            owners.setdefault(
                stack_id, (labels.get(LABEL_OWNER, ""), labels.get(LABEL_KEPT) == "true")
            )
            states.setdefault(stack_id, labels.get(LABEL_STATE, ""))
            hosts.setdefault(stack_id, labels.get(LABEL_HOST, ""))
            counts.setdefault(stack_id, [0, 0])[1] += 1
    gone = []
    for stack_id, (owner, kept) in sorted(owners.items()):
        if kept or owner == KEPT:
            if not orphaned(stack_id, states.get(stack_id, ""), hosts.get(stack_id, "")):
                continue
        elif not owner or owner_alive(owner):
            continue
        if not dry_run:
            remove_stack(client, stack_id)
        gone.append(Leftover(stack_id, owner, *counts[stack_id]))
    return gone
