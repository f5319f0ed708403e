"""Reads of notifications, always the asking user's own."""

from django.db.models import QuerySet

from telemed.notifications import kinds
from telemed.notifications.models import EmailPreference, Notification


def notifications_for(user) -> QuerySet[Notification]:
    return Notification.objects.filter(recipient=user)


def unread_count(user) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def email_wanted(user, kind: str) -> bool:
    preference = EmailPreference.objects.filter(user=user, kind=kind).values_list("email", flat=True).first()
    return kinds.get(kind).email_by_default if preference is None else preference


def email_preferences_of(user) -> list[dict]:
    chosen = dict(EmailPreference.objects.filter(user=user).values_list("kind", "email"))
    return [
        {"code": kind.code, "label": kind.label, "email": chosen.get(kind.code, kind.email_by_default)}
        for kind in kinds.all_kinds()
    ]
