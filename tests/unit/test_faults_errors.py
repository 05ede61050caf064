"""What stack_faults says when the engine refuses a fault, or there is nothing to fault."""

import threading
from types import SimpleNamespace

import pytest
from docker.errors import APIError

from orchestrator.errors import OrchestratorError
from orchestrator.faults import Faults
from orchestrator.services.base import Slice
from orchestrator.stack import Stack


class StoppedContainer:
    """A container the engine says is not running (killed by hand meanwhile)."""

    def kill(self):
        raise APIError("409 Client Error: Conflict", explanation="container x is not running")


def faults_on(services):
    stack = Stack.__new__(Stack)  # no engine: only the bookkeeping faults use
    stack._lock, stack._stops_expected, stack._cancel = threading.Lock(), set(), threading.Event()
    stack._specs = dict.fromkeys(services)
    stack._containers = {name: StoppedContainer() for name in services}
    attachment = SimpleNamespace(
        stack=stack, plan=SimpleNamespace(bindings={}, database_server=None)
    )
    return Faults(attachment, Slice("gw0", 1))


def test_a_refused_kill_is_one_line_naming_the_call():
    with pytest.raises(OrchestratorError) as error:
        faults_on(["redis"]).kill("redis")

    assert str(error.value) == (
        "stack_faults.kill('redis'): the engine refused: container x is not running"
    )


def test_killing_a_worker_that_was_never_started_says_which_fixture_starts_it():
    with pytest.raises(OrchestratorError, match=r"has no worker worker-gw0 yet.*stack_worker"):
        faults_on(["redis"]).kill_worker()
