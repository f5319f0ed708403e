"""Live notifications: every open page of a logged-in user listens on the user's own group.
Also the base of every app's consumer that takes frames from a page (JsonFramesConsumer)."""

import json

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, override

from telemed.accounts.sessions import session_group
from telemed.notifications import presence

# Close codes of every consumer; the pages stop reconnecting on them.
CLOSE_UNAUTHENTICATED, CLOSE_FORBIDDEN = 4401, 4403


class SessionBoundSockets:
    """Every socket listens on its session's group and closes (4401) when the session ends:
    logout, "log out everywhere", a password change or a second factor reset by staff."""

    async def dispatch(self, message):
        """As Channels' own, without its hop to a thread to close stale database connections
        before every frame and every group event (a tenth of the messaging path's CPU): these
        consumers touch the database only through database_sync_to_async, which closes them in
        its own thread, before and after the call."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def bind_to_session(self) -> None:
        session = self.scope.get("session")
        key = getattr(session, "session_key", None)
        if key:
            self.session_group = session_group(key)
            await self.channel_layer.group_add(self.session_group, self.channel_name)

    async def unbind_from_session(self) -> None:
        if hasattr(self, "session_group"):
            await self.channel_layer.group_discard(self.session_group, self.channel_name)

    async def session_ended(self, event):
        await self.close(code=CLOSE_UNAUTHENTICATED)


def in_pool(function):
    """Run a service in the thread pool, not in the one thread Channels shares by default:
    each call has its own transaction and database connection, so many sockets can write at
    once instead of queueing behind each other."""
    return database_sync_to_async(function, thread_sensitive=False)


class JsonFramesConsumer(SessionBoundSockets, AsyncJsonWebsocketConsumer):
    """A consumer whose frames must be JSON objects of bounded size. Anything else is answered
    with an error frame in the user's language, and the socket stays open: a page's bug or a
    hand-made frame never costs the user their live connection."""

    max_frame_chars = 10_000
    too_large_text = gettext_lazy("This frame is too large.")

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        # The size is checked before parsing, so a huge frame costs no JSON work.
        if text_data is None or len(text_data) > self.max_frame_chars:
            await self.send_error(self.too_large_text)
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            content = None
        if not isinstance(content, dict):
            await self.send_error(_("The frame is not valid JSON."))
            return
        await self.receive_json(content)

    async def scoped_object(self, lookup, url_kwarg: str):
        """What this socket is about, read for the logged-in user through a scoped selector,
        ``lookup(user, id)``, with the id from the URL. None, with the socket closed, for a
        visitor (4401) or when the selector refuses: not theirs, or a bad id (4403)."""
        if (user := await self.logged_in_user()) is None:
            return None
        try:
            found = await database_sync_to_async(lookup)(user, self.scope["url_route"]["kwargs"][url_kwarg])
        except Exception:  # noqa: BLE001 - not theirs (404) or a bad id: the door stays shut
            await self.close(code=CLOSE_FORBIDDEN)
            return None
        self.user = user
        return found

    async def join(self, group: str) -> None:
        """Listen on ``group`` and let the page in; disconnect() leaves it."""
        self.group = group
        await self.channel_layer.group_add(group, self.channel_name)
        await self.bind_to_session()
        await self.accept()

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)
        await self.unbind_from_session()

    async def logged_in_user(self):
        """The scope's user; None for a visitor, whose socket is then closed (4401)."""
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return None
        return user

    async def send_error(self, text, **about) -> None:
        """A refusal, in the user's language; ``about`` names what was refused (e.g. a message's key)."""
        user = self.scope.get("user")
        with override(getattr(user, "language", None) or "it"):
            await self.send_json({"type": "error", "error": str(text), **about})


class NotificationConsumer(SessionBoundSockets, AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user_id = user.pk
        self.group = presence.group_name(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.bind_to_session()
        await self.accept()
        await database_sync_to_async(presence.mark_online)(self.user_id)

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)
        await self.unbind_from_session()

    async def receive_json(self, content, **kwargs):
        # The page pings every 30 s: it keeps the presence mark (90 s) alive.
        if isinstance(content, dict) and content.get("type") == "ping":
            await database_sync_to_async(presence.mark_online)(self.user_id)
            await self.send_json({"type": "pong"})

    async def notification_created(self, event):
        await self.send_json(
            {
                "type": "notification",
                "id": event["id"],
                "title": event["title"],
                "url": event["url"],
                "unread": event["unread"],
            }
        )

    @classmethod
    async def decode_json(cls, text_data):
        import json

        try:
            return json.loads(text_data)
        except ValueError:
            return None  # a malformed frame is ignored; the connection stays
