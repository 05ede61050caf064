"""ASGI entry point: HTTP through Django, WebSockets through Channels.

WebSocket connections must come from an allowed host's page (origin check)
and carry the Django session (auth middleware) before a route is picked.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings.base")
# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

from billing.routing import websocket_urlpatterns as billing_routes  # noqa: E402
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from chat.routing import websocket_urlpatterns as chat_routes  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter([*chat_routes, *billing_routes]))
        ),
    }
)
