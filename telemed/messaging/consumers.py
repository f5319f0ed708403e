"""One conversation, live: only its participants may join; every frame goes through the services."""

import time

from channels.db import database_sync_to_async
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from telemed.messaging import selectors, services
from telemed.messaging.models import MAX_CLIENT_KEY_LENGTH, MAX_MESSAGE_LENGTH
from telemed.notifications import presence
from telemed.notifications.consumers import JsonFramesConsumer, in_pool

# A frame is JSON; anything far bigger than the longest message is refused before parsing.
MAX_FRAME_CHARS = MAX_MESSAGE_LENGTH * 2 + 1000
# A page that reconnects gets everything it missed, up to this many messages; past that (a page
# left open offline through a long exchange) it is told to load the conversation again.
SYNC_LIMIT = 500


class ConversationConsumer(JsonFramesConsumer):
    max_frame_chars = MAX_FRAME_CHARS
    too_large_text = gettext_lazy("This message is too long.")

    async def connect(self):
        self.conversation = await self.scoped_object(selectors.conversation_get_for_user, "conversation_id")
        if self.conversation is None:
            return
        await self.join(services.group_name(self.conversation.pk))
        self.marked_online_at = None
        await self._stay_online()

    async def receive_json(self, content, **kwargs):
        kind = content.get("type")
        await self._stay_online()
        # A refused message's key goes back with the refusal, so that the page stops waiting for it.
        key = content.get("key") if kind == "send" else None
        about = {"key": key} if isinstance(key, str) and len(key) <= MAX_CLIENT_KEY_LENGTH else {}
        try:
            if kind == "send":
                text = content.get("text")
                if not isinstance(text, str):
                    raise ValidationError(_("Write something before sending."))
                if not isinstance(key, str | None):
                    raise ValidationError(_("Unknown request."))
                await in_pool(services.message_send)(
                    actor=self.user, conversation=self.conversation, text=text, client_key=key or ""
                )
            elif kind == "sync":
                # On every (re)connection the page asks for what it missed since it was drawn:
                # messages after its newest one and the others' read positions.
                after = content.get("after")
                if not isinstance(after, int) or isinstance(after, bool):
                    raise ValidationError(_("Unknown request."))
                missed, positions = await in_pool(self._missed)(after)
                for payload in missed[:SYNC_LIMIT]:
                    await self.send_json({"type": "message", **payload})
                if len(missed) > SYNC_LIMIT:
                    await self.send_json({"type": "stale"})
                for user_id, up_to in positions.items():
                    if user_id != self.user.pk:
                        await self.send_json({"type": "read", "user": user_id, "up_to": up_to})
            elif kind == "read":
                up_to = content.get("up_to")
                if not isinstance(up_to, int) or isinstance(up_to, bool):
                    raise ValidationError(_("Unknown request."))
                await in_pool(services.conversation_mark_read)(
                    actor=self.user, conversation=self.conversation, up_to_message_id=up_to
                )
            else:
                raise ValidationError(_("Unknown request."))
        except ValidationError as error:
            await self.send_error(" ".join(error.messages), **about)
        except PermissionDenied:
            await self.send_error(_("You cannot write in this conversation."), **about)

    async def _stay_online(self):
        """Someone with a conversation open is online, and looking at it: no e-mail, and no
        notification for what they see arrive here. The marks are renewed as they use the
        socket, at most every ONLINE_REFRESH_SECONDS."""
        now = time.monotonic()
        if self.marked_online_at is None or now - self.marked_online_at >= presence.ONLINE_REFRESH_SECONDS:
            await database_sync_to_async(presence.mark_viewing)(self.user.pk, self._place())
            self.marked_online_at = now

    def _place(self) -> str:
        return services.conversation_place(self.conversation.pk)

    async def disconnect(self, code):
        if getattr(self, "marked_online_at", None) is not None:
            await database_sync_to_async(presence.stop_viewing)(self.user.pk, self._place())
        await super().disconnect(code)

    def _missed(self, after: int) -> tuple[list[dict], dict[int, int]]:
        messages = selectors.messages_after(self.conversation, viewer=self.user, after_id=after, limit=SYNC_LIMIT + 1)
        return [services.message_payload(m) for m in messages], selectors.read_positions(self.conversation)

    async def message_new(self, event):
        await self.send_json({"type": "message", **event["message"]})

    async def message_read(self, event):
        await self.send_json({"type": "read", "user": event["user"], "up_to": event["up_to"]})
