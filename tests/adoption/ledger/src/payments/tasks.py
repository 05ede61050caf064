import humanize
from asgiref.sync import async_to_sync
from celery import shared_task
from channels.layers import get_channel_layer

from payments.models import Payment, group_for


@shared_task(bind=True)
def settle_payment(self, payment_id: int) -> str:
    payment = Payment.objects.get(pk=payment_id)
    payment.settled = True
    payment.settled_by = self.request.hostname or ""
    payment.save(update_fields=["settled", "settled_by"])
    summary = f"{humanize.intcomma(payment.amount_cents // 100)} settled"
    async_to_sync(get_channel_layer().group_send)(
        group_for(payment.id),
        {"type": "payment.settled", "summary": summary, "by": payment.settled_by},
    )
    return summary
