"""Invoices, the emails sent for them, their payments, and summaries of batch sends."""

from django.db import models


class Invoice(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft"
        READY = "ready"
        EMAILED = "emailed"

    number = models.CharField(max_length=32, unique=True)
    customer_email = models.EmailField()
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    pdf = models.BinaryField(blank=True, default=b"")
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.number

    def status_event(self) -> dict[str, object]:
        """The payload announced on the invoice's group when its status changes."""
        return {
            "invoice": self.id,
            "status": self.status,
            "emailed_at": self.emailed_at.isoformat() if self.emailed_at else None,
        }


class EmailLog(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="emails")
    recipient = models.EmailField()
    subject = models.CharField(max_length=200)
    attempts = models.PositiveSmallIntegerField()
    sent_at = models.DateTimeField(auto_now_add=True)


class Payment(models.Model):
    """An invoice's payment through the gateway: settled once, however often it is tried."""

    invoice = models.OneToOneField(Invoice, on_delete=models.CASCADE, related_name="payment")
    attempts = models.PositiveSmallIntegerField(default=0)
    settled_at = models.DateTimeField(null=True, blank=True)


class BatchSummary(models.Model):
    invoice_ids = models.JSONField()
    sent_count = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)


def group_for_invoice(invoice_id: int) -> str:
    """Channels group on which an invoice's status changes are announced."""
    return f"invoice.{invoice_id}"
