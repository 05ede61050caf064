from django.urls import re_path

from chat.consumers import ChatConsumer

websocket_urlpatterns = [
    re_path(r"^ws/chat/(?P<room>[-a-zA-Z0-9_]{1,64})/$", ChatConsumer.as_asgi()),
]
