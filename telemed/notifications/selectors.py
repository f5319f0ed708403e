"""Reads of notifications, always the asking user's own."""

from django.db.models import Count, QuerySet

from telemed.notifications import kinds
from telemed.notifications.models import EmailPreference, Notification


def notifications_for(user) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user)


def unread_count(user) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def email_wanted(user, kind: str) -> bool:
    return (user.pk, kind) in emails_wanted({(user.pk, kind)})


def emails_wanted(pairs: set[tuple[int, str]]) -> set[tuple[int, str]]:
    """Of these (user id, kind) pairs, those whose user wants an e-mail for that kind: their
    own choice where they made one, else the kind's default. One query for all."""
    if not pairs:
        return set()
    chosen = dict(
        ((user_id, kind), email)
        for user_id, kind, email in EmailPreference.objects.filter(
            user_id__in={user_id for user_id, _kind in pairs}, kind__in={kind for _user_id, kind in pairs}
        ).values_list("user_id", "kind", "email")
    )
    return {pair for pair in pairs if chosen.get(pair, kinds.get(pair[1]).email_by_default)}


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
    chosen = dict(EmailPreference.objects.filter(user=user).values_list("kind", "email"))
    return [
        {"code": kind.code, "label": kind.label, "email": chosen.get(kind.code, kind.email_by_default)}
        for kind in kinds.all_kinds()
    ]
