"""The chat consumer driven directly with Channels' WebsocketCommunicator."""

from channels.testing import WebsocketCommunicator
from chat.consumers import UNAUTHENTICATED, ChatConsumer
from chat.models import Message
from django.contrib.auth.models import AnonymousUser

from tests.conftest import RECEIVE_TIMEOUT


def room_communicator(user, room="lobby") -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(ChatConsumer.as_asgi(), f"/ws/chat/{room}/")
    communicator.scope["user"] = user
    communicator.scope["url_route"] = {"args": (), "kwargs": {"room": room}}
    return communicator


async def test_message_is_saved_and_echoed_to_the_room(async_db, user):
    communicator = room_communicator(user)
    connected, _ = await communicator.connect(timeout=RECEIVE_TIMEOUT)
    assert connected

    await communicator.send_json_to({"message": "  hello room  "})
    event = await communicator.receive_json_from(timeout=RECEIVE_TIMEOUT)

    assert event["author"] == "ada"
    assert event["body"] == "hello room"
    assert event["room"] == "lobby"
    saved = await Message.objects.select_related("room").aget(pk=event["id"])
    assert (saved.room.name, saved.body) == ("lobby", "hello room")
    await communicator.disconnect(timeout=RECEIVE_TIMEOUT)


async def test_every_member_of_the_room_gets_the_message_and_other_rooms_do_not(async_db, user):
    sender, listener, elsewhere = (
        room_communicator(user),
        room_communicator(user),
        room_communicator(user, room="other"),
    )
    for communicator in (sender, listener, elsewhere):
        assert (await communicator.connect(timeout=RECEIVE_TIMEOUT))[0]

    await sender.send_json_to({"message": "ping"})

    assert (await listener.receive_json_from(timeout=RECEIVE_TIMEOUT))["body"] == "ping"
    assert (await sender.receive_json_from(timeout=RECEIVE_TIMEOUT))["body"] == "ping"
    assert await elsewhere.receive_nothing(timeout=0.1)
    for communicator in (sender, listener, elsewhere):
        await communicator.disconnect(timeout=RECEIVE_TIMEOUT)


async def test_after_disconnect_the_client_has_left_the_group(async_db, user, channel_layer):
    communicator = room_communicator(user)
    assert (await communicator.connect(timeout=RECEIVE_TIMEOUT))[0]
    await communicator.disconnect(timeout=RECEIVE_TIMEOUT)

    assert channel_layer.groups.get("chat.lobby", {}) == {}


async def test_anonymous_user_is_refused(async_db):
    communicator = room_communicator(AnonymousUser())

    connected, code = await communicator.connect(timeout=RECEIVE_TIMEOUT)

    assert (connected, code) == (False, UNAUTHENTICATED)


async def test_malformed_message_gets_an_error_and_saves_nothing(async_db, user):
    communicator = room_communicator(user)
    assert (await communicator.connect(timeout=RECEIVE_TIMEOUT))[0]

    await communicator.send_json_to({"text": "wrong key"})
    reply = await communicator.receive_json_from(timeout=RECEIVE_TIMEOUT)
    await communicator.send_json_to({"message": "x" * 2001})
    too_long = await communicator.receive_json_from(timeout=RECEIVE_TIMEOUT)

    assert "error" in reply
    assert "2000" in too_long["error"]
    assert await Message.objects.acount() == 0
    await communicator.disconnect(timeout=RECEIVE_TIMEOUT)
