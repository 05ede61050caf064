"""The fast layer: eager Celery and the in-memory channel layer, no network."""

import pytest
from channels.testing import WebsocketCommunicator

from config.asgi import application
from payments.models import Payment, group_for
from payments.tasks import settle_payment


@pytest.mark.django_db
def test_settling_marks_the_payment(celery_eager):
    payment = Payment.objects.create(reference="P-1", amount_cents=123456)

    assert settle_payment.delay(payment.id).get(timeout=1) == "1,234 settled"

    payment.refresh_from_db()
    assert payment.settled


@pytest.mark.asyncio
async def test_the_page_socket_hears_its_payment(async_db, channel_layer):
    communicator = WebsocketCommunicator(
        application, "/ws/payments/7/", headers=[(b"origin", b"http://testserver")]
    )
    connected, _ = await communicator.connect(timeout=1)
    assert connected
    assert await communicator.receive_json_from(timeout=1) == {"watching": True}

    event = {"type": "payment.settled", "summary": "7 settled", "by": "me"}
    await channel_layer.group_send(group_for(7), event)

    assert await communicator.receive_json_from(timeout=1) == {"summary": "7 settled", "by": "me"}
    await communicator.disconnect(timeout=1)
