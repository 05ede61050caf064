"""WebSockets through the project's real ASGI application: origin check, auth, URL routing."""

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from example_project.asgi import application

from tests.conftest import RECEIVE_TIMEOUT

ORIGIN = (b"origin", b"http://testserver")


@sync_to_async
def session_cookie_for(user) -> bytes:
    client = Client()
    client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}".encode()


async def test_logged_in_user_reaches_the_chat_consumer(async_db, user):
    cookie = await session_cookie_for(user)
    communicator = WebsocketCommunicator(
        application, "/ws/chat/lobby/", headers=[ORIGIN, (b"cookie", cookie)]
    )

    connected, _ = await communicator.connect(timeout=RECEIVE_TIMEOUT)
    await communicator.send_json_to({"message": "routed"})
    event = await communicator.receive_json_from(timeout=RECEIVE_TIMEOUT)

    assert connected
    assert (event["author"], event["body"]) == ("ada", "routed")
    await communicator.disconnect(timeout=RECEIVE_TIMEOUT)


async def test_anonymous_user_is_rejected(async_db):
    communicator = WebsocketCommunicator(application, "/ws/chat/lobby/", headers=[ORIGIN])

    connected, _ = await communicator.connect(timeout=RECEIVE_TIMEOUT)

    assert not connected


async def test_foreign_origin_is_rejected(async_db, user):
    cookie = await session_cookie_for(user)
    communicator = WebsocketCommunicator(
        application,
        "/ws/chat/lobby/",
        headers=[(b"origin", b"http://attacker.invalid"), (b"cookie", cookie)],
    )

    connected, _ = await communicator.connect(timeout=RECEIVE_TIMEOUT)

    assert not connected


async def test_unknown_path_has_no_route(async_db, user):
    cookie = await session_cookie_for(user)
    communicator = WebsocketCommunicator(
        application, "/ws/nowhere/", headers=[ORIGIN, (b"cookie", cookie)]
    )

    with pytest.raises(ValueError, match="No route found for path"):
        await communicator.connect(timeout=RECEIVE_TIMEOUT)
