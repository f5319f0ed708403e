"""Live notifications: every open page of a logged-in user listens on the user's own group."""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from telemed.notifications import presence


class NotificationConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.user_id = user.pk
        self.group = presence.group_name(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await database_sync_to_async(presence.mark_online)(self.user_id)

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        # The page pings every 30 s: it keeps the presence mark (90 s) alive.
        if isinstance(content, dict) and content.get("type") == "ping":
            await database_sync_to_async(presence.mark_online)(self.user_id)
            await self.send_json({"type": "pong"})

    async def notification_created(self, event):
        await self.send_json(
            {"type": "notification", "id": event["id"], "title": event["title"], "url": event["url"], "unread": event["unread"]}
        )

    @classmethod
    async def decode_json(cls, text_data):
        import json

        try:
            return json.loads(text_data)
        except ValueError:
            return None  # a malformed frame is ignored; the connection stays
