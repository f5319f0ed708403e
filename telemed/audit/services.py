"""Writes of the audit trail: recording an access, and the retention purge.

Other apps (boxes, dicom, reports, consults…) call ``audit_record`` whenever a
clinical record is read or changed; it is the only way entries are created.
"""

import datetime

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db import models, transaction
from django.http import HttpRequest
from django.utils import timezone

from telemed.accounts.models import User
from telemed.audit import tasks
from telemed.audit.models import AuditAction, AuditEntry, AuditRetention
from telemed.lib.clients import client_address, client_user_agent
from telemed.lib.task_chains import chain_is_current, chain_next, chain_start, chain_state

# The law asks that access logs to health records be kept at least 24 months; a
# setting may lengthen that, never shorten it.
AUDIT_RETENTION_FLOOR_MONTHS = 24
RETENTION_INTERVAL = datetime.timedelta(days=1)


def audit_retention_months() -> int:
    return max(
        AUDIT_RETENTION_FLOOR_MONTHS, int(getattr(settings, "AUDIT_RETENTION_MONTHS", AUDIT_RETENTION_FLOOR_MONTHS))
    )


def _actor_label(actor: User | None) -> str:
    if actor is None:
        return "telemed"
    # The name only: the patient's page shows it, and a colleague's e-mail is not theirs to see.
    return (actor.get_full_name() or actor.email)[:300]


@transaction.atomic
def audit_record(
    *,
    actor: User | None,
    action: AuditAction | str,
    target: models.Model,
    patient: User | None,
    request: HttpRequest | None = None,
) -> AuditEntry:
    """Append one entry: ``actor`` did ``action`` on ``target``, whose data belongs to ``patient``.

    ``actor`` None means the platform itself (a background task); ``patient`` None
    means the record is not linked to a patient account (a doctor's own notes).
    """
    action = AuditAction(action)  # an unknown verb is a programming error, not user input
    meta = request.META if request is not None else None
    return AuditEntry.objects.create(
        actor=actor if actor is not None and actor.pk else None,
        actor_label=_actor_label(actor),
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        target_label=str(target)[:255],
        patient=patient,
        ip_address=client_address(meta),
        user_agent=client_user_agent(meta),
    )


def audit_retention_purge(*, now: datetime.datetime | None = None) -> int:
    """Delete the entries older than the retention period (never less than 24 months)."""
    cutoff = (now or timezone.now()) - relativedelta(months=audit_retention_months())
    # A bulk DELETE on the queryset (the row-level delete() refuses on purpose).
    deleted, _ = AuditEntry.objects.filter(at__lt=cutoff).delete()
    return deleted


@transaction.atomic
def audit_retention_schedule() -> bool:
    """Start the daily purge chain unless one is waiting; True when one was enqueued (idempotent)."""
    return chain_start(AuditRetention, tasks.audit_retention_purge_task)


@transaction.atomic
def audit_retention_run(*, task_id: str | None = None) -> int:
    """Run by the task: purge, then schedule tomorrow's purge in the same transaction. A task
    that is not the scheduled one (a run again of one that already scheduled its successor)
    does nothing, so that there is only ever one chain."""
    state = chain_state(AuditRetention)
    if not chain_is_current(state, task_id):
        return 0
    count = audit_retention_purge()
    state.last_purged_at = timezone.now()
    state.last_purged_count = count
    chain_next(state, tasks.audit_retention_purge_task, state.last_purged_at + RETENTION_INTERVAL)
    state.save()
    return count
