"""Tests in pytest-celery's style (``celery_setup``), running on the orchestrator's stack."""

import pytest
from billing.models import Invoice
from billing.tasks import render_invoice_pdf, send_invoice_email, validate_invoice
from celery import chain
from pytest_celery import RESULT_TIMEOUT, CeleryTestSetup

from fixtures.celery_setup import StackTestWorker

pytestmark = pytest.mark.django_db(transaction=True)


def test_setup_nodes_are_the_stacks_containers(celery_setup: CeleryTestSetup, stack, stack_worker):
    assert isinstance(celery_setup.worker, StackTestWorker)
    assert celery_setup.worker.hostname() == stack_worker
    assert celery_setup.broker.container.id == stack.stack.container("rabbitmq").id
    assert celery_setup.backend.container.id == stack.stack.container("redis").id
    assert celery_setup.broker.config()["host_url"] == stack.endpoints.broker_url
    assert celery_setup.backend.container.client.ping()
    replies = celery_setup.app.control.ping(destination=[celery_setup.worker.hostname()], timeout=5)
    assert replies == [{stack_worker: {"ok": "pong"}}]


def test_project_workflow_runs_on_the_setup_worker(celery_setup: CeleryTestSetup, make_invoice):
    invoice = make_invoice()
    workflow = chain(validate_invoice.s(invoice.id), render_invoice_pdf.s(), send_invoice_email.s())

    result = workflow.apply_async()

    assert result.get(timeout=RESULT_TIMEOUT) == invoice.id
    celery_setup.worker.assert_log_exists(f"Task {send_invoice_email.name}[{result.id}] succeeded")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.EMAILED
