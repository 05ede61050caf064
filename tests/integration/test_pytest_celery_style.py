"""Tests in pytest-celery's style (``celery_setup``), running on the orchestrator's stack."""

import pytest
from billing import tasks as billing_tasks
from billing.models import Invoice
from billing.tasks import render_invoice_pdf, send_invoice_email, validate_invoice
from celery import chain
from celery.canvas import Signature
from celery.result import EagerResult
from pytest_celery import RESULT_TIMEOUT, CeleryTestSetup, identity, ping

from fixtures.celery_setup import StackTestWorker
from tests.integration import suite_tasks


def test_setup_nodes_are_the_stacks_containers(celery_setup: CeleryTestSetup, stack, stack_worker):
    assert isinstance(celery_setup.worker, StackTestWorker)
    assert celery_setup.worker.hostname() == stack_worker
    assert celery_setup.worker.container.id == stack.container(stack.worker_name).id
    assert celery_setup.broker.container.id == stack.container(stack.role("broker")).id
    assert celery_setup.backend.container.id == stack.container("redis").id
    assert celery_setup.broker.config()["host_url"] == stack.endpoints.broker_url
    assert celery_setup.backend.container.client.ping()
    replies = celery_setup.app.control.ping(destination=[celery_setup.worker.hostname()], timeout=5)
    assert replies == [{stack_worker: {"ok": "pong"}}]


def test_pytest_celerys_own_tasks_run_on_the_stacks_worker(
    celery_setup: CeleryTestSetup, stack_worker
):
    """Its examples' ping and identity, and its setup's own ping, without a database mark:
    answered by the stack's worker container, under the stack's node name."""
    assert celery_setup.ready(ping=True)  # sends CeleryTestSetup.ping to the worker's queue

    pong = ping.s().delay()
    echo = identity.s("from the stack").delay()

    assert pong.get(timeout=RESULT_TIMEOUT) == "pong"
    assert echo.get(timeout=RESULT_TIMEOUT) == "from the stack"
    assert not isinstance(pong, EagerResult)
    celery_setup.worker.assert_log_exists(f"Task {ping.name}[{pong.id}] succeeded")
    celery_setup.worker.assert_log_exists(f"Task {identity.name}[{echo.id}] succeeded")
    stats = celery_setup.app.control.inspect([stack_worker], timeout=5).stats()
    assert stats[stack_worker]["total"][identity.name] >= 1


@pytest.mark.django_db(transaction=True)
def test_project_workflow_runs_on_the_setup_worker(celery_setup: CeleryTestSetup, make_invoice):
    invoice = make_invoice()
    workflow = chain(validate_invoice.s(invoice.id), render_invoice_pdf.s(), send_invoice_email.s())

    result = workflow.apply_async()

    assert result.get(timeout=RESULT_TIMEOUT) == invoice.id
    celery_setup.worker.assert_log_exists(f"Task {send_invoice_email.name}[{result.id}] succeeded")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.EMAILED


class ProjectSetup(CeleryTestSetup):
    """A suite's own setup class, with a helper its tests share."""

    def run(self, signature: Signature) -> object:
        return signature.delay().get(timeout=RESULT_TIMEOUT)


class TestSuiteOverrides:
    """pytest-celery's overrides that act on the stack: the setup class, the worker's tasks."""

    @pytest.fixture
    def celery_setup_cls(self) -> type[CeleryTestSetup]:
        return ProjectSetup

    @pytest.fixture
    def default_worker_tasks(self, default_worker_tasks: set) -> set:
        return {*default_worker_tasks, billing_tasks}

    def test_setup_is_the_suites_class_on_the_stacks_nodes(
        self, celery_setup: CeleryTestSetup, stack_worker
    ):
        assert isinstance(celery_setup, ProjectSetup)
        assert celery_setup.worker.hostname() == stack_worker
        assert celery_setup.run(identity.s(7)) == 7


class TestTasksTheWorkerLacks:
    """A tasks module the project's app does not import: the stack's worker cannot have it."""

    @pytest.fixture
    def default_worker_tasks(self, default_worker_tasks: set) -> set:
        return {*default_worker_tasks, suite_tasks}

    def test_celery_setup_fails_naming_them_and_the_fix(self, request):
        with pytest.raises(pytest.fail.Exception) as failure:
            request.getfixturevalue("celery_setup")

        assert f"does not have: {suite_tasks.export_report.name}." in str(failure.value)
        assert "make the app import these tasks' modules" in str(failure.value)
