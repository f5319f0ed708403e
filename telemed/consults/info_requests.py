"""Info requests: the free administrative questions a patient asks a doctor's office. The doctor
or their secretary answers them, or rejects an improper one, and the patient is then told by
e-mail to ask a consult instead (``info_reformulation_link``)."""

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from telemed.accounts import selectors as accounts
from telemed.accounts.models import DoctorProfile, User
from telemed.billing import selectors as billing_selectors
from telemed.billing.models import ServiceKind
from telemed.consults import tasks
from telemed.consults.models import InfoRequest, InfoStatus
from telemed.consults.services import NOTIFY_INFO, clean_text, doctor_user, require_patient, submission_key
from telemed.notifications.services import notify


def _info_handlers(doctor: DoctorProfile) -> list[User]:
    """Who reads a doctor's Info inbox: their secretaries, or the doctor when they have none."""
    secretaries = [
        assignment.secretary.user
        for assignment in accounts.secretaries_of_doctor(doctor).select_related("secretary__user")
    ]
    return secretaries or [doctor_user(doctor)]


def info_offered(doctor: DoctorProfile) -> bool:
    tariff = billing_selectors.tariff_current_for(doctor, ServiceKind.INFO)
    return tariff is not None and tariff.offered


@transaction.atomic
def info_request_send(*, actor: User, doctor: DoctorProfile, text: str, idempotency_key) -> InfoRequest:
    """A patient's free administrative question to the doctor's office. The same form sent twice stores one."""
    require_patient(actor)
    key = submission_key(idempotency_key)
    existing = InfoRequest.objects.filter(idempotency_key=key).first()
    if existing is not None:
        if existing.patient_id != actor.pk:
            raise ValidationError(_("The form is out of date: reload the page and send it again."))
        return existing
    if not info_offered(doctor):
        raise ValidationError(_("%(doctor)s does not take Info requests.") % {"doctor": doctor})
    text = clean_text(text, field_name="text", required=True, limit=4000)
    try:
        with transaction.atomic():
            info = InfoRequest.objects.create(doctor=doctor, patient=actor, text=text, idempotency_key=key)
    except IntegrityError:
        return InfoRequest.objects.get(idempotency_key=key)  # the twin submission won the race
    for handler in _info_handlers(doctor):
        notify(
            recipient=handler, kind=NOTIFY_INFO, title=_("A new Info request"),
            url=reverse("consults:info_inbox") + f"?doctor={doctor.pk}",
        )  # fmt: skip
    return info


def _check_info_handler(actor: User, info: InfoRequest) -> None:
    """A secretary of the request's doctor, or the doctor; anyone else is refused."""
    if actor.is_doctor and info.doctor.user_id == actor.pk:
        return
    if actor.is_secretary and accounts.secretary_works_for(actor, info.doctor):
        return
    raise PermissionDenied


def _locked_open_info(actor: User, info: InfoRequest) -> InfoRequest:
    info = InfoRequest.objects.select_for_update().select_related("doctor__user", "patient").get(pk=info.pk)
    _check_info_handler(actor, info)
    if info.status != InfoStatus.OPEN:
        raise ValidationError(_("This Info request has already been handled."), code="handled")
    return info


@transaction.atomic
def info_request_answer(*, actor: User, info: InfoRequest, answer: str) -> InfoRequest:
    info = _locked_open_info(actor, info)
    info.answer = clean_text(answer, field_name="answer", required=False, limit=4000)
    if not info.answer:
        raise ValidationError({"answer": _("Write the answer.")})
    info.status, info.handled_by, info.handled_at = InfoStatus.ANSWERED, actor, timezone.now()
    info.save(update_fields=["answer", "status", "handled_by", "handled_at"])
    notify(
        recipient=info.patient,
        kind=NOTIFY_INFO,
        title=_("Your Info request was answered"),
        url=reverse("consults:mine"),
    )
    return info


@transaction.atomic
def info_request_reject(*, actor: User, info: InfoRequest) -> InfoRequest:
    """The question asks for clinical advice: refused as Info, and the patient is e-mailed a link
    that opens a consult request to the same doctor with the text already in it."""
    info = _locked_open_info(actor, info)
    info.status, info.handled_by, info.handled_at = InfoStatus.REJECTED, actor, timezone.now()
    info.save(update_fields=["status", "handled_by", "handled_at"])
    # The e-mail must not be lost: enqueued in the same transaction as the rejection.
    tasks.send_info_rejected.enqueue(info_id=info.pk)
    notify(
        recipient=info.patient,
        kind=NOTIFY_INFO,
        title=_("Your Info request needs to be a consult"),
        url=reverse("consults:mine"),
    )
    return info


def info_reformulation_link(info: InfoRequest) -> str:
    return settings.BASE_URL + reverse("consults:new", args=[info.doctor.slug]) + f"?info={info.pk}"
