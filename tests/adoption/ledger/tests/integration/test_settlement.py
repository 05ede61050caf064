"""The real path: the stack's broker, a worker container, the stack's Redis layer."""

import pytest
from channels.testing import WebsocketCommunicator

from config.asgi import application
from payments.models import Payment
from payments.tasks import settle_payment

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_worker_container_settles_on_the_routed_queue(stack_celery_app):
    payment = Payment.objects.create(reference="P-2", amount_cents=500000)

    result = settle_payment.delay(payment.id)

    assert result.get(timeout=30) == "5,000 settled"
    assert result.queue == "settlements"
    payment.refresh_from_db()
    # A stackyard worker node, not this process: an eager run records no hostname.
    assert payment.settled_by.startswith("worker-"), payment.settled_by
    assert payment.settled_by == result.worker


@pytest.mark.asyncio
async def test_a_socket_hears_what_the_worker_sends(stack_celery_app):
    from asgiref.sync import sync_to_async

    payment = await sync_to_async(Payment.objects.create)(reference="P-3", amount_cents=700)
    communicator = WebsocketCommunicator(
        application, f"/ws/payments/{payment.id}/", headers=[(b"origin", b"http://testserver")]
    )
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    assert await communicator.receive_json_from(timeout=5) == {"watching": True}

    settle_payment.delay(payment.id)

    message = await communicator.receive_json_from(timeout=30)
    assert message["summary"] == "7 settled"
    assert message["by"].startswith("worker-")
    await communicator.disconnect(timeout=5)


def test_a_new_worker_takes_over_after_the_old_one_is_killed(stack_celery_app, stack_faults):
    first = Payment.objects.create(reference="P-4", amount_cents=100)
    assert settle_payment.delay(first.id).get(timeout=30) == "1 settled"

    stack_faults.kill_worker()
    node = stack_faults.start_worker()

    second = Payment.objects.create(reference="P-5", amount_cents=200)
    result = settle_payment.delay(second.id)
    assert result.get(timeout=30) == "2 settled"
    assert result.worker == node
