"""The page a person (or a Selenium browser) chats from."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from chat.models import Message

HISTORY_SIZE = 50


@login_required
def room(request: HttpRequest, room: str) -> HttpResponse:
    recent = Message.objects.filter(room__name=room).select_related("author", "room")
    history = [
        message.as_event() for message in recent.order_by("-created_at", "-id")[:HISTORY_SIZE]
    ]
    history.reverse()
    return render(request, "chat/room.html", {"room": room, "history": history})
