"""A stack: the containers of several services on one Docker network, started together.

Containers are created with docker-py on the run's engine client, labelled with
the stack's id and owner (and nothing else), published on 127.0.0.1 only, and
removed by :meth:`Stack.stop`, which is safe to call at any point, including
after a failed start. They never involve testcontainers' Ryuk reaper, whatever
the process-wide testcontainers configuration says: see :meth:`Stack._create`.
The stack knows services only through their :class:`~orchestrator.spec.ServiceSpec`.

Shape of the bookkeeping, for a stack with two services::

    _specs      = {"redis": ServiceSpec(...), "rabbitmq": ServiceSpec(...)}
    _containers = {"redis": <docker Container>, "rabbitmq": <docker Container>}
    _ready      = {"redis": Future[float], "rabbitmq": Future[float]}  # seconds to ready

A stack started by another process is rebuilt with :meth:`Stack.attach` from
the ids its state file recorded; :func:`remove_stack` removes one by its label.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import resource
import secrets
import socket
import tarfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, DockerException, NotFound
from docker.models.containers import Container
from docker.models.networks import Network as DockerNetwork

from orchestrator import THREAD_PREFIX
from orchestrator.engine import (
    LABEL_HOST,
    LABEL_KEPT,
    LABEL_MANAGED,
    LABEL_OWNER,
    LABEL_SERVICE,
    LABEL_STACK,
    LABEL_STATE,
    REMOTE_PUBLISH_ADDRESS,
    Podman,
    address_towards,
    engine_is_local,
    host_gateway,
    network_gateway,
    podman_of,
    published_host,
)
from orchestrator.errors import NotStarted, OrchestratorError, ServiceNotReady
from orchestrator.probes import NotReadyYet
from orchestrator.spec import Mount, ServiceSpec
from orchestrator.waiting import (
    Cancelled,
    container_logs,
    describe_state,
    hint_text,
    wait_until_ready,
)

PUBLISH_ADDRESS = "127.0.0.1"
# Docker's name, in a container's extra hosts, for its host's address on the bridge.
HOST_GATEWAY = "host-gateway"
# What a remote engine's containers that serve this machine are told of its address.
CLIENT_ADDRESS = "STACKYARD_CLIENT_ADDRESS"
PORT_ATTEMPTS = 3  # a port chosen free may be taken by another process before the start
# Where a remote engine's services are published: below Linux's ephemeral range (from
# 32768, where the engine's own choices and outgoing connections fall), above most servers'.
REMOTE_PORTS = range(20000, 32768)
# What the engine says then: its own allocator, the kernel, Docker Desktop.
PORT_TAKEN = re.compile(r"allocated|address already in use|ports are not available", re.I)
CONFLICT = 409
STOP_WAIT = 30.0  # bound on waiting for start threads to notice a stop
BETWEEN_POLL = 0.05  # seconds between a waiting start's looks at what else to launch


class DependencyFailed(Cancelled):
    """A service was not probed because a service it depends on failed."""


class Stack:
    """Starts, locates and removes the containers of a set of services."""

    def __init__(
        self,
        client: docker.DockerClient,
        stack_id: str | None = None,
        owner: str | None = None,
        log: Callable[[str], None] = print,
        kept: bool = False,
        state_dir: str = "",
    ) -> None:
        self.client = client
        self.id = stack_id or secrets.token_hex(4)
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        self.host = published_host()
        self.local = engine_is_local()
        self.log = log
        self.kept = kept
        self.labels = {
            LABEL_MANAGED: "true",
            LABEL_STACK: self.id,
            LABEL_OWNER: self.owner,
            LABEL_KEPT: "true" if kept else "false",
            **({LABEL_STATE: state_dir, LABEL_HOST: socket.gethostname()} if state_dir else {}),
        }
        self.network: DockerNetwork | None = None
        self.timings: dict[str, float] = {}
        self._specs: dict[str, ServiceSpec] = {}
        self._containers: dict[str, Container] = {}
        self._ready: dict[str, Future[float]] = {}
        self._ports: dict[tuple[str, int], tuple[str, int]] = {}
        self._cancel = threading.Event()
        # Services stackyard stops on purpose just now (see orchestrator.deathwatch).
        self._stops_expected: set[str] = set()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(
            max_workers=8, thread_name_prefix=f"{THREAD_PREFIX}-{self.id}"
        )

    @property
    def network_name(self) -> str:
        return f"stackyard-{self.id}"

    @classmethod
    def attach(
        cls,
        client: docker.DockerClient,
        stack_id: str,
        owner: str,
        containers: dict[str, str],
        specs: dict[str, ServiceSpec],
        kept: bool = False,
        log: Callable[[str], None] = print,
        state_dir: str = "",
    ) -> Stack:
        """Rebuild a running stack from its recorded container ids (raises NotFound if gone)."""
        stack = cls(client, stack_id, owner, log, kept, state_dir)
        stack.network = client.networks.get(stack.network_name)
        for name, container_id in containers.items():
            stack.adopt(name, client.containers.get(container_id), specs[name])
        return stack

    def adopt(self, name: str, container: Container, spec: ServiceSpec) -> None:
        """Make a running container (started by another process) part of this stack object."""
        done: Future[float] = Future()
        done.set_result(0.0)
        with self._lock:
            self._containers[name] = container
            self._specs[name] = spec
            self._ready[name] = done

    def container_ids(self) -> dict[str, str]:
        return {name: str(container.id) for name, container in self._containers.items()}

    def unhealthy(self, names: Iterable[str] | None = None) -> dict[str, str]:
        """Services (every one, or those of ``names``) that are not running or fail one
        probe attempt, with the reason. They are checked side by side: one after another,
        a kept stack's seven took 0.2 s, which each process of a run paid as it attached."""
        wanted = [
            (name, container)
            for name, container in list(self._containers.items())
            if names is None or name in names
        ]
        found = list(self._pool.map(lambda item: self._problem(*item), wanted))
        return {name: problem for (name, _), problem in zip(wanted, found, strict=True) if problem}

    def _problem(self, name: str, container: Container) -> str:
        try:
            container.reload()
            if container.status == "running":
                self._specs[name].probe.attempt(self.locate)
                return ""
        except (NotReadyYet, OSError, DockerException, OrchestratorError) as error:
            with contextlib.suppress(DockerException):
                container.reload()
            if container.status == "running":
                return f"{type(error).__name__}: {error}"
        return f"container {describe_state(container)}"

    def expect_stop(self, service: str, expected: bool = True) -> None:
        """Announce a stop of ``service`` stackyard causes on purpose (a fault, a restart),
        or withdraw it once the service runs again: the death watch does not report it."""
        with self._lock:
            if expected:
                self._stops_expected.add(service)
            else:
                self._stops_expected.discard(service)

    def stop_expected(self, service: str) -> bool:
        with self._lock:
            return self._cancel.is_set() or service in self._stops_expected

    def drop(self, name: str) -> None:
        """Remove one service's container from the stack."""
        with self._lock:
            container = self._containers.pop(name, None)
            self._specs.pop(name, None)
            self._ready.pop(name, None)
            self._ports = {key: value for key, value in self._ports.items() if key[0] != name}
        if container is not None:
            self._remove(container)

    def start(self, specs: Iterable[ServiceSpec]) -> dict[str, float]:
        """Start ``specs`` concurrently and wait until all are ready.

        Returns the seconds each took from launch to ready. If any fails, every
        container of the stack is removed and the first failure is raised.
        """
        for spec in specs:
            self.launch(spec)
        return self.wait_all()

    def launch(self, spec: ServiceSpec) -> None:
        """Start one service in the background; :meth:`wait` blocks until it is ready."""
        with self._lock:
            if spec.name in self._specs:
                raise OrchestratorError(f"service {spec.name!r} is already part of stack {self.id}")
            missing = [name for name in spec.depends_on if name not in self._specs]
            if missing:
                raise OrchestratorError(
                    f"service {spec.name!r} depends on {missing}, "
                    f"which are not in stack {self.id}; "
                    "launch them first"
                )
            self.ensure_network()
            self._specs[spec.name] = spec
            self._ready[spec.name] = self._pool.submit(self._run, spec, time.monotonic())

    def wait(self, name: str, between: Callable[[], None] | None = None) -> float:
        """Block until service ``name`` is ready; on failure remove the stack and raise.

        ``between`` is called every ``BETWEEN_POLL`` seconds while it waits (it may
        launch more services).
        """
        future = self._ready[name]
        try:
            while between is not None and not future.done():
                between()
                wait_futures([future], timeout=BETWEEN_POLL)
            return future.result()
        except BaseException:
            self.stop()
            raise

    def wait_added(self, name: str) -> float:
        """Block until ``name``, launched into a running stack, is ready; on failure remove
        that service alone (the others serve other processes) and raise."""
        try:
            return self._ready[name].result()
        except BaseException:
            self.drop(name)
            raise

    def wait_all(self, between: Callable[[], None] | None = None) -> dict[str, float]:
        """Wait for every launched service; at the first failure, abandon the rest.

        ``between`` is called as in :meth:`wait`, and once more when all are ready:
        services it launches are waited for too.
        """
        timeout = BETWEEN_POLL if between is not None else None
        while True:
            if between is not None:
                between()
            futures = list(self._ready.values())
            if any(future.done() and future.exception() is not None for future in futures):
                self._cancel.set()
                break
            pending = [future for future in futures if not future.done()]
            if not pending:
                break
            wait_futures(pending, timeout=timeout, return_when=FIRST_EXCEPTION)
        wait_futures(list(self._ready.values()), timeout=STOP_WAIT)
        failures = [f.exception() for f in self._ready.values() if f.done() and f.exception()]
        if failures:
            self.stop()
            root_causes = [error for error in failures if not isinstance(error, Cancelled)]
            raise (root_causes or failures)[0]  # type: ignore[misc]
        return {name: future.result() for name, future in self._ready.items()}

    def locate(self, service: str, port: int) -> tuple[str, int]:
        """(host, published port) at which this process reaches ``port`` of ``service``."""
        key = (service, port)
        if key not in self._ports:
            if service not in self._containers:
                raise NotStarted(f"service {service!r} of stack {self.id} is not started")
            container = self.container(service)
            container.reload()
            bindings = container.attrs["NetworkSettings"]["Ports"].get(f"{port}/tcp") or []
            if not bindings:
                raise OrchestratorError(f"service {service!r} publishes no port {port}")
            self._ports[key] = (self.host, int(bindings[0]["HostPort"]))
        return self._ports[key]

    def container(self, service: str) -> Container:
        return self._containers[service]

    def spec(self, service: str) -> ServiceSpec:
        return self._specs[service]

    def wait_ready_again(self, service: str) -> None:
        """After a restart of a running service's container: wait for its probe, bounded
        by its start-up timeout (:meth:`wait` is for a launch)."""
        spec = self._specs[service]
        wait_until_ready(
            service, self.container(service), spec.probe, self.locate, spec.startup_timeout
        )

    def exec_in(self, service: str) -> Callable[[list[str]], tuple[int, str]]:
        """A command run in a service's container: argv -> (exit code, output)."""

        def run(argv: list[str]) -> tuple[int, str]:
            result = self.container(service).exec_run(argv)
            raw = result.output if isinstance(result.output, bytes) else b"".join(result.output)
            return int(result.exit_code or 0), raw.decode(errors="replace").strip()

        return run

    def logs(self, service: str, tail: int = 50) -> str:
        return container_logs(self.container(service), tail)

    def services(self) -> list[str]:
        return list(self._specs)

    def ready(self, name: str) -> bool:
        """Whether ``name`` was launched (or adopted) and is ready."""
        future = self._ready.get(name)
        return future is not None and future.done() and future.exception() is None

    def stop(self) -> None:
        """Remove every container and the network this stack created. Idempotent."""
        self._cancel.set()
        wait_futures(list(self._ready.values()), timeout=STOP_WAIT)
        with self._lock:
            containers = list(self._containers.values())
            self._containers.clear()
        removals = [self._pool.submit(self._remove, container) for container in containers]
        wait_futures(removals, timeout=STOP_WAIT)
        if self.network is not None:
            with contextlib.suppress(NotFound):
                self.network.remove()
            self.network = None

    def ensure_network(self) -> None:
        if self.network is None:
            self.network = self.client.networks.create(self.network_name, labels=self.labels)

    def _run(self, spec: ServiceSpec, launched: float) -> float:
        if self._cancel.is_set():
            raise Cancelled(spec.name)
        container: Container | None = None
        try:
            for attempt in range(PORT_ATTEMPTS):
                container = self._create(spec)
                try:
                    container.start()
                    break
                except APIError as error:
                    # Another process took a port chosen for this container: choose again.
                    if attempt + 1 == PORT_ATTEMPTS or not PORT_TAKEN.search(str(error)):
                        raise
                    self._remove(container)
                    container = None
        except DockerException as error:
            if container is not None:  # created but not started: still ours to remove
                self._remove(container)
            raise ServiceNotReady(
                spec.name,
                "the container to start",
                spec.startup_timeout,
                "not started",
                "",
                reason=f"could not start: {error}",
                hint=hint_text(spec.hint, "not started", ""),
            ) from None
        assert container is not None  # started, or the loop raised
        with self._lock:
            self._containers[spec.name] = container
        for dependency in spec.depends_on:
            try:
                self._ready[dependency].result()
            except BaseException:
                raise DependencyFailed(f"{spec.name}: {dependency} failed") from None
        wait_until_ready(
            spec.name,
            container,
            spec.probe,
            self.locate,
            spec.startup_timeout,
            self._cancel,
            spec.hint,
        )
        self.timings[spec.name] = time.monotonic() - launched
        return self.timings[spec.name]

    def _create(self, spec: ServiceSpec) -> Container:
        """Create (not start) the container of ``spec`` on the stack's network.

        Guarantees: no Ryuk reaper is started and no process-wide state is read or
        changed. testcontainers' ``DockerContainer.start()`` would start Ryuk unless
        its global configuration disables it (which would turn Ryuk off for the
        project's own testcontainers code too), and it labels containers with its
        session id, which a Ryuk started by the project's code in this process
        would reap when the process exits, a kept stack included. The stack removes
        what it creates itself (:meth:`stop`, :func:`remove_stack`, the watchdog).
        """
        assert self.network is not None
        # A local engine publishes on 127.0.0.1 only, off other interfaces; a remote one on
        # its interfaces (every service asks for the credentials generated for the stack).
        # Either way at a port chosen here for the container's life, so that a restarted
        # service comes back where its clients reconnect: on this machine, one free now;
        # on a remote engine, whose free ports are not this machine's, one at random in
        # REMOTE_PORTS (a taken one fails the start, which then chooses again).
        ports = {
            f"{port}/tcp": (PUBLISH_ADDRESS, free_port())
            if self.local
            else (REMOTE_PUBLISH_ADDRESS, REMOTE_PORTS[secrets.randbelow(len(REMOTE_PORTS))])
            for port in spec.ports
        }
        options = dict(spec.options)
        environment = dict(spec.env)
        if self.local:
            volumes = {
                mount.host_path: {"bind": mount.container_path, "mode": mount.mode}
                for mount in spec.mounts
            }
            if self.podman is not None:
                options = self._for_podman(options, self.podman)
        else:
            volumes = {}
            shared = [m.host_path for m in spec.mounts if m.mode != "ro"]
            if shared:
                raise OrchestratorError(
                    f"{spec.name} shares {shared[0]} with this machine, which a remote engine "
                    f"({self.host}) cannot mount: use database = 'postgres' with it"
                )
            # The containers reach this machine (the live server, servers on its loopback)
            # at its address towards the engine, not at the engine host's gateway.
            # Those that serve this machine (the browser's WebDriver) are told the address
            # its requests come from (STACKYARD_CLIENT_ADDRESS).
            if HOST_GATEWAY in (options.get("extra_hosts") or {}).values():
                address = address_towards(self.host)
                options["extra_hosts"] = with_host_address(options, address)
                environment[CLIENT_ADDRESS] = address
        endpoint = self.client.api.create_endpoint_config(aliases=[spec.name])
        container = self.client.containers.create(
            spec.image,
            command=list(spec.command) if spec.command is not None else None,
            name=f"stackyard-{self.id}-{spec.name}",
            environment=environment,
            ports=ports,
            volumes=volumes,
            network=self.network_name,
            networking_config={self.network_name: endpoint},
            labels={**self.labels, LABEL_SERVICE: spec.name},
            mem_limit=spec.memory,
            pids_limit=spec.pids,
            **options,
        )
        if not self.local and spec.mounts:
            try:
                copy_into(container, spec.mounts)
            except BaseException:
                self._remove(container)
                raise
        return container

    @functools.cached_property
    def podman(self) -> Podman | None:
        return podman_of(self.client)

    def _for_podman(self, options: dict[str, Any], podman: Podman) -> dict[str, Any]:
        """What a local Podman needs said that Docker infers.

        Podman before 4.7 knows no ``host-gateway`` (4.3 writes the word into the
        container's /etc/hosts as if it were an address): rootful, the containers get
        the address the live server listens on (:func:`host_gateway`), else the stack
        network's gateway (an address of this machine then, the live server listening on
        all of them). Rootful Podman also gives every container open-file and process
        limits far above the usual (2**20), which the container's start fails to set
        where this machine's hard limits are lower and Podman may not raise them (4.3
        does not clamp them): its containers get :func:`container_limits` instead.
        Rootless, its networks are the user's own: nothing is changed."""
        if podman.rootless:
            return options
        options = dict(options)
        if podman.version < (4, 7):
            assert self.network is not None
            self.network.reload()
            address = host_gateway(self.client) or network_gateway(self.network.attrs)
            if address:
                options["extra_hosts"] = with_host_address(options, address)
        options.setdefault(
            "ulimits",
            [
                docker.types.Ulimit(name=name, soft=limit, hard=limit)
                for name, limit in container_limits().items()
            ],
        )
        return options

    @staticmethod
    def _remove(container: Container) -> None:
        with contextlib.suppress(NotFound):
            container.remove(force=True, v=True)


