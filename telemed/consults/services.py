"""Every use case of consults that changes state: here requesting and working a consult; the Info
requests are ``info_requests.py``'s, what the deadline's scheduled tasks do ``deadlines.py``'s.
One transaction each; the actor is checked here.

A consult's state changes only in ``consult_transition``; the services around it check who
is acting and what else must hold (a signed report before "answered", an overdue deadline
before a patient cancels work already started).
"""

import datetime
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import BinaryIO

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from telemed.accounts import consents
from telemed.accounts.models import DoctorProfile, User
from telemed.billing import pricing, proformas
from telemed.billing import selectors as billing_selectors
from telemed.billing.deadlines import response_deadline
from telemed.billing.models import ServiceKind
from telemed.boxes import selectors as box_selectors
from telemed.boxes import services as boxes
from telemed.boxes import sniffing
from telemed.boxes import uploads as box_uploads
from telemed.boxes.models import Category, UploadState
from telemed.consults import tasks
from telemed.consults.models import (
    OPEN_STATES,
    Consult,
    ConsultAttachment,
    ConsultMessage,
    ConsultStatus,
    ConsultStudy,
    InfoRequest,
    InfoStatus,
)
from telemed.dicom import selectors as dicom_selectors
from telemed.dicom import services as dicom
from telemed.notifications.realtime import push_on_commit
from telemed.notifications.services import notify
from telemed.reports import services as reports
from telemed.reports.models import ReportKind

CONSULT_KINDS = (ServiceKind.BASE, ServiceKind.IMAGING, ServiceKind.PRIORITY)
MAX_ATTACHMENTS = 10
MAX_STUDIES = 5
# A file sent with the request form itself; larger files go through the Welbox's resumable upload.
UPLOAD_MAX_BYTES = 20 * 1024 * 1024
QUESTION_MAX = 8000
# The doctor is reminded this long before the deadline (or at half the window, if shorter).
REMINDER_LEAD = datetime.timedelta(hours=24)
# A consult nobody took up is closed as expired this long after its deadline.
EXPIRY_GRACE = datetime.timedelta(days=7)

NOTIFY_CONSULT = "consult"
NOTIFY_DEADLINE = "consult_deadline"
NOTIFY_INFO = "info_request"


# --- the one transition function ------------------------------------------------------------

TRANSITIONS: dict[str, frozenset[str]] = {
    ConsultStatus.REQUESTED: frozenset(
        {ConsultStatus.IN_PROGRESS, ConsultStatus.DECLINED, ConsultStatus.CANCELLED, ConsultStatus.EXPIRED}
    ),
    ConsultStatus.IN_PROGRESS: frozenset({ConsultStatus.ANSWERED, ConsultStatus.DECLINED, ConsultStatus.CANCELLED}),
    ConsultStatus.ANSWERED: frozenset({ConsultStatus.CLOSED}),
    ConsultStatus.CLOSED: frozenset(),
    ConsultStatus.DECLINED: frozenset(),
    ConsultStatus.CANCELLED: frozenset(),
    ConsultStatus.EXPIRED: frozenset(),
}


def thread_group(consult_id: int) -> str:
    """The channel group of a consult's open pages (see consumers.ConsultThreadConsumer)."""
    return f"consult-{consult_id}"


def consult_transition(consult: Consult, to: str) -> Consult:
    """The only place a consult changes state; an illegal move is refused with a clear message.
    The caller holds the row lock and saves."""
    current = ConsultStatus(consult.status)
    target = ConsultStatus(to)
    if target not in TRANSITIONS[current]:
        raise ValidationError(
            _("This consult is “%(from)s”: it cannot become “%(to)s”.") % {"from": current.label, "to": target.label},
            code="transition",
        )
    now = timezone.now()
    consult.status = target
    if target == ConsultStatus.IN_PROGRESS:
        consult.started_at = now
    elif target == ConsultStatus.ANSWERED:
        consult.answered_at = now
    else:
        consult.ended_at = now
    # Open pages of the consult say that it changed (their buttons may no longer apply).
    push_on_commit(thread_group(consult.pk), {"type": "thread.changed", "status": str(target)})
    return consult


# --- helpers (also info_requests.py's and deadlines.py's) -----------------------------------------


def doctor_user(doctor: DoctorProfile) -> User:
    return doctor.user


def consult_url(consult: Consult) -> str:
    return reverse("consults:detail", args=[consult.pk])


