"""RabbitMQ: the Celery broker.

The default user, password and vhost are set through the official image's
environment variables, which docker/rabbitmq honours as well.

The slices' vhosts can be made at boot: docker/rabbitmq loads the definitions
(user, vhosts, permissions) given in ``STACKYARD_RABBITMQ_DEFINITIONS``, which
costs the boot nothing, where ``rabbitmqctl`` after it costs ~0.9 s of CPU per
vhost. An image that ignores the variable (the official one) is given the vhosts
it lacks with ``rabbitmqctl`` once it is ready.

Each slice has its own vhost (``stackyard-gw0``...); a reset purges the worker's
queues there. An existing server (``broker = "amqp://..."``) must already have
the slices' vhosts: AMQP cannot make them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shlex
from collections.abc import Mapping, Sequence
from urllib.parse import quote

from orchestrator.errors import OrchestratorError
from orchestrator.probes import AmqpLogin, NotReadyYet
from orchestrator.services.base import Cleaner, Exec, Server, Service, Slice
from orchestrator.spec import ServiceSpec

NAME = "rabbitmq"
PORT = 5672
DEFINITIONS_ENV = "STACKYARD_RABBITMQ_DEFINITIONS"
# RabbitMQ's boot (~4 s of CPU in the Erlang VM) is what every first test waits for, and
# it runs while the worker containers import the project: eight times the default CPU
# weight lets it go first when the containers compete for the cores (bench/sharing.py:
# cold -n 2 / -n 0 went from 1.16x to 1.07x on 2 cores).
CPU_SHARES = 8192


def password_hash(password: str, salt: bytes | None = None) -> str:
    """RabbitMQ's ``rabbit_password_hashing_sha256``: base64(salt + sha256(salt + password))."""
    salt = os.urandom(4) if salt is None else salt
    digest = hashlib.sha256(salt + password.encode()).digest()
    return base64.b64encode(salt + digest).decode()


def definitions(user: str, password: str, vhosts: Sequence[str]) -> dict[str, object]:
    """Definitions that give ``user`` (an administrator) every right on each of ``vhosts``."""
    return {
        "users": [
            {
                "name": user,
                "password_hash": password_hash(password),
                "hashing_algorithm": "rabbit_password_hashing_sha256",
                "tags": ["administrator"],
            }
        ],
        "vhosts": [{"name": vhost} for vhost in vhosts],
        "permissions": [
            {"user": user, "vhost": vhost, "configure": ".*", "write": ".*", "read": ".*"}
            for vhost in vhosts
        ],
    }


def amqp_url(host: str, port: int, user: str, password: str, vhost: str) -> str:
    credentials = f"{quote(user, safe='')}:{quote(password, safe='')}"
    return f"amqp://{credentials}@{host}:{port}/{quote(vhost, safe='')}"


def vhost_of(slice_: Slice) -> str:
    return slice_.prefix


class RabbitMQ(Service):
    name = NAME
    port = PORT
    registry_image = "rabbitmq:3.13"
    roles = ("broker",)
    schemes = ("amqp", "amqps", "pyamqp")

    def credentials(self) -> dict[str, str]:
        return {
            "user": f"stackyard-{secrets.token_hex(4)}",
            "password": secrets.token_urlsafe(24),
            "vhost": "stackyard",
        }

    def spec(
        self,
        image: str,
        credentials: Mapping[str, str],
        startup_timeout: float,
        slices: Sequence[Slice],
    ) -> ServiceSpec:
        user, password, vhost = credentials["user"], credentials["password"], credentials["vhost"]
        env = {
            "RABBITMQ_DEFAULT_USER": user,
            "RABBITMQ_DEFAULT_PASS": password,
            "RABBITMQ_DEFAULT_VHOST": vhost,
        }
        if slices:
            vhosts = [vhost, *(vhost_of(slice_) for slice_ in slices)]
            env[DEFINITIONS_ENV] = json.dumps(definitions(user, password, vhosts))
        return ServiceSpec(
            name=NAME,
            image=image,
            env=env,
            options={"cpu_shares": CPU_SHARES},
            ports=(PORT,),
            probe=AmqpLogin(NAME, user, password, vhost, PORT),
            startup_timeout=startup_timeout,
            hint="the image must honour RABBITMQ_DEFAULT_USER/_PASS/_VHOST like the official one",
        )

    def url(self, role: str, server: Server, slice_: Slice) -> str:
        url = amqp_url(server.host, server.port, server.user, server.password, vhost_of(slice_))
        return url.replace("amqp://", f"{server.scheme or 'amqp'}://", 1)

    def provision(self, server: Server, slices: Sequence[Slice], run: Exec | None) -> None:
        """Give the user the slices' vhosts it cannot open yet (``rabbitmqctl``, ~0.5 s)."""
        missing = missing_vhosts(server, [vhost_of(slice_) for slice_ in slices])
        if not missing:
            return
        if run is None:
            raise OrchestratorError(
                f"the RabbitMQ server {server.host}:{server.port} has no vhost {missing[0]!r} "
                f"for user {server.user!r} (stackyard gives each test process its own vhost, "
                "and AMQP cannot create one): create "
                + ", ".join(repr(vhost) for vhost in missing)
                + " with rabbitmqctl add_vhost and set_permissions, or set broker = 'rabbitmq'"
            )
        add_vhosts(run, server.user, missing)

    def cleaner(self, role: str, url: str, slice_: Slice, queues: Sequence[str]) -> Cleaner | None:
        from orchestrator.cleaning import QueuePurge

        return QueuePurge(url, queues)


def missing_vhosts(server: Server, vhosts: Sequence[str]) -> list[str]:
    """Those of ``vhosts`` the server's user cannot open (not made at boot: an image
    without stackyard's definitions support, such as the official one)."""
    missing = []
    for vhost in vhosts:
        login = AmqpLogin(NAME, server.user, server.password, vhost, server.port)
        try:
            login.attempt(lambda service, port: (server.host, server.port))
        except (NotReadyYet, OSError):
            missing.append(vhost)
    return missing


def add_vhosts(run: Exec, user: str, vhosts: Sequence[str]) -> None:
    """Create vhosts for ``user`` in the container, in parallel."""
    jobs = [
        f"(rabbitmqctl -q add_vhost {shlex.quote(vhost)} && rabbitmqctl -q set_permissions "
        f"-p {shlex.quote(vhost)} {shlex.quote(user)} '.*' '.*' '.*') & job{number}=$!;"
        for number, vhost in enumerate(vhosts)
    ]
    waits = " ".join(f"wait $job{number} || failed=1;" for number in range(len(vhosts)))
    code, output = run(["sh", "-c", " ".join(jobs) + f" failed=0; {waits} exit $failed"])
    if code != 0:
        raise OrchestratorError(f"could not create RabbitMQ vhosts {list(vhosts)}: {output}")


SERVICE = RabbitMQ()
