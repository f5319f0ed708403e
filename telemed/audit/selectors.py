"""Reads of the audit trail, scoped to who asks."""

import hashlib
import json

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


# The columns that make an entry what it is, in the order the fingerprint reads them.
FINGERPRINT_COLUMNS = ("id", "at", "actor_id", "actor_label", "action", "target_type", "target_id", "target_label",
                       "patient_id", "ip_address", "user_agent")  # fmt: skip


def audit_fingerprint(*, using: str = "default") -> dict:
    """The whole trail of the database ``using`` in two figures: how many entries, and a SHA-256
    over all of them in order of id. Two copies of the trail with the same figures hold the same
    entries (a restored backup is checked against the figures taken of its snapshot)."""
    digest, count = hashlib.sha256(), 0
    for row in AuditEntry.objects.using(using).order_by("id").values_list(*FINGERPRINT_COLUMNS).iterator():
        digest.update(json.dumps([None if value is None else str(value) for value in row]).encode() + b"\n")
        count += 1
    return {"entries": count, "sha256": digest.hexdigest()}
