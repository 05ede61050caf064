"""Chat rooms and the messages posted in them."""

from django.conf import settings
from django.db import models

MAX_MESSAGE_LENGTH = 2000


class Room(models.Model):
    name = models.SlugField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name

    @property
    def group_name(self) -> str:
        return group_for_room(self.name)


class Message(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    body = models.TextField(max_length=MAX_MESSAGE_LENGTH)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def as_event(self) -> dict[str, object]:
        """The payload broadcast to a room's group and sent to its clients."""
        return {
            "id": self.id,
            "room": self.room.name,
            "author": self.author.get_username(),
            "body": self.body,
            "created_at": self.created_at.isoformat(),
        }


def group_for_room(name: str) -> str:
    """Channels group of a room (group names allow ASCII letters, digits, ``-_.``)."""
    return f"chat.{name}"
