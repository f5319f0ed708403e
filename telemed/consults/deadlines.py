"""What the scheduled tasks of a consult's deadline do (``tasks.py``, scheduled by
``services.consult_request``): remind the doctor before it, tell the patient once it has passed
(they may then cancel without paying), and expire a consult nobody took up. Each runs again
harmlessly: it looks at the consult's state first."""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from telemed.consults.models import OPEN_STATES, Consult, ConsultStatus
from telemed.consults.services import (
    EXPIRY_GRACE,
    NOTIFY_CONSULT,
    NOTIFY_DEADLINE,
    consult_transition,
    consult_url,
    doctor_user,
)
from telemed.notifications.services import notify
from telemed.outbox.services import message_claim


@transaction.atomic
def consult_remind_doctor(*, consult_id: int, key: str = "") -> bool:
    """Remind the doctor of a consult still open; once per ``key`` (the task run, telemed/outbox)."""
    consult = Consult.objects.select_related("doctor__user").filter(pk=consult_id, status__in=OPEN_STATES).first()
    if consult is None or (key and not message_claim(key=key)):
        return False
    notify(
        recipient=doctor_user(consult.doctor),
        kind=NOTIFY_DEADLINE,
        title=_("A consult is due soon"),
        url=consult_url(consult),
    )
    return True


@transaction.atomic
def consult_deadline_passed(*, consult_id: int) -> bool:
    """The deadline passed with no answer: the patient is told they may cancel without paying."""
    consult = (
        Consult.objects.select_for_update()
        .filter(pk=consult_id, status__in=OPEN_STATES, overdue_notified_at__isnull=True)
        .first()
    )
    if consult is None or consult.deadline > timezone.now():
        return False
    consult.overdue_notified_at = timezone.now()
    consult.save(update_fields=["overdue_notified_at"])
    notify(
        recipient=consult.patient, kind=NOTIFY_DEADLINE,
        title=_("Your consult is past its deadline: you may cancel it without paying"), url=consult_url(consult),
    )  # fmt: skip
    return True


@transaction.atomic
def consult_expire(*, consult_id: int) -> bool:
    """A consult the doctor never took up ends as expired a while after its deadline."""
    consult = Consult.objects.select_for_update().filter(pk=consult_id, status=ConsultStatus.REQUESTED).first()
    if consult is None or consult.deadline + EXPIRY_GRACE > timezone.now():
        return False
    consult_transition(consult, ConsultStatus.EXPIRED)
    consult.save(update_fields=["status", "ended_at"])
    notify(
        recipient=consult.patient,
        kind=NOTIFY_CONSULT,
        title=_("Your consult expired without an answer"),
        url=consult_url(consult),
    )
    return True
