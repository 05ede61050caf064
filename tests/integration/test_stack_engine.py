"""The engine against the real Docker engine: failures, cleanup, ports and credentials."""

import dataclasses
import re
import socket
import time

import amqp
import pytest

from orchestrator.engine import REMOTE_PUBLISH_ADDRESS, connect, engine_is_local
from orchestrator.errors import OrchestratorError, ServiceNotReady
from orchestrator.images import ImageBuilder
from orchestrator.plan import StackPlan, generate_credentials
from orchestrator.services import rabbitmq, redis
from orchestrator.services.base import Slice
from orchestrator.stack import Stack
from tests.integration.inner import labelled


@pytest.fixture(scope="module")
def client():
    client = connect()
    yield client
    client.close()


@pytest.fixture(scope="module")
def plan(client, orchestrator_config) -> StackPlan:
    images = ImageBuilder(client, orchestrator_config).ensure(["redis", "rabbitmq", "worker"])
    references = {name: report.reference for name, report in images.items()}
    return StackPlan(orchestrator_config, references, generate_credentials())


@pytest.fixture
def new_stack(client):
    stacks = []

    def make() -> Stack:
        stacks.append(Stack(client, log=lambda message: None))
        return stacks[-1]

    yield make
    for stack in stacks:
        stack.stop()


def redis_spec(plan: StackPlan):
    return plan.service_spec("redis")


def brokers(plan: StackPlan, slices=()):
    """Redis and RabbitMQ, whatever the roles of this run bind."""
    return [redis_spec(plan), plan.service_spec("rabbitmq", slices)]


def test_broken_command_fails_fast_with_status_and_logs_and_removes_everything(
    client, plan, new_stack
):
    stack = new_stack()
    broken = dataclasses.replace(
        redis_spec(plan), command=("redis-server", "--no-such-directive", "yes")
    )
    healthy = plan.service_spec("rabbitmq")

    started = time.monotonic()
    with pytest.raises(ServiceNotReady) as failure:
        stack.start([broken, healthy])
    elapsed = time.monotonic() - started

    message = str(failure.value)
    assert failure.value.service == "redis"
    assert "exited with code 1" in message
    assert "Redis AUTH + PING" in message
    assert "no-such-directive" in message  # redis-server's complaint, from the log tail
    assert "hint:" in message
    assert elapsed < broken.startup_timeout
    assert labelled(client, stack.id) == ([], [])


def test_service_that_never_gets_ready_times_out_within_its_bound(client, plan, new_stack):
    stack = new_stack()
    silent = dataclasses.replace(redis_spec(plan), command=("sleep", "300"), startup_timeout=1.5)

    started = time.monotonic()
    with pytest.raises(ServiceNotReady) as failure:
        stack.start([silent])
    elapsed = time.monotonic() - started

    message = str(failure.value)
    assert "not ready within 1.5s" in message
    assert "container running" in message
    # Docker's port proxy refuses, resets or cleanly closes when nothing listens inside.
    causes = "ConnectionRefusedError|ConnectionResetError|NotReadyYet: connection closed"
    assert re.search(f"last attempt: ({causes})", message)
    assert 1.5 <= elapsed < 1.5 + 10  # bounded: the timeout, plus removing the container
    assert labelled(client, stack.id) == ([], [])


def test_dependent_service_reports_the_failure_of_what_it_waits_for(client, plan, new_stack):
    stack = new_stack()
    broken = dataclasses.replace(redis_spec(plan), command=("redis-server", "--port", "not-a-port"))
    worker = dataclasses.replace(plan.worker_spec(), depends_on=("redis", "rabbitmq"))

    with pytest.raises(ServiceNotReady) as failure:
        stack.start([broken, plan.service_spec("rabbitmq"), worker])

    assert failure.value.service == "redis"
    assert labelled(client, stack.id) == ([], [])


def test_ports_are_loopback_only_on_a_local_engine_and_credentials_are_required(
    client, plan, new_stack
):
    """Loopback only, when the engine runs here; a remote engine's own machine is where
    this process reaches it, so every interface there (credentials guard them)."""
    stack = new_stack()
    stack.start(brokers(plan))
    creds = plan.credentials
    published_on = {"127.0.0.1"} if engine_is_local() else {REMOTE_PUBLISH_ADDRESS}

    for service in stack.services():
        ports = stack.container(service).attrs["NetworkSettings"]["Ports"]
        bindings = [binding for published in ports.values() for binding in published or []]
        assert bindings, service
        assert {binding["HostIp"] for binding in bindings} == published_on, service
        limits = stack.container(service).attrs["HostConfig"]
        assert limits["Memory"] == 2**30, service  # bounded: a leak cannot take the machine
        assert limits["PidsLimit"] == 1024, service

    with socket.create_connection(stack.locate(redis.NAME, redis.PORT), timeout=2) as conn:
        conn.sendall(b"PING\r\n")
        assert conn.recv(100).startswith(b"-NOAUTH")
    guest = amqp.Connection(
        "{}:{}".format(*stack.locate(rabbitmq.NAME, rabbitmq.PORT)),
        userid="guest",
        password="guest",
        connect_timeout=2,
    )
    with pytest.raises(amqp.exceptions.AccessRefused):
        guest.connect()
    guest.collect()
    assert creds["rabbitmq"]["user"] != "guest"
    # RabbitMQ's boot goes first when the containers compete for the cores.
    host_config = stack.container(rabbitmq.NAME).attrs["HostConfig"]
    assert host_config["CpuShares"] == rabbitmq.CPU_SHARES > 1024
    assert len(creds["redis"]["password"]) >= 24
    assert generate_credentials() != creds


@pytest.mark.parametrize("at_boot", [True, False], ids=["definitions", "rabbitmqctl"])
def test_slice_vhosts_are_made_at_boot_or_else_by_rabbitmqctl(plan, new_stack, at_boot):
    """docker/rabbitmq loads the vhosts as it boots; an image that ignores the definitions
    (here: not given them, like the official image) gets them from rabbitmqctl. A server
    the project runs itself (no container to run rabbitmqctl in) is told what it lacks."""
    slices = [Slice("a", 1), Slice("b", 2)]
    vhosts = ["stackyard-a", "stackyard-b"]
    stack = new_stack()
    stack.start([plan.service_spec("rabbitmq", slices if at_boot else ())])
    server = rabbitmq.SERVICE.server(plan.credentials["rabbitmq"], *stack.locate("rabbitmq", 5672))

    missing = rabbitmq.missing_vhosts(server, vhosts)

    assert missing == ([] if at_boot else vhosts)
    if missing:
        with pytest.raises(OrchestratorError, match=r"no vhost 'stackyard-a'.*rabbitmqctl"):
            rabbitmq.SERVICE.provision(server, slices, None)
    rabbitmq.SERVICE.provision(server, slices, stack.exec_in("rabbitmq"))
    assert rabbitmq.missing_vhosts(server, vhosts) == []
    assert rabbitmq.missing_vhosts(server, ["never-made"]) == ["never-made"]
