"""WebSocket consumer of a chat room."""

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from chat.models import MAX_MESSAGE_LENGTH, Message, Room, group_for_room

# Close code for a refused (anonymous) connection; 4000-4999 are for applications.
UNAUTHENTICATED = 4401


class ChatConsumer(AsyncJsonWebsocketConsumer):
    """Joins the room's group, saves and broadcasts what clients post, relays group events."""

    group_name: str | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=UNAUTHENTICATED)
            return
        self.room_name = self.scope["url_route"]["kwargs"]["room"]
        self.group_name = group_for_room(self.room_name)
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group_name is not None:
            await self.channel_layer.group_discard(self.group_name, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        body = content.get("message") if isinstance(content, dict) else None
        if not isinstance(body, str) or not body.strip():
            await self.send_json({"error": 'send {"message": "<text>"}'})
            return
        if len(body) > MAX_MESSAGE_LENGTH:
            await self.send_json({"error": f"messages are at most {MAX_MESSAGE_LENGTH} characters"})
            return
        event = await self.save_message(body.strip())
        await self.channel_layer.group_send(self.group_name, {"type": "chat.message", **event})

    async def chat_message(self, event: dict[str, Any]) -> None:
        """Forward a message broadcast to the room's group to this client."""
        await self.send_json({key: value for key, value in event.items() if key != "type"})

    @database_sync_to_async
    def save_message(self, body: str) -> dict[str, object]:
        room, _ = Room.objects.get_or_create(name=self.room_name)
        message = Message.objects.create(room=room, author=self.scope["user"], body=body)
        return message.as_event()