# Not copied into a remote engine's containers: virtualenvs, VCS and tool caches.
NOT_COPIED = frozenset({"__pycache__", "node_modules", "venv", "env"})


def copy_into(container: Container, mounts: Iterable[Mount]) -> None:
    """What a local engine would mount read-only, copied into a created container (a
    remote engine cannot mount this machine's files): directories without hidden
    entries, virtualenvs and caches, owned by root and readable by every user."""
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for mount in mounts:
            source = Path(mount.host_path)
            target = mount.container_path.lstrip("/")
            tar.add(source, arcname=target, recursive=False, filter=_readable)
            if source.is_dir():
                for path in sorted(_copied_files(source)):
                    relative = path.relative_to(source)
                    tar.add(path, arcname=f"{target}/{relative}", recursive=False, filter=_readable)
    container.put_archive("/", archive.getvalue())


def _copied_files(directory: Path) -> Iterator[Path]:
    for entry in directory.iterdir():
        if entry.name.startswith(".") or entry.name in NOT_COPIED or entry.suffix == ".pyc":
            continue
        if entry.is_symlink() or not (entry.is_dir() or entry.is_file()):
            continue
        yield entry
        if entry.is_dir():
            yield from _copied_files(entry)


def _readable(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mode = 0o755 if info.isdir() or info.mode & 0o111 else 0o644
    return info


def with_host_address(options: dict[str, Any], address: str) -> dict[str, str]:
    """The container's extra hosts, those mapped to ``host-gateway`` mapped to ``address``."""
    extra_hosts = dict(options.get("extra_hosts") or {})
    return {name: address if to == HOST_GATEWAY else to for name, to in extra_hosts.items()}


def container_limits() -> dict[str, int]:
    """Open files and processes a container may have at most (where Podman would ask
    for more than it can give): this process's own hard limits, and no more processes
    than the kernel has process ids."""
    limits = {}
    for name, kind in (("nofile", resource.RLIMIT_NOFILE), ("nproc", resource.RLIMIT_NPROC)):
        hard = resource.getrlimit(kind)[1]
        if hard != resource.RLIM_INFINITY:
            limits[name] = hard
    try:
        pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    except (OSError, ValueError):
        return limits
    limits["nproc"] = min(limits.get("nproc", pid_max), pid_max)
    return limits


def free_port() -> int:
    """A port free on the publish address now (the kernel's choice of an ephemeral one)."""
    with socket.socket() as probe:
        probe.bind((PUBLISH_ADDRESS, 0))
        return int(probe.getsockname()[1])


def save_stack_logs(client: docker.DockerClient, stack_id: str, directory: Path) -> list[Path]:
    """Write the whole log of each of the stack's containers to ``directory/<service>.log``."""
    label: dict[str, str | list[str] | bool] = {"label": f"{LABEL_STACK}={stack_id}"}
    written = []
    for container in client.containers.list(all=True, filters=label):
        service = container.labels.get(LABEL_SERVICE, container.name)
        with contextlib.suppress(NotFound):
            logs = container.logs(timestamps=True)
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / f"{service}.log"
            path.write_bytes(logs)
            written.append(path)
    return sorted(written)


def remove_stack(client: docker.DockerClient, stack_id: str) -> int:
    """Remove every container and network labelled with ``stack_id``; return how many.

    The containers go in parallel: a forced removal stops the container first, and
    one at a time a four-container stack took 0.75 s.
    """
    label: dict[str, str | list[str] | bool] = {"label": f"{LABEL_STACK}={stack_id}"}
    # Sparse: no inspection of each container, which fails for one removed meanwhile.
    containers = client.containers.list(all=True, filters=label, sparse=True)
    removed = 0
    if containers:
        with ThreadPoolExecutor(len(containers), thread_name_prefix=THREAD_PREFIX) as pool:
            removed = sum(pool.map(_remove_labelled, containers))
    for network in client.networks.list(filters=label):
        with contextlib.suppress(NotFound):
            network.remove()
            removed += 1
    return removed


def _remove_labelled(container: Container) -> int:
    try:
        container.remove(force=True, v=True)
    except NotFound:
        return 0
    except APIError as error:
        if error.status_code != CONFLICT:  # another cleaner is already removing it
            raise
        return 0
    return 1
