"""The Docker engine: connecting to it, and the names the orchestrator labels things with.

Importing this module changes no global state: in particular it leaves
testcontainers' configuration (and so the Ryuk reaper of the project's own
testcontainers code) alone. The stack creates its containers without
testcontainers' reaper and removes them itself (see :mod:`orchestrator.stack`).
"""

from __future__ import annotations

import importlib.util
import os
import re
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import docker
import requests
from docker.errors import DockerException

from orchestrator.errors import EngineUnavailable

LABEL_PREFIX = "io.stackyard"
LABEL_MANAGED = f"{LABEL_PREFIX}.managed"
LABEL_STACK = f"{LABEL_PREFIX}.stack"
LABEL_SERVICE = f"{LABEL_PREFIX}.service"
LABEL_OWNER = f"{LABEL_PREFIX}.owner"
LABEL_INPUTS = f"{LABEL_PREFIX}.inputs"
LABEL_KEPT = f"{LABEL_PREFIX}.kept"
# The state directory that records a stack: `down` and `prune` find a kept stack by it,
# even one whose start was killed before its state file was written.
LABEL_STATE = f"{LABEL_PREFIX}.state"
# The machine that made a stack: a state directory's path means something only there.
LABEL_HOST = f"{LABEL_PREFIX}.host"

ENGINE_HINT = (
    "start a Docker engine (Docker Desktop, Colima, or `dockerd`; on Debian/Ubuntu as root: "
    "`apt-get install docker.io` then `dockerd &`) or point DOCKER_HOST at one"
)


# Host names of this machine in an engine's address: such an engine is local.
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
# Where a remote engine publishes ports: an address the test machine can reach.
REMOTE_PUBLISH_ADDRESS = "0.0.0.0"


def _context() -> Any:
    """The Docker context in use when DOCKER_HOST is not set (DOCKER_CONTEXT, else the
    client configuration's current one), or None for the default socket."""
    if os.environ.get("DOCKER_HOST"):
        return None
    from docker.context import ContextAPI

    try:  # None: DOCKER_CONTEXT, else the configuration's currentContext
        context = ContextAPI.get_context(os.environ.get("DOCKER_CONTEXT") or None)
    except DockerException:
        return None
    if context is None or context.name == "default" or not context.Host:
        return None
    return context


def engine_url() -> str:
    """The engine's address: DOCKER_HOST, else the Docker context's ('' = the default socket)."""
    context = _context()
    return str(context.Host) if context is not None else os.environ.get("DOCKER_HOST", "")


def engine_is_local() -> bool:
    """Whether the engine runs where this process does (a socket, or loopback): then the
    project's files are mounted into containers and ports published on 127.0.0.1;
    otherwise files are copied in and ports published on every interface there."""
    url = engine_url()
    if not url or url.startswith(("unix://", "npipe://")):
        return True
    return (urlsplit(url).hostname or "") in LOOPBACK_NAMES


def connect(timeout: float = 120) -> docker.DockerClient:
    """A client of the engine DOCKER_HOST or the Docker context names (or the default
    socket), checked with a ping.

    An ``ssh://`` engine is reached as the docker command reaches it: through this
    machine's ``ssh`` (its configuration, keys, agent and known hosts), running
    ``docker system dial-stdio`` on the engine's host; not through paramiko."""
    url = engine_url()
    if url.startswith("ssh://") and importlib.util.find_spec("paramiko") is None:
        raise EngineUnavailable(
            f"the engine is at {url}, which docker-py reaches only with paramiko installed: "
            "pip install 'stackyard[ssh]'"
        )
    try:
        context = _context()
        if context is not None:
            client = docker.DockerClient(
                base_url=context.Host,
                tls=context.TLSConfig or False,
                timeout=int(timeout),
                use_ssh_client=True,
            )
        else:
            client = docker.from_env(timeout=int(timeout), use_ssh_client=True)
        client.ping()
    except DockerException as error:
        raise EngineUnavailable(f"no Docker engine answers ({error}); {ENGINE_HINT}") from None
    return client


def address_towards(engine_host: str) -> str:
    """The address of this machine that a remote engine's containers reach it at: the
    one this machine sends from towards the engine (``ORCHESTRATOR_HOST_ADDRESS`` says
    it when routing does not, behind NAT)."""
    configured = os.environ.get("ORCHESTRATOR_HOST_ADDRESS")
    if configured:
        return configured
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((engine_host, 9))  # no packet is sent: the route is looked up
        return str(probe.getsockname()[0])


def host_gateway(client: docker.DockerClient) -> str:
    """The address at which the engine's containers reach this machine
    (``host.docker.internal``, the default bridge's gateway), when it is an address of
    this machine; '' otherwise (a remote engine, Docker Desktop's virtual machine)."""
    if published_host() != "127.0.0.1":
        return ""
    try:
        gateway = network_gateway(client.networks.get("bridge").attrs)
        with socket.socket() as probe:
            probe.bind((gateway, 0))  # fails unless the address is this machine's
    except (DockerException, OSError):
        return ""
    return gateway


def network_gateway(attrs: dict[str, Any]) -> str:
    """A network's IPv4 gateway, from what the engine says of it ('' when none)."""
    config = (attrs.get("IPAM") or {}).get("Config") or []
    gateways = [str(entry.get("Gateway", "")).partition("/")[0] for entry in config]
    return next((address for address in gateways if address.count(".") == 3), "")


@dataclass(frozen=True)
class Podman:
    """What differs with Podman's Docker-compatible service: its version, and whether
    it runs rootless (then its networks live in a namespace of the user's own)."""

    version: tuple[int, ...]
    rootless: bool


def podman_of(client: docker.DockerClient) -> Podman | None:
    """The engine's :class:`Podman`, when it is Podman's service (its version says so)."""
    try:
        components = client.version().get("Components") or []
        podman = next((c for c in components if "podman" in str(c.get("Name", "")).lower()), None)
        if podman is None:
            return None
        security = client.info().get("SecurityOptions") or []
    except (DockerException, requests.RequestException):
        return None
    numbers = re.findall(r"\d+", str(podman.get("Version", "")).partition("-")[0])
    return Podman(
        version=tuple(int(number) for number in numbers[:3]),
        rootless=any("rootless" in str(option) for option in security),
    )


def published_host() -> str:
    """The address at which published ports are reached from this process.

    A local engine publishes ports on 127.0.0.1 only: that is where the test process
    finds them, whatever testcontainers infers from ``/.dockerenv``; for a remote
    engine (``DOCKER_HOST=tcp://...``, ``ssh://``, or a context's) it is that engine's host.
    """
    override = os.environ.get("TESTCONTAINERS_HOST_OVERRIDE")
    if override:
        return override
    url = engine_url()
    if url.startswith(("tcp://", "ssh://", "http://", "https://")):
        return urlsplit(url).hostname or "127.0.0.1"
    return "127.0.0.1"
