"""The browsers an account is logged in on: recorded as they are seen, listed, ended.

Rules:
- A logged-in request names its session in ``AccountSession`` at most every ``SEEN_EVERY``, so
  the list costs one write per session per few minutes, not one per request.
- Ending sessions deletes them from Django's session store (whatever the engine) and their rows;
  the session the person is using is kept when they end the others.
- Rows whose session no longer exists (logged out, expired) are left out of the list, and go
  when the account ends its sessions.
"""

import datetime
from importlib import import_module

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from telemed.accounts.models import AccountSession, User
from telemed.lib.clients import client_address, client_user_agent

SEEN_EVERY = datetime.timedelta(minutes=5)
_SEEN_KEY = "_telemed_seen_at"


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
def sessions_end(*, user: User, keep_session_key: str | None = None) -> int:
    """Log ``user`` out of every session but ``keep_session_key``; returns how many were ended."""
    store = _store()
    rows = AccountSession.objects.filter(user=user).exclude(session_key=keep_session_key or "")
    keys = list(rows.values_list("session_key", flat=True))
    for key in keys:
        store(session_key=key).delete()
    rows.delete()
    return len(keys)
