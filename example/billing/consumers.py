"""WebSocket consumer behind the billing dashboard's live status column."""

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from chat.consumers import UNAUTHENTICATED

from billing.models import group_for_invoice

MAX_WATCHED = 500


class InvoiceStatusConsumer(AsyncJsonWebsocketConsumer):
    """Clients send ``{"watch": [ids]}``; status events of those invoices are relayed to them."""

    async def connect(self) -> None:
        self.groups_joined: set[str] = set()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=UNAUTHENTICATED)
            return
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", ()):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        ids = content.get("watch") if isinstance(content, dict) else None
        if not isinstance(ids, list) or not all(type(item) is int for item in ids):
            await self.send_json({"error": 'send {"watch": [<invoice id>, ...]}'})
            return
        for invoice_id in ids[:MAX_WATCHED]:
            group = group_for_invoice(invoice_id)
            if group not in self.groups_joined:
                await self.channel_layer.group_add(group, self.channel_name)
                self.groups_joined.add(group)
        await self.send_json({"watching": sorted(ids[:MAX_WATCHED])})

    async def invoice_status(self, event: dict[str, Any]) -> None:
        await self.send_json({key: value for key, value in event.items() if key != "type"})
