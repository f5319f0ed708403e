"""The browsers an account is logged in on: recorded as they are seen, listed, ended.

Rules:
- A logged-in request names its session in ``AccountSession`` at most every ``SEEN_EVERY``, so
  the list costs one write per session per few minutes, not one per request.
- Ending sessions deletes them from Django's session store (whatever the engine) and their rows;
  the session the person is using is kept when they end the others.
- Ending a session also closes the live sockets (WebSockets) opened with it: each consumer
  listens on the session's group (``session_group``) and closes when told the session ended.
- A session lasts at most ``SESSION_ABSOLUTE_AGE`` from its login, however active it is.
- Rows whose session no longer exists (logged out, expired) are left out of the list, and go
  when the account ends its sessions.
"""

import datetime
import hashlib
from importlib import import_module

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from telemed.accounts.models import AccountSession, User
from telemed.lib.clients import client_address, client_user_agent

SEEN_EVERY = datetime.timedelta(minutes=5)
_SEEN_KEY = "_telemed_seen_at"
_STARTED_KEY = "_telemed_started_at"


def session_group(session_key: str) -> str:
    """The channel-layer group of the sockets opened with a session (named by a hash: the key
    itself is a bearer secret and has no business in Redis)."""
    return "session-" + hashlib.sha256(session_key.encode()).hexdigest()[:40]


def _close_sockets(keys: list[str]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    for key in keys:
        async_to_sync(layer.group_send)(session_group(key), {"type": "session.ended"})


def session_close_sockets(*, session_key: str | None) -> None:
    """Close the live sockets of one session (at logout)."""
    if session_key:
        _close_sockets([session_key])


def session_too_old(request: HttpRequest) -> bool:
    """True when the session began more than ``SESSION_ABSOLUTE_AGE`` ago: a login does not
    last for ever just because it is used (the cookie's own age slides with each save)."""
    started = request.session.get(_STARTED_KEY)
    return started is not None and timezone.now().timestamp() - started > settings.SESSION_ABSOLUTE_AGE.total_seconds()


def _store():
    return import_module(settings.SESSION_ENGINE).SessionStore


def session_seen(*, request: HttpRequest) -> None:
    """Note that ``request.user`` is using this session now (cheap: mostly a look at the session)."""
    session = request.session
    now = timezone.now()
    seen = session.get(_SEEN_KEY)
    if seen is not None and session.session_key and now.timestamp() - seen < SEEN_EVERY.total_seconds():
        return
    if session.session_key is None:
        session.save()
    session[_SEEN_KEY] = now.timestamp()
    session.setdefault(_STARTED_KEY, now.timestamp())
    AccountSession.objects.update_or_create(
        session_key=session.session_key,
        defaults={
            "user": request.user,
            "last_seen_at": now,
            "ip_address": client_address(request.META),
            "user_agent": client_user_agent(request.META),
        },
    )


def sessions_of(user: User) -> list[AccountSession]:
    """The account's live sessions, most recent first (rows whose session is gone are left out)."""
    store = _store()
    return [row for row in AccountSession.objects.filter(user=user) if store().exists(row.session_key)]


@transaction.atomic
def sessions_end(*, user: User, keep_session_key: str | None = None, only_id: int | None = None) -> int:
    """Log ``user`` out of every session but ``keep_session_key`` (or only of the row ``only_id``,
    if it is theirs); returns how many were ended."""
    store = _store()
    rows = AccountSession.objects.filter(user=user).exclude(session_key=keep_session_key or "")
    if only_id is not None:
        rows = rows.filter(pk=only_id)
    keys = list(rows.values_list("session_key", flat=True))
    for key in keys:
        store(session_key=key).delete()
    rows.delete()
    transaction.on_commit(lambda: _close_sockets(keys))
    return len(keys)
