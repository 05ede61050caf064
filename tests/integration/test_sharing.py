"""One stack per run for all xdist workers, each worker isolated in its own slice."""

import json
import re

import pytest

from tests.integration.inner import run_inner, write_test

# Two classes, so that loadscope sends one to each worker; load and worksteal do as well.
SHARED_NAMES_TEST = """
import json, os, pathlib, time
import docker
import pytest
from asgiref.sync import async_to_sync
from kombu import Connection, Queue

BARRIER = pathlib.Path({barrier!r})
RECORDS = pathlib.Path({records!r})
WAIT = 60


def meet_the_other_worker(name):
    BARRIER.mkdir(exist_ok=True)
    (BARRIER / name).touch()
    deadline = time.monotonic() + WAIT
    while len(list(BARRIER.iterdir())) < 2:
        assert time.monotonic() < deadline, "the other worker never arrived"
        time.sleep(0.05)


def exchange(stack, redis_channel_layer):
    me = os.environ["PYTEST_XDIST_WORKER"]
    meet_the_other_worker(me)
    layer = redis_channel_layer
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)("shared-group", channel)
    with Connection(stack.endpoints.broker_url, connect_timeout=5) as connection:
        queue = Queue("shared-queue", channel=connection.default_channel)
        queue.declare()
        producer = connection.Producer()
        for number in range(5):
            producer.publish({{"from": me, "n": number}}, routing_key="shared-queue")
            async_to_sync(layer.group_send)("shared-group", {{"type": "note", "from": me}})
        time.sleep(0.5)  # both workers have published by now
        received = []
        while (message := queue.get(no_ack=True)) is not None:
            received.append(message.payload["from"])
    heard = []
    for _ in range(5):
        heard.append(async_to_sync(layer.receive)(channel)["from"])
    (RECORDS / me).write_text(json.dumps({{
        "worker": me, "stack": stack.stack_id, "mode": stack.mode,
        "broker": stack.container_ids()[stack.role("broker")],
        "namespace": stack.endpoints.broker_url.rpartition("/")[2],
        "services": sorted(
            c.labels["io.stackyard.service"] for c in docker.from_env().containers.list(
                filters={{"label": f"io.stackyard.stack={{stack.stack_id}}"}})),
        "received": received, "heard": heard,
    }}))


@pytest.mark.integration
class TestOne:
    def test_exchange(self, stack, redis_channel_layer):
        exchange(stack, redis_channel_layer)


@pytest.mark.integration
class TestTwo:
    def test_exchange(self, stack, redis_channel_layer):
        exchange(stack, redis_channel_layer)
"""


@pytest.mark.parametrize(
    ("dist", "broker"),
    [
        ("loadscope", "rabbitmq"),
        ("load", "rabbitmq"),
        ("worksteal", "rabbitmq"),
        ("loadscope", "redis"),
    ],
)
def test_two_workers_share_one_stack_and_see_only_their_own_messages(
    pytestconfig, tmp_path, dist, broker
):
    records = tmp_path / "records"
    records.mkdir()
    source = SHARED_NAMES_TEST.format(barrier=str(tmp_path / "barrier"), records=str(records))
    test_file = write_test(tmp_path, source)

    completed = run_inner(
        pytestconfig.rootpath,
        test_file,
        tmp_path / "state",
        "-n",
        "2",
        "--dist",
        dist,
        ORCHESTRATOR_BROKER=broker,
    )

    assert completed.returncode == 0, completed.stdout[-4000:]
    seen = [json.loads(path.read_text()) for path in sorted(records.iterdir())]
    assert sorted(record["worker"] for record in seen) == ["gw0", "gw1"]
    assert len({record["stack"] for record in seen}) == 1
    assert len({record["broker"] for record in seen}) == 1
    assert sorted(record["mode"] for record in seen) == ["attached", "started"]
    for record in seen:  # one set of servers for both workers, and only those the roles use
        assert record["services"].count("redis") == 1, record["services"]
        assert record["services"].count("rabbitmq") == (broker == "rabbitmq"), record["services"]
    # Each worker its own vhost (RabbitMQ) or database number (Redis).
    assert len({record["namespace"] for record in seen}) == 2
    for record in seen:
        assert record["received"] == [record["worker"]] * 5, record
        assert record["heard"] == [record["worker"]] * 5, record
    assert "stackyard summary" in completed.stdout
    assert re.search(rf"gw0 +{broker} .*s +(started|attached)", completed.stdout), completed.stdout
