"""notify(): the one entry point every app uses to tell a user that something happened."""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from telemed.notifications import kinds, presence, selectors, tasks
from telemed.notifications.models import EmailPreference, Notification
from telemed.notifications.realtime import push_on_commit


@dataclass(frozen=True)
class Tell:
    """One notification to make: who, of which kind, the title (never clinical: it may be
    e-mailed) and where it leads."""

    recipient: object
    kind: str
    title: str
    url: str = ""


def notify(*, recipient, kind: str, title: str, url: str = "") -> Notification:
    """Record a notification, push it live to the recipient's open pages, and e-mail them
    (only that something arrived, with a link) if they want e-mails of this kind.

    Runs inside the caller's transaction: the e-mail task is enqueued with it, and the live
    push happens only once the transaction has committed.
    """
    return notify_many([Tell(recipient=recipient, kind=kind, title=title, url=url)])[0]


def notify_many(tells: list[Tell]) -> list[Notification]:
    """``notify`` for many at once (a message to a group, a batch of reminders), at a fixed
    number of queries: one insert, one presence look-up in the cache, one read of e-mail
    preferences and one count of unread notifications, whatever the number; then one task
    per e-mail to send."""
    if not tells:
        return []
    notifications = Notification.objects.bulk_create(
        [Notification(recipient=t.recipient, kind=t.kind, title=t.title[:200], url=t.url[:500]) for t in tells]
    )
    recipient_ids = {t.recipient.pk for t in tells}
    # Someone looking at the platform gets the live notification; the e-mail task would find
    # them online and send nothing, so it is not even enqueued (the task checks again anyway).
    online = presence.online_among(recipient_ids)
    offline = [(t, n) for t, n in zip(tells, notifications) if t.recipient.pk not in online]
    wanted = selectors.emails_wanted({(t.recipient.pk, t.kind) for t, _n in offline})
    for tell, notification in offline:
        if (tell.recipient.pk, tell.kind) in wanted:
            tasks.send_notification_email.enqueue(notification_id=notification.pk)
    unread = selectors.unread_counts(recipient_ids)
    for notification in notifications:
        push_on_commit(
            presence.group_name(notification.recipient_id),
            {
                "type": "notification.created", "id": notification.pk, "title": notification.title,
                "url": notification.url, "unread": unread.get(notification.recipient_id, 0),
            },
        )  # fmt: skip
    return notifications


def notification_mark_read(*, actor, notification_ids: list[int] | None = None) -> int:
    """Mark the actor's notifications read (all of them when no ids are given)."""
    unread = Notification.objects.filter(recipient=actor, read_at__isnull=True)
    if notification_ids is not None:
        unread = unread.filter(pk__in=notification_ids)
    return unread.update(read_at=timezone.now())


def notification_mark_read_for_url(*, actor, url: str) -> int:
    """Seeing the thing a notification points to (a conversation, a consult) counts as reading it."""
    return Notification.objects.filter(recipient=actor, url=url, read_at__isnull=True).update(read_at=timezone.now())


@transaction.atomic
def email_preferences_set(*, actor, choices: dict[str, bool]) -> None:
    known = {kind.code for kind in kinds.all_kinds()}
    for kind, email in choices.items():
        if kind in known:
            EmailPreference.objects.update_or_create(user=actor, kind=kind, defaults={"email": bool(email)})
