"""notify(): the one entry point every app uses to tell a user that something happened."""

from django.db import transaction
from django.utils import timezone

from telemed.notifications import kinds, presence, selectors, tasks
from telemed.notifications.models import EmailPreference, Notification
from telemed.notifications.realtime import push_on_commit


def notify(*, recipient, kind: str, title: str, url: str = "") -> Notification:
    """Record a notification, push it live to the recipient's open pages, and e-mail them
    (only that something arrived, with a link) if they want e-mails of this kind.

    Runs inside the caller's transaction: the e-mail task is enqueued with it, and the live
    push happens only once the transaction has committed.
    """
    notification = Notification.objects.create(recipient=recipient, kind=kind, title=title[:200], url=url[:500])
    # Someone looking at the platform gets the live notification; the e-mail task would find
    # them online and send nothing, so it is not even enqueued (the task checks again anyway).
    if not presence.is_online(recipient.pk) and selectors.email_wanted(recipient, kind):
        tasks.send_notification_email.enqueue(notification_id=notification.pk)
    unread = Notification.objects.filter(recipient=recipient, read_at__isnull=True).count()
    push_on_commit(
        presence.group_name(recipient.pk),
        {"type": "notification.created", "id": notification.pk, "title": notification.title, "url": notification.url, "unread": unread},
    )
    return notification


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
