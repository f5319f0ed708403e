"""The account's security trail: every change of how an account logs in is recorded and e-mailed.

Rules:
- Every change of password, e-mail address, second factor or recovery codes, every use of a
  recovery code, a second factor locked by wrong codes and the end of other sessions is one
  ``SecurityEvent``, written in the same transaction as the change.
- Each event e-mails the account ("if this wasn't you…"); an e-mail change tells the old address
  too. The e-mail is a task enqueued in that same transaction, so no change goes untold.
- The e-mail says what changed, when and from which address; never a secret or a code.
"""

from django.db import transaction
from django.http import HttpRequest

from telemed.accounts import tasks
from telemed.accounts.models import SecurityEvent, SecurityEventKind, User
from telemed.lib.clients import client_address, client_user_agent


@transaction.atomic
def security_event_record(
    *,
    user: User,
    kind: SecurityEventKind,
    request: HttpRequest | None = None,
    actor: User | None = None,
    previous_email: str = "",
) -> SecurityEvent:
    """Record that ``kind`` happened to ``user``'s credentials and tell the account by e-mail."""
    meta = request.META if request is not None else None
    event = SecurityEvent.objects.create(
        user=user,
        kind=kind,
        actor=actor,
        ip_address=client_address(meta),
        user_agent=client_user_agent(meta),
        previous_email=previous_email,
    )
    tasks.send_security_notice.enqueue(event_id=event.pk)
    return event


def security_events_purge(*, before) -> int:
    """Delete the security events older than ``before`` (the retention rule, ``rights.retention``)."""
    deleted, _by_model = SecurityEvent.objects.filter(at__lt=before).delete()
    return deleted
