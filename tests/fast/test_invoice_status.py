"""Group messages sent from outside a consumer (a task, a script) reach connected clients."""

from asgiref.sync import sync_to_async
from billing.consumers import InvoiceStatusConsumer
from billing.models import Invoice, group_for_invoice
from billing.tasks import send_invoice_email
from channels.testing import WebsocketCommunicator

from tests.conftest import RECEIVE_TIMEOUT

RESULT_TIMEOUT = 5


async def watching(user, *invoice_ids: int) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(InvoiceStatusConsumer.as_asgi(), "/ws/billing/invoices/")
    communicator.scope["user"] = user
    assert (await communicator.connect(timeout=RECEIVE_TIMEOUT))[0]
    await communicator.send_json_to({"watch": list(invoice_ids)})
    assert await communicator.receive_json_from(timeout=RECEIVE_TIMEOUT) == {
        "watching": sorted(invoice_ids)
    }
    return communicator


async def test_group_send_from_outside_reaches_the_watcher_only(async_db, user, channel_layer):
    watcher = await watching(user, 7)
    bystander = await watching(user, 8)

    await channel_layer.group_send(
        group_for_invoice(7), {"type": "invoice.status", "invoice": 7, "status": "emailed"}
    )

    assert await watcher.receive_json_from(timeout=RECEIVE_TIMEOUT) == {
        "invoice": 7,
        "status": "emailed",
    }
    assert await bystander.receive_nothing(timeout=0.1)
    await watcher.disconnect(timeout=RECEIVE_TIMEOUT)
    await bystander.disconnect(timeout=RECEIVE_TIMEOUT)


async def test_email_task_announces_new_status_to_the_dashboard(async_db, user, celery_eager):
    invoice = await Invoice.objects.acreate(
        number="INV-LIVE", customer_email="live@example.com", amount="10.00"
    )
    watcher = await watching(user, invoice.id)

    # The task is sync code (as in a worker); run it in a thread like one.
    result = await sync_to_async(send_invoice_email.delay)(invoice.id)

    assert result.get(timeout=RESULT_TIMEOUT) == invoice.id
    event = await watcher.receive_json_from(timeout=RECEIVE_TIMEOUT)
    assert (event["invoice"], event["status"]) == (invoice.id, "emailed")
    assert event["emailed_at"] is not None
    await watcher.disconnect(timeout=RECEIVE_TIMEOUT)


async def test_malformed_watch_request_gets_an_error(async_db, user):
    communicator = WebsocketCommunicator(InvoiceStatusConsumer.as_asgi(), "/ws/billing/invoices/")
    communicator.scope["user"] = user
    assert (await communicator.connect(timeout=RECEIVE_TIMEOUT))[0]

    await communicator.send_json_to({"watch": ["7"]})

    assert "error" in await communicator.receive_json_from(timeout=RECEIVE_TIMEOUT)
    await communicator.disconnect(timeout=RECEIVE_TIMEOUT)
