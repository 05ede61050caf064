"""Roles pointed at servers that already run (a CI's service containers, a developer's own).

The test starts those servers itself, as plain containers on the host's network
(as a CI's service containers or a local install listen on the machine), puts data
of "their own" in them, then runs a session whose roles name them by URL: the stack
starts no server of its own, the worker reaches them through the host alias, each
slice is isolated and reset, and what was there before is still there afterwards.
"""

import json
import random
import secrets
import socket
import time

import psycopg
import pytest
from redis import Redis

from orchestrator.config import load_config
from orchestrator.engine import engine_is_local, published_host
from orchestrator.images import ImageBuilder
from orchestrator.services import postgres
from orchestrator.stack import REMOTE_PORTS
from tests.integration.inner import run_session

READY_WAIT = 60

SESSION_TEST = """
import json, pathlib
import docker
import pytest
from billing.models import Invoice
from billing.tasks import send_invoice_email
from django.conf import settings
from django.core.cache import cache
from django.db import connection

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_the_worker_runs_a_task_on_the_servers_named_by_url(stack, stack_celery_app, stack_worker):
    invoice = Invoice.objects.create(number="INV-1", amount="10.00", customer_email="a@b.example")
    result = send_invoice_email.delay(invoice.id)
    assert result.get(timeout=30) == invoice.id
    assert result.worker == stack_worker  # the worker container ran it, not this process
    invoice.refresh_from_db()
    assert invoice.status == invoice.Status.EMAILED
    cache.set("ours", "removed when the session ends")
    assert cache.get("ours")
    containers = docker.from_env().containers.list(
        filters={{"label": "io.stackyard.stack=" + stack.stack_id}}
    )
    pathlib.Path({record!r}).write_text(json.dumps({{
        "containers": sorted(c.labels["io.stackyard.service"] for c in containers),
        "database": [connection.settings_dict["NAME"], connection.settings_dict["PORT"]],
        "cache": settings.CACHES["default"]["LOCATION"].rpartition("@")[2],
        "broker": stack.endpoints.broker_url.rpartition("@")[2],
    }}))
"""


def _free_port() -> int:
    """A port free here, or (a remote engine's machine's being unknown from here) one of
    those stackyard publishes a remote engine's services at."""
    if not engine_is_local():
        return random.choice(REMOTE_PORTS)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(check, what: str) -> None:
    deadline = time.monotonic() + READY_WAIT
    while True:
        try:
            check()
            return
        except Exception as error:  # not up yet: refused, reset, starting up
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} not ready within {READY_WAIT}s: {error}") from None
            time.sleep(0.1)


@pytest.fixture
def existing_servers(pytestconfig, docker_client):
    """A Redis and a PostgreSQL listening on the engine's host (this machine, when the
    engine is local), with data of their own."""
    host = published_host()
    builder = ImageBuilder(docker_client, load_config(pytestconfig.rootpath), log=lambda m: None)
    images = builder.ensure(["redis", "postgres"])
    password = secrets.token_urlsafe(16)
    redis_port, postgres_port = _free_port(), _free_port()
    label = {"stackyard-test": "existing-server"}
    containers = []
    try:
        containers.append(
            docker_client.containers.run(
                images["redis"].reference,
                [
                    *("redis-server", "--port", str(redis_port), "--requirepass", password),
                    *("--save", "", "--appendonly", "no", "--protected-mode", "no"),
                ],
                network_mode="host",
                labels=label,
                detach=True,
            )
        )
        containers.append(
            docker_client.containers.run(
                images["postgres"].reference,
                ["postgres", "-c", f"port={postgres_port}", "-c", "fsync=off"],
                environment={"POSTGRES_USER": "app", "POSTGRES_PASSWORD": password},
                network_mode="host",
                labels=label,
                detach=True,
            )
        )
        with Redis(host, redis_port, password=password, socket_timeout=5) as redis:
            _wait(redis.ping, "redis")
            redis.set("theirs", "db 0")
        with Redis(host, redis_port, password=password, db=1) as redis:
            redis.set("app:session:1", "db 1")
        address = (host, postgres_port)
        _wait(lambda: postgres.run_sql(address, "app", password, "app", "SELECT 1"), "postgres")
        postgres.run_sql(address, "app", password, "app", "CREATE TABLE notes (body text)")
        postgres.run_sql(address, "app", password, "app", "INSERT INTO notes VALUES ('theirs')")
        yield {
            "redis": f"redis://:{password}@{host}:{redis_port}/0",
            "postgres": f"postgresql://app:{password}@{host}:{postgres_port}/app",
            "redis_port": redis_port,
            "postgres_port": postgres_port,
            "password": password,
            "host": host,
        }
    finally:
        for container in containers:
            container.remove(force=True)


@pytest.mark.timeout(150)  # two servers of its own, then a whole session on them
def test_roles_on_servers_that_run_already_leave_their_other_data_alone(
    pytestconfig, tmp_path, docker_client, existing_servers
):
    servers = existing_servers
    record = tmp_path / "record.json"
    completed = run_session(
        pytestconfig.rootpath,
        tmp_path,
        SESSION_TEST.format(record=str(record)),
        ORCHESTRATOR_BROKER=servers["redis"],
        ORCHESTRATOR_RESULTS=servers["redis"],
        ORCHESTRATOR_CHANNEL_LAYER=servers["redis"],
        ORCHESTRATOR_CACHE=servers["redis"],
        ORCHESTRATOR_DATABASE=servers["postgres"],
    )

    assert completed.returncode == 0, completed.stdout[-4000:]
    assert servers["password"] not in completed.stdout + completed.stderr
    seen = json.loads(record.read_text())
    # No server of the stack's own: only the worker, which reached them (by the host alias
    # when they listen on this machine).
    assert seen["containers"] == ["worker-main"]
    assert seen["database"] == ["test_stackyard", str(servers["postgres_port"])]
    assert seen["cache"] == seen["broker"] == f"{servers['host']}:{servers['redis_port']}/1"
    host, redis_port, password = servers["host"], servers["redis_port"], servers["password"]
    with Redis(host, redis_port, password=password, db=0) as theirs:
        assert theirs.keys() == [b"theirs"]
    with Redis(host, redis_port, password=password, db=1) as mine:
        assert mine.get("app:session:1") == b"db 1"  # same database as the slice: kept
        leftovers = {key.decode() for key in mine.scan_iter()} - {"app:session:1"}
    # The slice's results, cache and queues are gone; kombu's exchange bindings stay.
    assert leftovers, "the worker's broker was not this server"
    assert all(key.startswith("_kombu.binding") for key in leftovers), leftovers
    with psycopg.connect(servers["postgres"], connect_timeout=5) as connection:
        databases = [row[0] for row in connection.execute("SELECT datname FROM pg_database")]
        notes = [row[0] for row in connection.execute("SELECT body FROM notes")]
    assert "app" in databases
    assert "test_stackyard" not in databases  # pytest-django's own, dropped at the end
    assert notes == ["theirs"]
