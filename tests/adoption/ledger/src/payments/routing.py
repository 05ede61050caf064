from django.urls import path

from payments.consumers import PaymentConsumer

websocket_urlpatterns = [path("ws/payments/<int:pk>/", PaymentConsumer.as_asgi())]
