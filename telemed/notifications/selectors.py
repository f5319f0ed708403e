"""Reads of notifications, always the asking user's own."""

from django.db.models import Count, QuerySet

from telemed.notifications import kinds
from telemed.notifications.models import EmailPreference, Notification, PushSubscription


def notifications_for(user) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user)


def unread_count(user) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def email_wanted(user, kind: str) -> bool:
    return (user.pk, kind) in emails_wanted({(user.pk, kind)})


def emails_wanted(pairs: set[tuple[int, str]]) -> set[tuple[int, str]]:
    """Of these (user id, kind) pairs, those whose user wants an e-mail for that kind: their
    own choice where they made one, else the kind's default. One query for all."""
    return deliveries_wanted(pairs)[0]


def deliveries_wanted(pairs: set[tuple[int, str]]) -> tuple[set[tuple[int, str]], set[tuple[int, str]]]:
    """Of these (user id, kind) pairs, (those wanting an e-mail, those wanting a push): each
    user's own choice where they made one, else the kind's default. One query for all; whether
    the user has a device to push to is another question (``users_with_push_devices``)."""
    if not pairs:
        return set(), set()
    chosen = {
        (user_id, kind): (email, push)
        for user_id, kind, email, push in EmailPreference.objects.filter(
            user_id__in={user_id for user_id, _kind in pairs}, kind__in={kind for _user_id, kind in pairs}
        ).values_list("user_id", "kind", "email", "push")
    }
    emails, pushes = set(), set()
    for pair in pairs:
        kind = kinds.get(pair[1])
        email, push = chosen.get(pair, (kind.email_by_default, None))
        if email:
            emails.add(pair)
        if kind.push_by_default if push is None else push:
            pushes.add(pair)
    return emails, pushes


def users_with_push_devices(user_ids) -> set[int]:
    """Of these users, those with at least one device opted in to pushes. One query."""
    if not user_ids:
        return set()
    return set(PushSubscription.objects.filter(user_id__in=user_ids).values_list("user_id", flat=True).distinct())


def push_devices_of(user) -> QuerySet[PushSubscription]:
    return PushSubscription.objects.filter(user=user).order_by("created_at", "pk")


def unread_counts(user_ids) -> dict[int, int]:
    """Each user's number of unread notifications, in one query (a user with none is absent)."""
    rows = (
        Notification.objects.filter(recipient_id__in=user_ids, read_at__isnull=True)
        .order_by()
        .values("recipient_id")
        .annotate(unread=Count("pk"))
        .values_list("recipient_id", "unread")
    )
    return dict(rows)


def email_preferences_of(user) -> list[dict]:
    """Each kind with the user's choices (or the kind's defaults): e-mail and push."""
    chosen = {
        kind: (email, push)
        for kind, email, push in EmailPreference.objects.filter(user=user).values_list("kind", "email", "push")
    }
    rows = []
    for kind in kinds.all_kinds():
        email, push = chosen.get(kind.code, (kind.email_by_default, None))
        rows.append(
            {
                "code": kind.code,
                "label": kind.label,
                "email": email,
                "push": kind.push_by_default if push is None else push,
            }
        )
    return rows
