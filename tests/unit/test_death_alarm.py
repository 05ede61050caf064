"""The death alarm's bookkeeping: who is interrupted, never blocking, each death reported once."""

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from fixtures.deaths import DeathAlarm
from orchestrator.deathwatch import Death

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class Slice:
    worker_name = "worker-gw0"

    def worker_id(self):
        return "c0ffee"


def alarm_with_signals_seen(monkeypatch):
    alarm = DeathAlarm(Slice(), after_interrupt=lambda: None)
    sent = []
    monkeypatch.setattr("fixtures.deaths.signal.getsignal", lambda signum: alarm._interrupt)
    monkeypatch.setattr("fixtures.deaths.signal.pthread_kill", lambda *args: sent.append(args))
    return alarm, sent


def test_a_server_death_interrupts_the_running_test_naming_container_code_time_and_test(
    monkeypatch,
):
    alarm, sent = alarm_with_signals_seen(monkeypatch)
    item = SimpleNamespace(nodeid="tests/test_x.py::test_pay", fixturenames=["stack"])

    with alarm.during(item):
        alarm._told(Death("rabbitmq", 137, WHEN))
        assert sent
        with pytest.raises(pytest.fail.Exception) as failure:
            alarm._interrupt(0, None)

    assert str(failure.value).startswith(
        "the container rabbitmq exited with code 137 at 03:04:05 UTC "
        "during tests/test_x.py::test_pay"
    )


def test_the_worker_death_does_not_interrupt_a_test_that_does_not_use_the_worker(monkeypatch):
    alarm, sent = alarm_with_signals_seen(monkeypatch)

    with alarm.during(SimpleNamespace(nodeid="t::browser_only", fixturenames=["stack"])):
        alarm._told(Death("worker-gw0", 137, WHEN, oom_killed=True))

    assert not sent
    assert alarm.unreported() == [
        "the container worker-gw0 exited with code 137 (OOM-killed) at 03:04:05 UTC "
        "during t::browser_only"
    ]
    assert alarm.unreported() == []  # listed once


def test_the_signal_handler_never_waits_for_the_lock(monkeypatch):
    alarm, _ = alarm_with_signals_seen(monkeypatch)
    item = SimpleNamespace(nodeid="t::x", fixturenames=["stack", "stack_worker"])
    with alarm.during(item):
        alarm._told(Death("worker-gw0", 137, WHEN))
        with alarm._lock:  # where the signal may land: the main thread holds the lock
            alarm._interrupt(0, None)  # returns at once instead of deadlocking

    assert alarm.dead_workers == set()  # not told: the next test that needs it says so
