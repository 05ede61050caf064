"""Tasks through RabbitMQ, executed by the worker container, results from Redis."""

import time

import pytest
from billing.models import BatchSummary, EmailLog, Invoice
from billing.tasks import email_invoices, process_invoice, render_invoice_pdf, send_invoice_email
from celery.backends.redis import RedisBackend
from django.conf import settings
from example_project.mail import FLAKY_DOMAIN

# Generous: a first task also waits for the worker's broker connection to warm up.
RESULT_TIMEOUT = 30
pytestmark = pytest.mark.django_db(transaction=True)


def test_round_trip_through_the_broker_and_the_worker_container(
    stack_celery_app, stack_worker, make_invoice
):
    invoice = make_invoice()

    result = send_invoice_email.delay(invoice.id)

    assert result.get(timeout=RESULT_TIMEOUT) == invoice.id
    assert isinstance(result.backend, RedisBackend)
    assert result.worker == stack_worker
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.EMAILED
    assert EmailLog.objects.get(invoice=invoice).attempts == 1


def test_retry_with_countdown_goes_back_through_the_broker(stack_celery_app, make_invoice):
    invoice = make_invoice(customer_email=f"billing@{FLAKY_DOMAIN}")
    countdown = 1  # BILLING_EMAIL_RETRY_DELAY of the worker's integration settings

    started = time.monotonic()
    result = send_invoice_email.delay(invoice.id)
    assert result.get(timeout=RESULT_TIMEOUT) == invoice.id
    elapsed = time.monotonic() - started

    log = EmailLog.objects.get(invoice=invoice)
    assert log.attempts == 2
    assert result.retries == 1
    assert elapsed >= countdown


def test_chain_runs_each_step_on_the_worker(stack_celery_app, make_invoice):
    invoice = make_invoice()

    assert process_invoice(invoice.id).get(timeout=RESULT_TIMEOUT) == invoice.id

    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.EMAILED
    assert bytes(invoice.pdf).startswith(b"%PDF-1.4")


def test_chord_collects_results_in_redis_then_records_summary(stack_celery_app, make_invoice):
    ids = [make_invoice().id for _ in range(4)]

    summary_id = email_invoices(ids).get(timeout=RESULT_TIMEOUT)

    summary = BatchSummary.objects.get(pk=summary_id)
    assert summary.invoice_ids == sorted(ids)
    assert summary.sent_count == 4
    assert EmailLog.objects.filter(invoice_id__in=ids).count() == 4


def test_pdf_task_is_routed_to_its_own_queue(stack_celery_app, make_invoice):
    invoice = make_invoice()
    assert settings.CELERY_TASK_ROUTES["billing.tasks.render_invoice_pdf"] == {"queue": "pdf"}

    result = render_invoice_pdf.delay(invoice.id)

    assert result.get(timeout=RESULT_TIMEOUT) == invoice.id
    assert result.queue == "pdf"
    assert send_invoice_email.delay(invoice.id).get(timeout=RESULT_TIMEOUT) == invoice.id
