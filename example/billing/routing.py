from django.urls import path

from billing.consumers import InvoiceStatusConsumer

websocket_urlpatterns = [
    path("ws/billing/invoices/", InvoiceStatusConsumer.as_asgi()),
]
