"""The project's Celery worker, in a container, on the stack's servers; one per slice.

The image (docker/worker) holds only dependencies; the project's source is
mounted read-only at /app, so code edits need no rebuild. The worker reaches the
stack's servers by their network aliases, servers on this machine through the
host alias, and a SQLite test database through a mount of its directory at the
same path as on the host.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from orchestrator.probes import CeleryPing, Locate
from orchestrator.services.base import HOST_ALIAS, Service
from orchestrator.spec import Mount, ServiceSpec

NAME = "worker"
SOURCE_MOUNT = "/app"
MOUNTED_BOOT = "/opt/stackyard/boot.py"
# Celery's worker logs "Connected to amqp://user:**@host:port/vhost" (or redis://...)
# once it has a broker.
CONNECTED = re.compile(r"Connected to (\S+)")


@dataclass(frozen=True)
class WorkerSettings:
    """What the worker runs and which endpoints it uses (URLs as seen inside the network)."""

    source: Path
    app: str
    django_settings: str
    queues: Sequence[str]
    concurrency: int
    # The stack's endpoints, as orchestrator.django_settings maps them (passwords: no repr).
    environment: Mapping[str, str] = field(repr=False)
    database_path: Path | None = None
    node_name: str = "worker@stackyard"
    # A ready image (images.worker) lacks stackyard's boot script: it is mounted in.
    boot_script: Path | None = None
    # The stack's own services the worker uses (probed once they are ready).
    depends_on: tuple[str, ...] = ()
    # It uses a server on this machine (a role's URL on loopback).
    reaches_host: bool = False


def worker_spec(
    image: str,
    settings: WorkerSettings,
    broker_url: Callable[[Locate], str],
    expected_broker: str,
    startup_timeout: float,
    name: str = NAME,
) -> ServiceSpec:
    """``broker_url``: the broker as the test process reaches it (for the probe);
    ``expected_broker``: ``host:port/vhost-or-db`` as the worker logs it (for hints)."""
    mounts = [Mount(str(settings.source), SOURCE_MOUNT, "ro")]
    env = {
        "CELERY_APP": settings.app,
        "DJANGO_SETTINGS_MODULE": settings.django_settings,
        "HOME": "/tmp",
        **settings.environment,
    }
    if settings.database_path is not None:
        directory = str(settings.database_path.parent)
        mounts.append(Mount(directory, directory, "rw"))
    options: dict[str, object] = {"user": f"{os.getuid()}:{os.getgid()}"}
    if settings.reaches_host:
        options["extra_hosts"] = {HOST_ALIAS: "host-gateway"}
    if settings.boot_script is not None:
        mounts.append(Mount(str(settings.boot_script), MOUNTED_BOOT, "ro"))
        options["entrypoint"] = ["python3", MOUNTED_BOOT]
    command = (
        "--loglevel=INFO",
        f"--queues={','.join(settings.queues)}",
        f"--hostname={settings.node_name}",
        "--pool=threads",
        f"--concurrency={settings.concurrency}",
        # A test stack has one worker: skip the start-up chatter between workers.
        "--without-mingle",
        "--without-gossip",
    )
    return ServiceSpec(
        name=name,
        image=image,
        command=command,
        env=env,
        depends_on=settings.depends_on,
        mounts=tuple(mounts),
        # Files the worker writes (the SQLite journal) stay owned by the user running the tests.
        options=options,
        probe=CeleryPing(name, settings.node_name, broker_url),
        startup_timeout=startup_timeout,
        hint=partial(diagnose, settings, expected_broker),
        memory="2g",  # the project's own code, imported whole
    )


def diagnose(settings: WorkerSettings, expected: str, status: str, logs: str) -> str:
    """The likely cause of a worker that is not ready, from its status and log.

    ``expected`` is the broker it should use, ``host:port/vhost`` as Celery logs it.
    """
    connected = CONNECTED.search(logs)
    if status == "running" and connected:
        seen = connected.group(1).rpartition("@")[2]
        if seen != expected:
            return (
                f"the worker runs but connected to {seen} instead of the stack's broker "
                f"{expected}: something in the project sets Celery's broker after its settings "
                "(a broker_read_url/broker_write_url, or code that sets app.conf); "
                "stackyard sets CELERY_BROKER_URL, which wins over broker_url"
            )
        return (
            f"the worker is connected to {expected} but did not answer a ping: is it "
            f"consuming (queues {', '.join(settings.queues)}), or busy? See its log below"
        )
    if status == "running":
        return (
            "the worker runs but has not connected to a broker yet: its log below shows how far "
            f"it got (importing app {settings.app!r} with settings {settings.django_settings!r})"
        )
    return (
        f"the worker stopped: look for the error in its log below (app {settings.app!r}, "
        f"settings {settings.django_settings!r}, source mounted from {settings.source})"
    )


class Worker(Service):
    """The worker's image is built with the project's dependencies (no registry image);
    its containers are started per slice by the plan (:func:`worker_spec`)."""

    name = NAME


SERVICE = Worker()
