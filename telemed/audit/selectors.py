"""Reads of the audit trail, scoped to who asks."""

from django.db.models import QuerySet

from telemed.accounts.models import User
from telemed.audit.models import AuditEntry


def audit_entries_for_patient(user: User, *, others_only: bool = False) -> QuerySet[AuditEntry]:
    """'Who accessed my documents': the entries about this patient's data, newest first.

    Only a patient has such a page; anyone else gets nothing.
    """
    if not user.is_authenticated or not user.is_patient:
        return AuditEntry.objects.none()
    entries = AuditEntry.objects.filter(patient=user)
    if others_only:
        entries = entries.exclude(actor=user)
    return entries.select_related("actor")


def audit_recorded_since(*, actor: User, action: str, target, since) -> bool:
    """Whether ``actor`` did ``action`` on ``target`` at or after ``since``."""
    return audit_entries_for_target(target).filter(actor=actor, action=action, at__gte=since).exists()


def audit_entries_for_target(target) -> QuerySet[AuditEntry]:
    """Every entry about one object, for the staff back office and for the owning apps' own checks."""
    return AuditEntry.objects.filter(target_type=target._meta.label_lower, target_id=str(target.pk))
