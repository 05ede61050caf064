"""WebSockets through the project's ASGI application with the Redis channel layer."""

import asyncio

from asgiref.sync import sync_to_async
from billing.models import group_for_invoice
from channels.testing import WebsocketCommunicator
from channels_redis.core import RedisChannelLayer
from django.conf import settings
from django.test import Client
from example_project.asgi import application

RECEIVE_TIMEOUT = 5
ORIGIN = (b"origin", b"http://testserver")


@sync_to_async
def session_headers(user) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    return [ORIGIN, (b"cookie", f"{name}={client.cookies[name].value}".encode())]


async def test_room_members_hear_each_other_through_redis(redis_channel_layer, async_db, user):
    assert isinstance(redis_channel_layer, RedisChannelLayer)
    headers = await session_headers(user)
    sender = WebsocketCommunicator(application, "/ws/chat/redis-room/", headers=headers)
    listener = WebsocketCommunicator(application, "/ws/chat/redis-room/", headers=headers)
    assert (await sender.connect(timeout=RECEIVE_TIMEOUT))[0]
    assert (await listener.connect(timeout=RECEIVE_TIMEOUT))[0]

    await sender.send_json_to({"message": "over redis"})

    event = await listener.receive_json_from(timeout=RECEIVE_TIMEOUT)
    assert (event["author"], event["body"]) == ("ada", "over redis")
    await sender.disconnect(timeout=RECEIVE_TIMEOUT)
    await listener.disconnect(timeout=RECEIVE_TIMEOUT)


async def test_a_listener_idle_past_the_layers_blocking_pop_still_hears_the_room(
    redis_channel_layer, async_db, user
):
    """channels-redis waits for messages with a 5 s blocking pop; with redis-py 8's default
    5 s socket timeout, a consumer idle that long died with "Timeout reading"."""
    headers = await session_headers(user)
    listener = WebsocketCommunicator(application, "/ws/chat/quiet-room/", headers=headers)
    sender = WebsocketCommunicator(application, "/ws/chat/quiet-room/", headers=headers)
    assert (await listener.connect(timeout=RECEIVE_TIMEOUT))[0]
    await asyncio.sleep(redis_channel_layer.brpop_timeout + 1)
    assert (await sender.connect(timeout=RECEIVE_TIMEOUT))[0]

    await sender.send_json_to({"message": "after a quiet spell"})

    event = await listener.receive_json_from(timeout=RECEIVE_TIMEOUT)
    assert event["body"] == "after a quiet spell"
    await sender.disconnect(timeout=RECEIVE_TIMEOUT)
    await listener.disconnect(timeout=RECEIVE_TIMEOUT)


async def test_group_send_from_another_layer_instance_reaches_the_client(
    redis_channel_layer, async_db, user, channel_layer_url
):
    headers = await session_headers(user)
    watcher = WebsocketCommunicator(application, "/ws/billing/invoices/", headers=headers)
    assert (await watcher.connect(timeout=RECEIVE_TIMEOUT))[0]
    await watcher.send_json_to({"watch": [41]})
    assert await watcher.receive_json_from(timeout=RECEIVE_TIMEOUT) == {"watching": [41]}
    # A separate layer object, as another process (the worker) would have.
    outsider = RedisChannelLayer(hosts=[channel_layer_url], prefix=redis_channel_layer.prefix)

    await outsider.group_send(
        group_for_invoice(41), {"type": "invoice.status", "invoice": 41, "status": "emailed"}
    )

    assert await watcher.receive_json_from(timeout=RECEIVE_TIMEOUT) == {
        "invoice": 41,
        "status": "emailed",
    }
    await watcher.disconnect(timeout=RECEIVE_TIMEOUT)
    await outsider.close_pools()


async def test_anonymous_user_is_rejected_with_the_redis_layer(redis_channel_layer, async_db):
    communicator = WebsocketCommunicator(application, "/ws/chat/redis-room/", headers=[ORIGIN])

    connected, _ = await communicator.connect(timeout=RECEIVE_TIMEOUT)

    assert not connected
