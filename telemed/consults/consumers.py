"""A consult's page, live: new messages in its thread and changes of its state reach the page
of the other party (and the sender's other tabs) without a reload. Read-only: messages are
written through the page's form, so they go through the same view and services as without
JavaScript. Only the consult's patient and doctor may listen."""

from channels.db import database_sync_to_async
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.utils.translation import override

from telemed.consults import selectors, services
from telemed.notifications.consumers import JsonFramesConsumer

# The only frame a page sends is a small "sync"; anything bigger is refused before parsing.
MAX_FRAME_CHARS = 200


class ConsultThreadConsumer(JsonFramesConsumer):
    max_frame_chars = MAX_FRAME_CHARS

    async def connect(self):
        self.consult = await self.scoped_object(selectors.consult_get_for_user, "consult_id")
        if self.consult is not None:
            await self.join(services.thread_group(self.consult.pk))

    async def receive_json(self, content, **kwargs):
        # On every (re)connection the page asks for what arrived since it was drawn.
        after = content.get("after") if content.get("type") == "sync" else None
        if not isinstance(after, int) or isinstance(after, bool):
            await self.send_error(_("Unknown request."))
            return
        for payload in await database_sync_to_async(self._rendered)(after=after):
            await self.send_json(payload)

    async def thread_message(self, event):
        for payload in await database_sync_to_async(self._rendered)(message_id=event["message_id"]):
            await self.send_json(payload)

    async def thread_changed(self, event):
        await self.send_json({"type": "changed", "status": event["status"]})

    def _rendered(self, *, after: int | None = None, message_id: int | None = None) -> list[dict]:
        """Messages as this listener's page draws them: in their language, with the attachment
        links that they may open."""
        if message_id is not None:
            messages = selectors.consult_messages(self.consult, viewer=self.user).filter(pk=message_id)
        else:
            messages = selectors.consult_messages_after(self.consult, viewer=self.user, after_id=after)
        with override(self.user.language or "it"):
            return [
                {
                    "type": "message",
                    "id": message.pk,
                    "html": render_to_string(
                        "consults/_message.html", {"m": message, "consult": self.consult, "user": self.user}
                    ),
                }
                for message in messages
            ]