def _locked(consult: Consult) -> Consult:
    return Consult.objects.select_for_update().select_related("doctor__user", "patient").get(pk=consult.pk)


def require_patient(actor: User) -> None:
    if not actor.is_authenticated or not actor.is_patient or not actor.is_active:
        raise PermissionDenied


def _require_consult_doctor(actor: User, consult: Consult) -> None:
    if not actor.is_doctor or consult.doctor.user_id != actor.pk:
        raise PermissionDenied


def _require_party(actor: User, consult: Consult) -> None:
    if actor.pk not in (consult.patient_id, consult.doctor.user_id):
        raise PermissionDenied


def clean_text(text: str, *, field_name: str, required: bool, limit: int) -> str:
    text = (text or "").strip()
    if required and not text:
        raise ValidationError({field_name: _("Write your question.")})
    if len(text) > limit:
        raise ValidationError({field_name: _("At most %(n)d characters.") % {"n": limit}})
    return text


def submission_key(value) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (TypeError, ValueError):
        raise ValidationError(_("The form is out of date: reload the page and send it again.")) from None


# --- requesting a consult ---------------------------------------------------------------------


@dataclass(frozen=True)
class UploadedFile:
    name: str
    stream: BinaryIO
    size: int


@dataclass(frozen=True)
class ConsultDraft:
    """What the patient filled in on the request form."""

    kind: str
    question: str
    document_ids: tuple = ()
    study_ids: tuple = ()
    uploads: tuple[UploadedFile, ...] = ()
    # The tariff versions whose price and deadline the page showed, by kind: a change since is refused.
    shown_tariff_id: int | None = None
    # The total the patient saw (an app's quote names it): a total changed since, by the tariff or
    # by the platform's fees, is refused too.
    shown_patient_total: Decimal | None = None
    accepted_terms: bool = False
    from_info_id: int | None = None
    idempotency_key: object = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Offer:
    """One kind of consult a doctor offers now: its price and when the answer would be due."""

    kind: str
    label: str
    breakdown: pricing.Breakdown
    deadline: datetime.datetime
    response_value: int
    response_unit: str

    @property
    def tariff_id(self) -> int | None:
        return self.breakdown.tariff_id


def consult_offers(doctor: DoctorProfile, *, when: datetime.datetime | None = None) -> list[Offer]:
    """The consults a patient can ask this doctor now, priced and with the deadline if sent at ``when``."""
    when = when or timezone.now()
    offers = []
    for kind in CONSULT_KINDS:
        tariff = billing_selectors.tariff_at(doctor, kind, when)
        if tariff is None or not tariff.offered or tariff.response_value is None:  # no response time: no consult
            continue
        breakdown = pricing.price_tariff(tariff, when=when)
        deadline = response_deadline(start=when, value=tariff.response_value, unit=tariff.response_unit)
        offers.append(
            Offer(kind, str(ServiceKind(kind).label), breakdown, deadline, tariff.response_value, tariff.response_unit)
        )
    return offers


def _documents_of(actor: User, document_ids) -> list:
    documents = []
    for document_id in dict.fromkeys(document_ids):
        try:
            documents.append(box_selectors.document_get_for_user(actor, document_id, owned=True))
        except Http404:
            raise ValidationError({"documents": _("One of the attachments is not a document of yours.")}) from None
    if any(document.hidden_from_doctors_at for document in documents):
        raise ValidationError(
            {"documents": _("One of the attachments is hidden from doctors: show it again in your Welbox first.")}
        )
    return documents


def _studies_of(actor: User, study_ids) -> list:
    studies = []
    for study_id in dict.fromkeys(study_ids):
        try:
            study = dicom_selectors.study_get_for_user(actor, study_id, owned=True)
        except Http404:
            raise ValidationError({"studies": _("One of the radiology studies is not yours.")}) from None
        if study.hidden_from_doctors_at:
            raise ValidationError(
                {"studies": _("One of the radiology studies is hidden from doctors: show it again first.")}
            )
        studies.append(study)
    return studies


