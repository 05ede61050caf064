"""Django's runner, the parts that need no engine: slice names and a process that cannot
take its slice."""

import json

import pytest

from fixtures import django_runner
from fixtures.live_server import ContainerLiveServerTestCase, LiveServerError
from orchestrator.errors import OrchestratorError


@pytest.mark.parametrize(("database", "expected"), [("postgres", "2"), ("sqlite", "main_2")])
def test_a_parallel_process_takes_the_slice_whose_database_is_its_clone(database, expected):
    assert django_runner.clone_slice({"database": database}, 2) == expected  # type: ignore[arg-type]


def test_a_parallel_process_that_cannot_take_its_slice_fails_its_tests_saying_why(
    monkeypatch, tmp_path
):
    from django.test import runner

    def unreachable(*args, **kwargs):
        raise OrchestratorError("no Docker engine answers")

    monkeypatch.setattr(runner, "_init_worker", lambda counter, *args, **kwargs: None)
    monkeypatch.setattr(runner, "_worker_id", 2, raising=False)
    monkeypatch.setattr(django_runner, "open_run_stack", unreachable)
    monkeypatch.setattr(ContainerLiveServerTestCase, "_stackyard_problem", "")
    run = {"run_dir": str(tmp_path), "owner": "x", "root": "/nowhere", "slices": ["main"]}
    monkeypatch.setenv(django_runner.RUN_VARIABLE, json.dumps(run))
    monkeypatch.setattr(django_runner, "load_config", lambda root: {"database": "postgres"})
    monkeypatch.setattr(
        django_runner.multiprocessing, "current_process", lambda: type("P", (), {"_config": {}})
    )

    django_runner._init_worker(None)  # returns: raising would make the pool start another

    with pytest.raises(LiveServerError, match="process 2 could not take slice 2: no Docker"):
        ContainerLiveServerTestCase._require_stack()
