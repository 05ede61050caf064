"""Billing tasks in eager mode: bodies, retry decisions, chain and chord."""

import smtplib
from unittest import mock

import pytest
from billing.models import BatchSummary, EmailLog, Invoice
from billing.tasks import (
    InvalidInvoice,
    email_invoices,
    process_invoice,
    send_invoice_email,
)
from celery.exceptions import Retry
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend

from fixtures.tasks import run_task_attempt

RESULT_TIMEOUT = 5
pytestmark = pytest.mark.django_db


def failing_sends(*errors: Exception) -> mock._patch:
    """Make the first sends fail with ``errors``, then deliver as usual."""
    real_send = EmailBackend.send_messages
    outcomes = iter(errors)

    def send_messages(backend: EmailBackend, messages: list) -> int:
        error = next(outcomes, None)
        if error is not None:
            raise error
        return real_send(backend, messages)

    return mock.patch.object(
        EmailBackend, "send_messages", autospec=True, side_effect=send_messages
    )


def test_send_invoice_email_marks_invoice_and_sends_one_email(celery_eager, make_invoice):
    invoice = make_invoice()

    result = send_invoice_email.delay(invoice.id)

    assert result.get(timeout=RESULT_TIMEOUT) == invoice.id
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.EMAILED
    assert invoice.emailed_at is not None
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [invoice.customer_email]
    assert mail.outbox[0].subject == f"Invoice {invoice.number}"
    assert EmailLog.objects.get(invoice=invoice).attempts == 1


def test_send_invoice_email_twice_sends_once(celery_eager, make_invoice):
    invoice = make_invoice()

    send_invoice_email.delay(invoice.id).get(timeout=RESULT_TIMEOUT)
    send_invoice_email.delay(invoice.id).get(timeout=RESULT_TIMEOUT)

    assert len(mail.outbox) == 1
    assert EmailLog.objects.filter(invoice=invoice).count() == 1


def test_transient_smtp_error_asks_for_retry_after_delay(settings, make_invoice):
    settings.BILLING_EMAIL_RETRY_DELAY = 30
    invoice = make_invoice()
    disconnected = smtplib.SMTPServerDisconnected("connection unexpectedly closed")

    with failing_sends(disconnected), pytest.raises(Retry) as retry:
        run_task_attempt(send_invoice_email, invoice.id)

    assert retry.value.when == 30
    assert retry.value.exc is disconnected
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.DRAFT
    assert invoice.emailed_at is None
    assert mail.outbox == []


def test_temporary_smtp_reply_is_transient_but_permanent_reply_is_not(make_invoice):
    invoice = make_invoice()
    busy = smtplib.SMTPResponseException(451, b"try again later")
    refused = smtplib.SMTPResponseException(550, b"no such mailbox")

    with failing_sends(busy), pytest.raises(Retry):
        run_task_attempt(send_invoice_email, invoice.id)
    with failing_sends(refused), pytest.raises(smtplib.SMTPResponseException) as error:
        run_task_attempt(send_invoice_email, invoice.id)

    assert error.value.smtp_code == 550


def test_last_attempt_gives_up_with_the_smtp_error(make_invoice):
    invoice = make_invoice()
    last = send_invoice_email.max_retries

    with (
        failing_sends(smtplib.SMTPServerDisconnected("gone")),
        pytest.raises(smtplib.SMTPServerDisconnected),
    ):
        run_task_attempt(send_invoice_email, invoice.id, retries=last + 1)


def test_eager_retry_with_propagation_surfaces_the_retry(celery_eager, make_invoice):
    # With task_eager_propagates, Celery hands the Retry to the caller instead
    # of replaying the task: eager tests of retrying tasks must expect it.
    invoice = make_invoice()

    with failing_sends(smtplib.SMTPServerDisconnected("blip")), pytest.raises(Retry):
        send_invoice_email.delay(invoice.id)


def test_eager_apply_replays_the_retry_and_sends_on_second_attempt(make_invoice):
    invoice = make_invoice()

    with failing_sends(smtplib.SMTPServerDisconnected("blip")) as send:
        result = send_invoice_email.apply(args=[invoice.id], throw=False)

    assert result.get(timeout=RESULT_TIMEOUT) == invoice.id
    assert send.call_count == 2
    assert EmailLog.objects.get(invoice=invoice).attempts == 2


def test_chain_validates_renders_and_sends_with_pdf(celery_eager, make_invoice):
    invoice = make_invoice()

    assert process_invoice(invoice.id).get(timeout=RESULT_TIMEOUT) == invoice.id

    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.EMAILED
    assert bytes(invoice.pdf).startswith(b"%PDF-1.4")
    ((name, content, mimetype),) = mail.outbox[0].attachments
    assert (name, mimetype) == (f"{invoice.number}.pdf", "application/pdf")
    assert content == bytes(invoice.pdf)


def test_chain_stops_at_an_invalid_invoice(celery_eager, make_invoice):
    invoice = make_invoice(amount="0.00")

    with pytest.raises(InvalidInvoice):
        process_invoice(invoice.id).get(timeout=RESULT_TIMEOUT)

    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.DRAFT
    assert invoice.pdf == b""
    assert mail.outbox == []


def test_chord_emails_every_invoice_then_records_summary(celery_eager, make_invoice):
    invoices = [make_invoice() for _ in range(3)]
    ids = [invoice.id for invoice in invoices]

    summary_id = email_invoices(ids).get(timeout=RESULT_TIMEOUT)

    summary = BatchSummary.objects.get(pk=summary_id)
    assert summary.sent_count == 3
    assert summary.invoice_ids == sorted(ids)
    assert sorted(message.to[0] for message in mail.outbox) == sorted(
        invoice.customer_email for invoice in invoices
    )
    assert set(Invoice.objects.values_list("status", flat=True)) == {Invoice.Status.EMAILED}


def test_a_payment_settles_once_however_often_it_runs(celery_eager, make_invoice):
    from billing.models import Payment
    from billing.tasks import settle_invoice

    invoice = make_invoice()

    settle_invoice.delay(invoice.id)
    first = Payment.objects.get(invoice=invoice).settled_at
    settle_invoice.delay(invoice.id)  # a redelivery, as after a worker was lost

    payment = Payment.objects.get(invoice=invoice)
    assert (payment.attempts, payment.settled_at) == (2, first)
    assert first is not None