def _check_upload(upload: UploadedFile) -> None:
    if upload.size <= 0:
        raise ValidationError({"uploads": _("“%(name)s” is empty.") % {"name": upload.name}})
    if upload.size > UPLOAD_MAX_BYTES:
        raise ValidationError(
            {"uploads": _("“%(name)s” is larger than %(mb)d MB: put it in your Welbox first, then pick it from there.")
             % {"name": upload.name, "mb": UPLOAD_MAX_BYTES // (1024 * 1024)}}
        )  # fmt: skip
    mime = sniffing.identify(upload.stream)
    upload.stream.seek(0)
    if mime is None or mime == sniffing.ZIP:
        raise ValidationError(
            {
                "uploads": _("“%(name)s” is not a file a consult accepts (PDF, images, office documents, text).")
                % {"name": upload.name}
            }
        )


def _store_upload(actor: User, upload: UploadedFile):
    """File an upload into the patient's Welbox (it is theirs, like everything they send)."""
    try:
        session = box_uploads.upload_start(actor=actor, name=upload.name, size=upload.size, category=Category.OTHER)
    except ValidationError as error:  # the Welbox is full
        raise ValidationError({"uploads": error.messages}) from None
    try:
        box_uploads.upload_append(actor=actor, upload=session, offset=0, stream=upload.stream, length=upload.size)
    except ValidationError as error:
        session.refresh_from_db()
        if session.state == UploadState.OPEN:
            box_uploads.upload_cancel(actor=actor, upload=session)
        raise ValidationError({"uploads": error.messages}) from None
    session.refresh_from_db()
    return session.document


def consult_uploads_keep(*, actor: User, uploads: tuple[UploadedFile, ...]) -> tuple[list, list[str]]:
    """A request refused for another reason (no consent ticked, a missing question, a changed
    price) keeps the files the patient chose: each acceptable upload is filed into their Welbox,
    where the request would have put it anyway, so that the form offers it again already
    selected. An upload that is itself refused (empty, too large, a type a consult does not take,
    a full box) is left out, with the message that says why. Not one transaction: like the request,
    each file is stored by the boxes' upload services, which clean up after themselves."""
    require_patient(actor)
    kept, refused = [], []
    for upload in uploads:
        try:
            _check_upload(upload)
            kept.append(_store_upload(actor, upload))
        except ValidationError as error:
            refused.extend(error.messages)
    return kept, refused


def consult_validate(*, actor: User, doctor: DoctorProfile, draft: ConsultDraft) -> tuple[Offer, list, list]:
    """Everything that can be checked before anything is stored: the offer, the question, what goes with it."""
    require_patient(actor)
    offers = {offer.kind: offer for offer in consult_offers(doctor)}
    if draft.kind not in CONSULT_KINDS:
        raise ValidationError({"kind": _("Choose the kind of consult.")})
    offer = offers.get(draft.kind)
    if offer is None:
        raise ValidationError(
            {
                "kind": _("%(doctor)s does not offer this service: %(service)s.")
                % {"doctor": doctor, "service": ServiceKind(draft.kind).label}
            }
        )
    changed_tariff = draft.shown_tariff_id is not None and draft.shown_tariff_id != offer.tariff_id
    changed_total = draft.shown_patient_total is not None and draft.shown_patient_total != offer.breakdown.patient_total
    if changed_tariff or changed_total:
        raise ValidationError(
            _("The doctor changed the price or the response time meanwhile: check the new terms and send again.")
        )
    if not draft.accepted_terms:
        raise ValidationError({"accept": _("Accept the cost and the response deadline to send the consult.")})
    clean_text(draft.question, field_name="question", required=True, limit=QUESTION_MAX)
    if len(set(draft.document_ids)) + len(draft.uploads) > MAX_ATTACHMENTS:
        raise ValidationError({"documents": _("At most %(n)d attachments per consult.") % {"n": MAX_ATTACHMENTS}})
    if (draft.document_ids or draft.uploads or draft.study_ids) and not consents.has_shared_space(actor):
        # What goes with a consult is shared with the doctor through the shared clinical space.
        raise ValidationError(
            {"documents": _("To send documents or studies to a doctor, give the consent to the shared clinical space "
                            "(Account → Privacy and consents) first.")}
        )  # fmt: skip
    documents = _documents_of(actor, draft.document_ids)
    if len(set(draft.study_ids)) > MAX_STUDIES:
        raise ValidationError({"studies": _("At most %(n)d radiology studies per consult.") % {"n": MAX_STUDIES}})
    studies = _studies_of(actor, draft.study_ids)
    if draft.kind == ServiceKind.IMAGING and not studies:
        raise ValidationError({"studies": _("A consult with radiology images needs at least one study.")})
    if draft.kind == ServiceKind.BASE and studies:
        raise ValidationError(
            {
                "studies": _(
                    "To send radiology studies, choose the consult with radiology images or the priority consult."
                )
            }
        )
    for upload in draft.uploads:
        _check_upload(upload)
    return offer, documents, studies


def _reminder_time(accepted_at: datetime.datetime, deadline: datetime.datetime) -> datetime.datetime:
    # In UTC: between two Europe/Rome times Python subtracts wall clocks, off by an hour across a DST change.
    accepted_at, deadline = accepted_at.astimezone(datetime.UTC), deadline.astimezone(datetime.UTC)
    return deadline - min(REMINDER_LEAD, (deadline - accepted_at) / 2)


def _schedule_deadline_work(consult: Consult) -> None:
    """The deadline is watched by scheduled tasks, enqueued in the same transaction as the consult."""
    tasks.remind_doctor.using(run_after=_reminder_time(consult.accepted_at, consult.deadline)).enqueue(
        consult_id=consult.pk
    )
    tasks.deadline_passed.using(run_after=consult.deadline).enqueue(consult_id=consult.pk)
    tasks.expire_if_untouched.using(run_after=consult.deadline + EXPIRY_GRACE).enqueue(consult_id=consult.pk)


def _share_with_doctor(actor: User, consult: Consult, documents: list, message: ConsultMessage | None) -> None:
    doctor = doctor_user(consult.doctor)
    for document in documents:
        # By reference, revocable in the Welbox, like every document a patient shows a doctor.
        boxes.document_share(actor=actor, document=document, doctor=doctor)
        ConsultAttachment.objects.create(
            consult=consult, message=message, added_by=actor, document=document,
            name=document.name, size=document.size, mime=document.mime,
        )  # fmt: skip


def consult_request(*, actor: User, doctor: DoctorProfile, draft: ConsultDraft) -> tuple[Consult, bool]:
    """Send a consult: priced and timed now, as the patient accepted. Returns ``(consult, created)``;
    the same form sent twice returns the first consult and changes nothing."""
    require_patient(actor)
    key = submission_key(draft.idempotency_key)
    existing = Consult.objects.filter(idempotency_key=key).first()
    if existing is not None:
        if existing.patient_id != actor.pk:
            raise ValidationError(_("The form is out of date: reload the page and send it again."))
        return existing, False
    if doctor_user(doctor).pk == actor.pk:
        raise ValidationError(_("You cannot ask yourself for a consult."))
    offer, documents, studies = consult_validate(actor=actor, doctor=doctor, draft=draft)
    from_info = None
    if draft.from_info_id:
        from_info = InfoRequest.objects.filter(pk=draft.from_info_id, patient=actor, doctor=doctor).first()
    # Files are stored before the consult's transaction (storage is not transactional); a refusal
    # afterwards leaves them in the patient's Welbox, where they belong anyway.
    documents = documents + [_store_upload(actor, upload) for upload in draft.uploads]
    try:
        with transaction.atomic():
            now = timezone.now()
            # Priced again at the moment of sending: the page showed the same tariff version.
            priced = next((o for o in consult_offers(doctor, when=now) if o.kind == offer.kind), None)
            if priced is None:
                raise ValidationError(_("The doctor stopped offering this service meanwhile."))
            offer = priced
            consult = Consult.objects.create(
                doctor=doctor, patient=actor, service_kind=offer.kind,
                question=clean_text(draft.question, field_name="question", required=True, limit=QUESTION_MAX),
                breakdown=offer.breakdown.to_dict(), patient_total=offer.breakdown.patient_total,
                response_value=offer.response_value, response_unit=offer.response_unit,
                accepted_at=now, deadline=offer.deadline, idempotency_key=key, from_info=from_info,
            )  # fmt: skip
            _share_with_doctor(actor, consult, documents, None)
            for study in studies:
                dicom.study_share(actor=actor, study=study, doctor=doctor_user(doctor))
                ConsultStudy.objects.create(consult=consult, study=study)
            _schedule_deadline_work(consult)
            notify(
                recipient=doctor_user(doctor),
                kind=NOTIFY_CONSULT,
                title=_("A new consult request"),
                url=consult_url(consult),
            )
    except IntegrityError:
        existing = Consult.objects.filter(idempotency_key=key, patient=actor).first()
        if existing is None:
            raise
        return existing, False  # the twin submission won the race
    return consult, True


# --- working a consult --------------------------------------------------------------------------


@transaction.atomic
def consult_start(*, actor: User, consult: Consult) -> Consult:
    """The doctor takes the consult up: from now on the patient cannot cancel before the deadline."""
    consult = _locked(consult)
    _require_consult_doctor(actor, consult)
    consult_transition(consult, ConsultStatus.IN_PROGRESS)
    consult.save(update_fields=["status", "started_at"])
    return consult


@transaction.atomic
def consult_decline(*, actor: User, consult: Consult, reason: str) -> Consult:
    consult = _locked(consult)
    _require_consult_doctor(actor, consult)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Tell the patient why you decline.")})
    if len(reason) > 2000:
        raise ValidationError({"reason": _("At most %(n)d characters.") % {"n": 2000}})
    consult_transition(consult, ConsultStatus.DECLINED)
    consult.decline_reason = reason
    consult.save(update_fields=["status", "ended_at", "decline_reason"])
    notify(
        recipient=consult.patient,
        kind=NOTIFY_CONSULT,
        title=_("The doctor declined your consult"),
        url=consult_url(consult),
    )
    return consult


@transaction.atomic
def consult_cancel(*, actor: User, consult: Consult) -> Consult:
    """The patient withdraws: freely before work starts, and after the deadline passed; nothing is billed."""
    consult = _locked(consult)
    if actor.pk != consult.patient_id:
        raise PermissionDenied
    if consult.status == ConsultStatus.IN_PROGRESS and not consult.is_overdue:
        raise ValidationError(
            _(
                "The doctor is already working on this consult: you can cancel it only if the deadline passes without an answer."
            ),
            code="started",
        )
    consult_transition(consult, ConsultStatus.CANCELLED)
    consult.save(update_fields=["status", "ended_at"])
    notify(
        recipient=doctor_user(consult.doctor),
        kind=NOTIFY_CONSULT,
        title=_("A patient cancelled a consult"),
        url=consult_url(consult),
    )
    return consult


@transaction.atomic
def consults_withdraw_of_patient(*, patient: User) -> tuple[int, int]:
    """An account being erased withdraws what it still waits for, so that no answer is filed
    afterwards into a box that is gone: its open consults are cancelled (nothing is billed: a
    consult is billed once answered) and each doctor is told; its unanswered Info requests are
    deleted (no answer was given, nothing of them is a record to keep). Consults already answered
    stay with the doctor, as the law keeps them. Returns (consults cancelled, Info requests deleted)."""
    cancelled = 0
    for consult in Consult.objects.select_for_update().filter(patient=patient, status__in=OPEN_STATES):
        consult_transition(consult, ConsultStatus.CANCELLED)
        consult.save(update_fields=["status", "ended_at"])
        notify(
            recipient=doctor_user(consult.doctor),
            kind=NOTIFY_CONSULT,
            title=_("A patient who deleted their account withdrew a consult"),
            url=consult_url(consult),
        )
        cancelled += 1
    deleted, _by_model = InfoRequest.objects.filter(patient=patient, status=InfoStatus.OPEN).delete()
    return cancelled, deleted


@transaction.atomic
def consult_message_send(*, actor: User, consult: Consult, text: str, document_ids=()) -> ConsultMessage:
    """A message in the consult's thread, with documents from the sender's own box."""
    consult = _locked(consult)
    _require_party(actor, consult)
    if not consult.thread_open:
        raise ValidationError(
            _("This consult is “%(state)s”: its thread is closed.") % {"state": consult.get_status_display()}
        )
    text = clean_text(text, field_name="text", required=False, limit=8000)
    if len(set(document_ids)) > MAX_ATTACHMENTS:
        raise ValidationError({"documents": _("At most %(n)d attachments per message.") % {"n": MAX_ATTACHMENTS}})
    documents = _documents_of(actor, document_ids)
    if not text and not documents:
        raise ValidationError({"text": _("Write a message or attach a document.")})
    message = ConsultMessage.objects.create(consult=consult, sender=actor, text=text)
    if actor.pk == consult.patient_id:
        _share_with_doctor(actor, consult, documents, message)
        recipient, title = doctor_user(consult.doctor), _("A patient wrote in a consult")
    else:
        patient_box = boxes.box_for(consult.patient)
        for document in documents:
            # The doctor's document reaches the patient as a copy in their Welbox, outside the quota.
            with document.file.open("rb") as stream:
                copy = boxes.document_store_system(
                    box=patient_box, category=Category.OTHER, name=document.name, stream=stream, mime=document.mime
                )
            ConsultAttachment.objects.create(
                consult=consult, message=message, added_by=actor, document=document, delivered_copy=copy,
                name=document.name, size=document.size, mime=document.mime,
            )  # fmt: skip
        recipient, title = consult.patient, _("Your doctor wrote in a consult")
    notify(recipient=recipient, kind=NOTIFY_CONSULT, title=title, url=consult_url(consult))
    push_on_commit(thread_group(consult.pk), {"type": "thread.message", "message_id": message.pk})
    return message


@transaction.atomic
def consult_report_start(*, actor: User, consult: Consult, kind: str = ReportKind.REPORT) -> Consult:
    """Open the draft of the signed document that will answer the consult (one per consult)."""
    consult = _locked(consult)
    _require_consult_doctor(actor, consult)
    if consult.status != ConsultStatus.IN_PROGRESS:
        raise ValidationError(_("Start working on the consult before writing its report."))
    if consult.report is not None and consult.report.status != "discarded":
        return consult
    # The patient asked this doctor for this consult: that is the relationship, verified here.
    # Its editor signs through consult_answer: signing the answer is answering.
    consult.report = reports.report_create(
        actor=actor, patient=consult.patient, kind=kind, engagement=consult.engagement,
        sign_url=reverse("consults:answer", args=[consult.pk]),
    )  # fmt: skip
    consult.save(update_fields=["report"])
    return consult


def consult_answer(
    *, actor: User, consult: Consult, code: str = "", content: reports.ReportContent | None = None
) -> Consult:
    """Deliver the answer in one action: the consult's report signed (now, with ``code``, if still
    a draft, after saving ``content`` when the editor sent it), delivered to the patient's Welbox,
    the consult answered (its deadline stops) and billable for the doctor's "Emetti fattura"."""
    consult = Consult.objects.select_related("doctor__user", "patient", "report").get(pk=consult.pk)
    _require_consult_doctor(actor, consult)
    if consult.status != ConsultStatus.IN_PROGRESS:
        consult_transition(consult, ConsultStatus.ANSWERED)  # refused with the state's own message
    report = consult.report
    if report is None or report.status == "discarded":
        raise ValidationError(
            _("A consult is answered with a signed report or prescription: write it first."), code="no_report"
        )
    if report.status == "draft":
        if content is not None:
            reports.report_update(actor=actor, report=report, content=content)
            report.refresh_from_db()
        if not (code or "").strip():
            raise ValidationError({"code": _("Enter the code from your signing app to sign the report.")})
        reports.report_sign(actor=actor, report=report, code=code.strip(), engagement=consult.engagement)
    with transaction.atomic():
        consult = _locked(consult)
        report = consult.report  # read again, under the consult's lock
        if report is None or report.status != "signed":
            raise ValidationError(
                _("A consult is answered with a signed report or prescription: write it first."), code="no_report"
            )
        consult_transition(consult, ConsultStatus.ANSWERED)
        consult.save(update_fields=["status", "answered_at"])
        proformas.billable_service_register(
            doctor=consult.doctor, patient=consult.patient, kind=consult.service_kind, duration_minutes=None,
            breakdown=pricing.Breakdown.from_dict(consult.breakdown), accepted_at=consult.accepted_at,
            source_label=_("%(service)s of %(date)s") % {
                "service": ServiceKind(consult.service_kind).label,
                "date": timezone.localtime(consult.accepted_at).strftime("%d/%m/%Y"),
            },
            source_url=consult_url(consult), source_key=consult.engagement, delivered_at=consult.answered_at,
        )  # fmt: skip
        notify(
            recipient=consult.patient,
            kind=NOTIFY_CONSULT,
            title=_("Your consult was answered"),
            url=consult_url(consult),
        )
    return consult


@transaction.atomic
def consult_close(*, actor: User, consult: Consult) -> Consult:
    """Either party ends an answered consult: its thread closes."""
    consult = _locked(consult)
    _require_party(actor, consult)
    consult_transition(consult, ConsultStatus.CLOSED)
    consult.save(update_fields=["status", "ended_at"])
    return consult
