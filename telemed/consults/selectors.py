"""Reads of consults and Info requests, already scoped to what the asking user may see.

A consult is readable by its patient and its doctor; an Info request by its patient, its
doctor and the doctor's secretaries; staff see the overdue list. Anything else is a 404.
"""

from django.db.models import Case, IntegerField, Prefetch, Q, QuerySet, Value, When
from django.http import Http404
from django.utils import timezone

from telemed.accounts import selectors as accounts
from telemed.accounts.models import DoctorProfile, User
from telemed.billing import charges
from telemed.boxes.selectors import document_get_for_user, documents_hidden_from_doctors
from telemed.consults.models import OPEN_STATES, Consult, ConsultAttachment, ConsultStatus, InfoRequest, InfoStatus
from telemed.dicom.selectors import studies_hidden_from_doctors


def _id(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404 from None


def _visible(user: User) -> QuerySet[Consult]:
    if not user.is_authenticated:
        return Consult.objects.none()
    query = Q(patient=user)
    if user.is_doctor:
        query |= Q(doctor__user=user)
    return Consult.objects.filter(query).select_related("doctor__user", "patient", "report")


def consult_list_for_user(user: User) -> QuerySet[Consult]:
    """The patient's own consults, newest first."""
    return _visible(user).filter(patient=user).order_by("-accepted_at")


def consult_get_for_user(user: User, consult_id) -> Consult:
    consult = _visible(user).filter(pk=_id(consult_id)).first()
    if consult is None:
        raise Http404
    return consult


def consult_queue_for_doctor(user: User, *, include_closed: bool = False) -> QuerySet[Consult]:
    """The doctor's work: open consults by deadline, priority ones first."""
    if not user.is_authenticated or not user.is_doctor:
        return Consult.objects.none()
    consults = _visible(user).filter(doctor__user=user)
    if not include_closed:
        consults = consults.filter(status__in=OPEN_STATES)
    priority_first = Case(When(service_kind="priority", then=Value(0)), default=Value(1), output_field=IntegerField())
    return consults.annotate(priority_rank=priority_first).order_by("priority_rank", "deadline", "pk")


def consults_by_deadline_for_doctor(user: User) -> QuerySet[Consult]:
    """The doctor's open consults, the earliest deadline first: the overdue ones come first."""
    return consult_queue_for_doctor(user).order_by("deadline", "pk")


def consults_recent_for_doctor(user: User, limit: int = 20) -> QuerySet[Consult]:
    if not user.is_authenticated or not user.is_doctor:
        return Consult.objects.none()
    return _visible(user).filter(doctor__user=user).exclude(status__in=OPEN_STATES).order_by("-accepted_at")[:limit]


def consults_overdue(user: User) -> QuerySet[Consult]:
    """For staff: every consult still owed an answer past its deadline, the oldest first."""
    if not user.is_authenticated or not user.is_staff:
        return Consult.objects.none()
    return (
        Consult.objects.filter(status__in=OPEN_STATES, deadline__lte=timezone.now())
        .select_related("doctor__user", "patient")
        .order_by("deadline")
    )


def _attachments_seen_by(
    viewer: User, consult: Consult, attachments: QuerySet[ConsultAttachment]
) -> QuerySet[ConsultAttachment]:
    """Leave out, for anyone but the patient, the documents the patient hid from doctors (oscuramento)."""
    if viewer.pk == consult.patient_id:
        return attachments
    return attachments.exclude(document__in=documents_hidden_from_doctors())


def consult_messages(consult: Consult, *, viewer: User):
    """The thread as ``viewer`` sees it: a document the patient hid from doctors is not listed to the doctor."""
    attachments = _attachments_seen_by(viewer, consult, ConsultAttachment.objects.all())
    return consult.messages.select_related("sender").prefetch_related(Prefetch("attachments", queryset=attachments))


def consult_messages_after(consult: Consult, *, viewer: User, after_id: int) -> QuerySet:
    """What an open page has not drawn yet: the messages after its newest one, oldest first."""
    return consult_messages(consult, viewer=viewer).filter(pk__gt=after_id).order_by("pk")


def consult_request_attachments(consult: Consult, *, viewer: User) -> QuerySet[ConsultAttachment]:
    """What went with the request itself (not with a later message), as ``viewer`` sees it."""
    return _attachments_seen_by(viewer, consult, consult.attachments.filter(message__isnull=True))


def consult_studies(consult: Consult, *, viewer: User) -> list:
    """The radiology studies that went with the consult, but for the doctor those the patient hid."""
    links = consult.studies.select_related("study")
    if viewer.pk != consult.patient_id:
        links = links.exclude(study__in=studies_hidden_from_doctors())
    return [link.study for link in links]


def attachment_for_user(user: User, consult: Consult, attachment_id):
    """The document behind an attachment the user may open: the sender's own, or the patient's
    delivered copy (a doctor's attachment), or a patient's attachment shared with the doctor."""
    attachment = consult.attachments.filter(pk=_id(attachment_id)).select_related("document", "delivered_copy").first()
    if attachment is None:
        raise Http404
    if user.pk == consult.patient_id:
        document = attachment.delivered_copy if attachment.added_by_id != user.pk else attachment.document
    else:
        document = attachment.document
    if document is None:
        raise Http404  # deleted from its box since
    return document_get_for_user(user, document.pk)  # still readable? (a revoked share is a 404)


# --- Info requests --------------------------------------------------------------------------------


def info_doctors_for(user: User) -> QuerySet[DoctorProfile]:
    """The doctors whose Info inbox the user handles: a secretary's doctors, or a doctor themself."""
    if not user.is_authenticated:
        return DoctorProfile.objects.none()
    if user.is_secretary:
        return accounts.doctors_of_secretary(user).select_related("user")
    if user.is_doctor:
        return DoctorProfile.objects.filter(user=user).select_related("user")
    return DoctorProfile.objects.none()


def info_inbox(user: User, doctor: DoctorProfile, *, status: str = InfoStatus.OPEN) -> QuerySet[InfoRequest]:
    if not info_doctors_for(user).filter(pk=doctor.pk).exists():
        raise Http404
    return (
        InfoRequest.objects.filter(doctor=doctor, status=status)
        .select_related("patient", "handled_by")
        .order_by("created_at")
    )


def info_get_for_handler(user: User, info_id) -> InfoRequest:
    info = (
        InfoRequest.objects.filter(pk=_id(info_id), doctor__in=info_doctors_for(user))
        .select_related("doctor__user", "patient")
        .first()
    )
    if info is None:
        raise Http404
    return info


def info_list_for_patient(user: User) -> QuerySet[InfoRequest]:
    if not user.is_authenticated:
        return InfoRequest.objects.none()
    return InfoRequest.objects.filter(patient=user).select_related("doctor__user").order_by("-created_at")


def info_get_for_patient(user: User, info_id) -> InfoRequest | None:
    """The patient's own Info request (to prefill a consult from it), or None."""
    try:
        return info_list_for_patient(user).filter(pk=int(info_id)).first()
    except (TypeError, ValueError):
        return None


def consult_charge(consult: Consult) -> charges.Charge | None:
    """Where the consult's payment stands, as its patient reads it (nothing is owed unless it is answered)."""
    return charges.charge_for_patient(
        patient=consult.patient,
        source_key=consult.engagement,
        amount=consult.patient_total,
        chargeable=consult.status not in (ConsultStatus.CANCELLED, ConsultStatus.DECLINED, ConsultStatus.EXPIRED),
    )
