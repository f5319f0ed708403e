"""notify(): the one entry point every app uses to tell a user that something happened."""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from telemed.accounts.models import User
from telemed.lib.task_batches import enqueue_many
from telemed.notifications import kinds, presence, selectors, tasks, webpush
from telemed.notifications.models import EmailPreference, Notification, PushSubscription
from telemed.notifications.realtime import push_on_commit


@dataclass(frozen=True)
class Tell:
    """One notification to make: who, of which kind, the title (never clinical: it may be
    e-mailed) and where it leads."""

    recipient: User
    kind: str
    title: str
    url: str = ""


def notify(*, recipient, kind: str, title: str, url: str = "") -> Notification:
    """Record a notification, push it live to the recipient's open pages, and e-mail them and
    push to their devices (only that something arrived, with a link) if they want e-mails or
    pushes of this kind.

    Runs inside the caller's transaction: the e-mail and push tasks are enqueued with it, and
    the live push happens only once the transaction has committed.
    """
    return notify_many([Tell(recipient=recipient, kind=kind, title=title, url=url)])[0]


def notify_many(tells: list[Tell]) -> list[Notification]:
    """``notify`` for many at once (a message to a group, a batch of reminders), at a fixed
    number of queries: one insert, one presence look-up in the cache, one read of preferences,
    one look-up of devices opted in to pushes, one count of unread notifications and one insert
    of the e-mail tasks (one per ``tasks.EMAILS_PER_TASK`` e-mails, sent over one SMTP
    connection) and one of the push tasks (one per push to send), whatever the number. The
    live badge goes to those online only (the presence mark, renewed by every open page's
    ping, is what says a page may be listening)."""
    if not tells:
        return []
    notifications = Notification.objects.bulk_create(
        [Notification(recipient=t.recipient, kind=t.kind, title=t.title[:200], url=t.url[:500]) for t in tells]
    )
    recipient_ids = {t.recipient.pk for t in tells}
    # Someone looking at the platform gets the live notification; the e-mail and push tasks
    # would find them online and send nothing, so they are not even enqueued (the tasks check
    # again anyway).
    online = presence.online_among(recipient_ids)
    offline = [(t, n) for t, n in zip(tells, notifications, strict=True) if t.recipient.pk not in online]
    emails, pushes = selectors.deliveries_wanted({(t.recipient.pk, t.kind) for t, _n in offline})
    with_devices = selectors.users_with_push_devices({user_id for user_id, _kind in pushes})
    to_email = [n.pk for t, n in offline if (t.recipient.pk, t.kind) in emails]
    enqueue_many(
        tasks.send_notification_emails,
        [
            {"notification_ids": to_email[start : start + tasks.EMAILS_PER_TASK]}
            for start in range(0, len(to_email), tasks.EMAILS_PER_TASK)
        ],
    )
    enqueue_many(
        tasks.send_notification_push,
        [
            {"notification_id": n.pk}
            for t, n in offline
            if (t.recipient.pk, t.kind) in pushes and t.recipient.pk in with_devices
        ],
    )
    # The live badge only for those with a page open: the others' groups are empty, and a
    # burst of reminders would pay a round trip to the channel layer for each of them.
    unread = selectors.unread_counts(online)
    for notification in notifications:
        if notification.recipient_id not in online:
            continue
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
    """The e-mail choice of some kinds; their push choices stay as they were."""
    known = {kind.code for kind in kinds.all_kinds()}
    for kind, email in choices.items():
        if kind in known:
            EmailPreference.objects.update_or_create(user=actor, kind=kind, defaults={"email": bool(email)})


@transaction.atomic
def notification_preferences_set(*, actor, email: dict[str, bool], push: dict[str, bool]) -> None:
    """Both choices of every kind given; unknown kinds are ignored."""
    known = {kind.code for kind in kinds.all_kinds()}
    for kind in (set(email) | set(push)) & known:
        defaults = {}
        if kind in email:
            defaults["email"] = bool(email[kind])
        if kind in push:
            defaults["push"] = bool(push[kind])
        EmailPreference.objects.update_or_create(user=actor, kind=kind, defaults=defaults)


# The longest endpoint seen from the big push services is ~ 500 characters; the column has room.
_ENDPOINT_MAX = 1000


@transaction.atomic
def push_subscription_save(*, actor, endpoint: str, p256dh: str, auth: str, label: str = "") -> PushSubscription:
    """This device of ``actor`` receives pushes from now on. A browser has one endpoint: if it
    was another user's (they shared the device), it is the actor's now."""
    if not actor.is_authenticated or not actor.is_active:
        raise ValidationError(_("Log in to receive notifications on this device."))
    if not isinstance(endpoint, str) or len(endpoint) > _ENDPOINT_MAX or not webpush.endpoint_allowed(endpoint):
        raise ValidationError(_("This browser's push service is not supported."))
    if not isinstance(p256dh, str) or not isinstance(auth, str) or not webpush.keys_valid(p256dh=p256dh, auth=auth):
        raise ValidationError(_("The browser sent an invalid subscription."))
    subscription, _created = PushSubscription.objects.update_or_create(
        endpoint=endpoint, defaults={"user": actor, "p256dh": p256dh, "auth": auth, "label": label[:120]}
    )
    return subscription


def push_subscription_delete(*, actor, endpoint: str | None = None, subscription_id: int | None = None) -> int:
    """Stop pushes to one of the actor's devices (by its endpoint, or by its id from the
    preferences page); another user's device is never touched. Returns how many were removed."""
    mine = PushSubscription.objects.filter(user=actor)
    if endpoint is not None:
        return mine.filter(endpoint=endpoint).delete()[0]
    if subscription_id is not None:
        return mine.filter(pk=subscription_id).delete()[0]
    return 0


@transaction.atomic
def notifications_erase_of(*, user: User) -> int:
    """Delete the account's notifications, preferences and push devices (it is being erased)."""
    erased, _by_model = Notification.objects.filter(recipient=user).delete()
    EmailPreference.objects.filter(user=user).delete()
    PushSubscription.objects.filter(user=user).delete()
    return erased


def notifications_purge(*, before) -> int:
    """Delete the notifications made before ``before`` (the retention rule, ``rights.retention``)."""
    deleted, _by_model = Notification.objects.filter(created_at__lt=before).delete()
    return deleted
