"""The Docker engine: connecting to it, and the names the orchestrator labels things with.

Importing this module changes no global state: in particular it leaves
testcontainers' configuration (and so the Ryuk reaper of the project's own
testcontainers code) alone. The stack creates its containers without
testcontainers' reaper and removes them itself (see :mod:`orchestrator.stack`).
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import docker
from docker.errors import DockerException

from orchestrator.errors import EngineUnavailable

LABEL_PREFIX = "io.stackyard"
# Names of the threads stackyard starts (starts, probes, builds, teardowns): the fast
# layer's network guard lets them through while a test runs in the same process.
THREAD_PREFIX = "stackyard"
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


def connect(timeout: float = 120) -> docker.DockerClient:
    """A client of the engine DOCKER_HOST (or the default socket) names, checked with a ping."""
    try:
        client = docker.from_env(timeout=int(timeout))
        client.ping()
    except DockerException as error:
        raise EngineUnavailable(f"no Docker engine answers ({error}); {ENGINE_HINT}") from None
    return client


def host_gateway(client: docker.DockerClient) -> str:
    """The address at which the engine's containers reach this machine
    (``host.docker.internal``, the default bridge's gateway), when it is an address of
    this machine; '' otherwise (a remote engine, Docker Desktop's virtual machine)."""
    if published_host() != "127.0.0.1":
        return ""
    try:
        config = client.networks.get("bridge").attrs["IPAM"]["Config"] or []
        gateways = [str(entry.get("Gateway", "")) for entry in config]
        gateway = next(address for address in gateways if address.count(".") == 3)
        with socket.socket() as probe:
            probe.bind((gateway, 0))  # fails unless the address is this machine's
    except (DockerException, KeyError, TypeError, StopIteration, OSError):
        return ""
    return gateway


def published_host() -> str:
    """The address at which published ports are reached from this process.

    Ports are published on 127.0.0.1 only. For a local engine that is where the
    test process finds them, whatever testcontainers infers from ``/.dockerenv``;
    for a remote engine (``DOCKER_HOST=tcp://...``) it is that engine's host.
    """
    override = os.environ.get("TESTCONTAINERS_HOST_OVERRIDE")
    if override:
        return override
    docker_host = os.environ.get("DOCKER_HOST", "")
    if docker_host.startswith(("tcp://", "ssh://")):
        return urlsplit(docker_host).hostname or "127.0.0.1"
    return "127.0.0.1"
