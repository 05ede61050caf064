"""What a run asks of its stack besides the servers, and a start that launches it while
it waits (no engine: the stack's readiness futures are made here)."""

import threading
from concurrent.futures import Future

import pytest

from orchestrator.demand import BROWSER, DATABASE, Demand, launch_order, worker_want
from orchestrator.stack import Stack


def test_wants_are_the_fixed_ones_and_those_any_process_adds(tmp_path):
    directory = tmp_path / "run" / "wants"
    (tmp_path / "run").mkdir()
    demand = Demand(directory, fixed=[BROWSER])
    assert demand.wanted() == {BROWSER}  # nobody asked yet: no directory

    Demand(directory).want_worker("gw1")  # another process of the run, same directory

    assert demand.wanted() == {BROWSER, worker_want("gw1")}
    assert directory.stat().st_mode & 0o777 == 0o700


def test_without_a_directory_only_the_fixed_wants_count():
    demand = Demand(fixed=["x"])
    demand.want_browser()
    assert demand.wanted() == {"x"}


def test_a_worker_brings_the_database_and_is_launched_after_it():
    assert launch_order([worker_want("gw1"), BROWSER, worker_want("gw0")]) == [
        DATABASE,
        BROWSER,
        worker_want("gw0"),
        worker_want("gw1"),
    ]
    assert launch_order([BROWSER]) == [BROWSER]  # no worker: no database


def ready_after(event: threading.Event, value: float = 1.0) -> Future:
    future: Future = Future()
    threading.Thread(target=lambda: (event.wait(5), future.set_result(value))).start()
    return future


def stack_waiting_on(futures: dict) -> Stack:
    stack = Stack(client=None, stack_id="test")  # type: ignore[arg-type]
    stack._ready.update(futures)
    return stack


def test_a_service_launched_while_the_start_waits_is_waited_for_too():
    servers_ready, late_ready = threading.Event(), threading.Event()
    stack = stack_waiting_on({"server": ready_after(servers_ready)})
    calls = []

    def between():
        calls.append(1)
        if len(calls) == 2:  # asked for while the server boots
            stack._ready["late"] = ready_after(late_ready, 2.0)
            servers_ready.set()
        if len(calls) == 6:
            late_ready.set()

    assert stack.wait_all(between=between) == {"server": 1.0, "late": 2.0}
    assert len(calls) >= 6


def test_a_failure_while_waiting_is_raised():
    failed: Future = Future()
    failed.set_exception(RuntimeError("rabbitmq exited"))
    stack = stack_waiting_on({"rabbitmq": failed})
    stack.stop = lambda: None  # no engine to remove anything from
    with pytest.raises(RuntimeError, match="rabbitmq exited"):
        stack.wait_all(between=lambda: None)


def test_a_service_added_to_a_running_stack_that_fails_is_removed_alone():
    """A worker or browser started on demand serves one process: its failure must not
    remove the servers the run's other processes use."""
    failed: Future = Future()
    failed.set_exception(RuntimeError("worker exited"))
    ready: Future = Future()
    ready.set_result(0.5)
    stack = stack_waiting_on({"redis": ready, "worker-gw0": failed})
    stack._specs.update({"redis": object(), "worker-gw0": object()})
    stack.stop = lambda: pytest.fail("the whole stack was removed")
    with pytest.raises(RuntimeError, match="worker exited"):
        stack.wait_added("worker-gw0")
    assert stack.services() == ["redis"]
