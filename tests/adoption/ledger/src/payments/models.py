from django.db import models


class Payment(models.Model):
    reference = models.CharField(max_length=40, unique=True)
    amount_cents = models.PositiveIntegerField()
    settled = models.BooleanField(default=False)
    # The Celery node that settled it (the task request's hostname).
    settled_by = models.CharField(max_length=200, blank=True)


def group_for(payment_id: int) -> str:
    return f"payment-{payment_id}"
