"""Celery tasks of the billing app.

``send_invoice_email`` retries transient SMTP failures after a delay, is safe to
run twice (a redelivered message does not send a second email), and announces the
new status on the invoice's group.

``settle_invoice`` charges an invoice through the payment gateway, a call that
takes a while. A worker that dies during it must not lose the payment: the task is
acknowledged only once it has run (``acks_late``), and given back to the broker if
its worker is lost (``reject_on_worker_lost``), so another worker runs it again; it
settles the payment once, however often it runs. ``settle_invoice_acked_early`` is
the same work with Celery's defaults (the message is acknowledged as the worker
takes it), kept to show what those defaults lose. A database that cannot be reached
(restarted, failed over) is not a reason to give up either: the settling task tries
again later, waiting longer each time, up to ``BILLING_SETTLE_MAX_RETRIES`` times.
"""

import smtplib
import time
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from celery import chain, chord, shared_task
from celery.result import AsyncResult
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F
from django.utils import timezone

from billing.models import BatchSummary, EmailLog, Invoice, Payment, group_for_invoice
from billing.pdf import render_text_pdf


class InvalidInvoice(ValueError):
    """The invoice cannot be sent as it is; retrying will not help."""


def is_transient(error: Exception) -> bool:
    """Whether an SMTP failure is worth another try later."""
    if isinstance(error, smtplib.SMTPResponseException):
        return 400 <= error.smtp_code < 500  # 4xx replies are temporary by definition
    return isinstance(error, smtplib.SMTPServerDisconnected | ConnectionError | TimeoutError)


def announce_status(invoice: Invoice) -> None:
    """Tell everyone watching the invoice (the dashboard) about its current status."""
    layer = get_channel_layer()
    if layer is None:
        return
    event = {"type": "invoice.status", **invoice.status_event()}
    async_to_sync(layer.group_send)(group_for_invoice(invoice.id), event)


@shared_task
def validate_invoice(invoice_id: int) -> int:
    invoice = Invoice.objects.get(pk=invoice_id)
    if invoice.amount <= 0:
        raise InvalidInvoice(f"invoice {invoice.number} has a non-positive amount")
    if invoice.status == Invoice.Status.DRAFT:
        invoice.status = Invoice.Status.READY
        invoice.save(update_fields=["status"])
        announce_status(invoice)
    return invoice.id


@shared_task
def render_invoice_pdf(invoice_id: int) -> int:
    invoice = Invoice.objects.get(pk=invoice_id)
    invoice.pdf = render_text_pdf(
        [f"Invoice {invoice.number}", f"To: {invoice.customer_email}", f"Amount: {invoice.amount}"]
    )
    invoice.save(update_fields=["pdf"])
    return invoice.id


@shared_task(bind=True, max_retries=settings.BILLING_EMAIL_MAX_RETRIES)
def send_invoice_email(self, invoice_id: int) -> int:  # type: ignore[no-untyped-def]
    invoice = Invoice.objects.get(pk=invoice_id)
    if invoice.status == Invoice.Status.EMAILED:
        return invoice.id
    message = EmailMessage(
        subject=f"Invoice {invoice.number}",
        body=f"Please find invoice {invoice.number} for {invoice.amount} attached.",
        to=[invoice.customer_email],
    )
    if invoice.pdf:
        message.attach(f"{invoice.number}.pdf", bytes(invoice.pdf), "application/pdf")
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as error:
        if not is_transient(error):
            raise
        raise self.retry(exc=error, countdown=settings.BILLING_EMAIL_RETRY_DELAY) from error
    with transaction.atomic():
        invoice.status = Invoice.Status.EMAILED
        invoice.emailed_at = timezone.now()
        invoice.save(update_fields=["status", "emailed_at"])
        EmailLog.objects.create(
            invoice=invoice,
            recipient=invoice.customer_email,
            subject=message.subject,
            attempts=self.request.retries + 1,
        )
    announce_status(invoice)
    return invoice.id


def settle(invoice_id: int) -> int:
    """Charge the invoice through the gateway, once: each attempt is counted as it starts."""
    payment, _ = Payment.objects.get_or_create(invoice_id=invoice_id)
    Payment.objects.filter(pk=payment.pk).update(attempts=F("attempts") + 1)
    time.sleep(settings.BILLING_GATEWAY_DELAY)  # the gateway's round trip
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        if payment.settled_at is None:
            payment.settled_at = timezone.now()
            payment.save(update_fields=["settled_at"])
    return invoice_id


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    # Raised while the database is unreachable; a later try finds it back.
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=settings.BILLING_SETTLE_RETRY_MAX_DELAY,
    max_retries=settings.BILLING_SETTLE_MAX_RETRIES,
)
def settle_invoice(invoice_id: int) -> int:
    return settle(invoice_id)


@shared_task
def settle_invoice_acked_early(invoice_id: int) -> int:
    return settle(invoice_id)


@shared_task
def record_batch_summary(sent_ids: list[int]) -> int:
    summary = BatchSummary.objects.create(invoice_ids=sorted(sent_ids), sent_count=len(sent_ids))
    return summary.id


def process_invoice(invoice_id: int) -> AsyncResult:
    """Validate, render and email one invoice, each step a task fed by the previous one."""
    workflow = chain(validate_invoice.s(invoice_id), render_invoice_pdf.s(), send_invoice_email.s())
    return workflow.apply_async()


def email_invoices(invoice_ids: Iterable[int]) -> AsyncResult:
    """Email several invoices in parallel, then record one summary of what was sent."""
    header = [send_invoice_email.s(invoice_id) for invoice_id in invoice_ids]
    return chord(header)(record_batch_summary.s())
