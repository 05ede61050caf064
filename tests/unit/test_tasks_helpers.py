"""Celery helpers of the fast layer, on a standalone Celery app (no Django)."""

import pytest
from celery import Celery
from celery.exceptions import Retry

from fixtures.tasks import eager_mode, load_celery_app, run_task_attempt


@pytest.fixture
def app() -> Celery:
    app = Celery("unit", set_as_current=False, broker="memory://", backend="cache+memory://")
    app.conf.task_always_eager = False
    return app


def test_eager_mode_switches_on_and_restores(app):
    with eager_mode(app):
        assert app.conf.task_always_eager is True
        assert app.conf.task_eager_propagates is True

    assert app.conf.task_always_eager is False
    assert app.conf.task_eager_propagates is False


def test_eager_mode_restores_after_an_error(app):
    with pytest.raises(RuntimeError), eager_mode(app):
        raise RuntimeError("test failed")

    assert app.conf.task_always_eager is False


def test_eager_mode_runs_tasks_in_process(app):
    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    with eager_mode(app):
        assert add.delay(2, 3).get(timeout=1) == 5


def test_run_task_attempt_returns_the_value_or_the_retry_decision(app):
    @app.task(bind=True, max_retries=2)
    def flaky(self, fail: bool) -> str:
        if fail:
            raise self.retry(exc=ConnectionError("down"), countdown=12)
        return f"attempt {self.request.retries}"

    assert run_task_attempt(flaky, False, retries=1) == "attempt 1"
    with pytest.raises(Retry) as retry:
        run_task_attempt(flaky, True)
    assert retry.value.when == 12
    with pytest.raises(ConnectionError):
        run_task_attempt(flaky, True, retries=3)


def test_load_celery_app_by_path_and_with_bad_values():
    loaded = load_celery_app("example_project.celery:app")
    assert loaded.main == "example_project"

    with pytest.raises(ValueError, match="not of the form"):
        load_celery_app("example_project.celery")
    with pytest.raises(ValueError, match="has no 'missing'"):
        load_celery_app("example_project.celery:missing")
