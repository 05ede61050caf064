from channels.generic.websocket import AsyncJsonWebsocketConsumer

from payments.models import group_for


class PaymentConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.group = group_for(int(self.scope["url_route"]["kwargs"]["pk"]))
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json({"watching": True})

    async def disconnect(self, code):
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def payment_settled(self, event):
        await self.send_json({"summary": event["summary"], "by": event["by"]})
