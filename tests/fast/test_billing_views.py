"""The billing views: the call site that queues the email task, and the dashboard."""

from unittest import mock

import pytest
from billing.tasks import send_invoice_email
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_send_view_queues_the_task_once_after_commit(
    client, user, make_invoice, django_capture_on_commit_callbacks
):
    invoice = make_invoice()
    client.force_login(user)

    with mock.patch.object(send_invoice_email, "delay") as delay:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            response = client.post(reverse("billing:send", args=[invoice.id]))
            assert delay.call_count == 0, "queued before the transaction committed"
        for callback in callbacks:
            callback()

    assert response.status_code == 202
    assert response.json() == {"invoice": invoice.id, "queued": True}
    delay.assert_called_once_with(invoice.id)


def test_send_view_refuses_get_and_anonymous_users(client, user, make_invoice):
    invoice = make_invoice()
    url = reverse("billing:send", args=[invoice.id])

    with mock.patch.object(send_invoice_email, "delay") as delay:
        anonymous = client.post(url)
        client.force_login(user)
        wrong_method = client.get(url)
        missing = client.post(reverse("billing:send", args=[invoice.id + 1000]))

    assert anonymous.status_code == 302
    assert wrong_method.status_code == 405
    assert missing.status_code == 404
    delay.assert_not_called()


def test_dashboard_lists_invoices_with_status_cells(client, user, make_invoice):
    invoices = [make_invoice(), make_invoice()]
    client.force_login(user)

    response = client.get(reverse("billing:dashboard"))

    assert response.status_code == 200
    page = response.content.decode()
    for invoice in invoices:
        assert f'id="invoice-{invoice.id}-status">draft<' in page
        assert invoice.number in page
