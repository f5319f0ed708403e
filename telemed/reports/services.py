"""Every use case of reports that changes state. One transaction each; the actor is checked here.

Higher apps (consults, visits) issue reports through ``report_create`` and ``report_sign`` /
``reports_sign_batch``; nothing here depends on them. A draft written for a higher app's
engagement is signed only by that app (it passes the engagement): signing it is a step of its
flow (the consult answered, the visit delivered), which a signature alone would leave half done.
"""

import re
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from telemed.care.selectors import care_link_is_active
from telemed.reports import pdf, tasks
from telemed.reports.models import Report, ReportKind, ReportStatus, TherapyItem
from telemed.signatures import services as signing

MAX_THERAPY_LINES = 20
NRE_PATTERN = re.compile(r"^[0-9A-Z]{15}$")
PIN_PATTERN = re.compile(r"^[0-9]{4,10}$")


@dataclass(frozen=True)
class TherapyLine:
    drug: str
    dose: str = ""
    schedule: str = ""
    duration: str = ""


@dataclass(frozen=True)
class ReportContent:
    """What the doctor writes. Every field is optional while drafting; signing asks for the essentials."""

    diagnosis: str = ""
    findings: str = ""
    notes: str = ""
    therapy: tuple[TherapyLine, ...] = field(default_factory=tuple)
    nre: str = ""
    nre_pin: str = ""


def _require_doctor(actor) -> None:
    if not getattr(actor, "is_doctor", False) or not actor.is_active:
        raise PermissionDenied


def _own_draft(actor, report: Report) -> None:
    if report.doctor_id != actor.pk:
        raise PermissionDenied
    if report.status != ReportStatus.DRAFT:
        raise ValidationError(_("This document is signed: it cannot change any more. Write a correction instead."))


def _check_patient(actor, patient, engagement: str = "") -> None:
    if engagement and patient is not None and patient.is_patient:
        return  # the higher app that set the engagement verified the relationship
    if patient is None or not patient.is_patient or not care_link_is_active(doctor=actor, patient=patient):
        raise ValidationError(_("You can write only for patients who have accepted a link with you."))


def _transition(report: Report, to: str) -> None:
    """The one place where a report changes state; anything else is refused with a clear error."""
    allowed = {
        ReportStatus.DRAFT: {ReportStatus.SIGNED, ReportStatus.DISCARDED},
        ReportStatus.SIGNED: set(),
        ReportStatus.DISCARDED: set(),
    }
    if to not in allowed[ReportStatus(report.status)]:
        raise ValidationError(
            _("This document cannot go from “%(from)s” to “%(to)s”.")
            % {"from": ReportStatus(report.status).label, "to": ReportStatus(to).label}
        )
    report.status = to


def _clean_content(kind: str, content: ReportContent) -> ReportContent:
    errors = {}
    lines = [line for line in content.therapy if line.drug.strip() or line.dose.strip() or line.schedule.strip()]
    if len(lines) > MAX_THERAPY_LINES:
        errors["therapy"] = _("At most %(count)d drugs per document.") % {"count": MAX_THERAPY_LINES}
    if any(not line.drug.strip() for line in lines):
        errors["therapy"] = _("Each line of the therapy needs the drug.")
    nre = content.nre.strip().upper().replace(" ", "")
    pin = content.nre_pin.strip().replace(" ", "")
    if kind != ReportKind.PRESCRIPTION and (nre or pin):
        errors["nre"] = _("NRE and PIN belong to prescriptions only.")
    if nre and not NRE_PATTERN.match(nre):
        errors["nre"] = _("The NRE / NRBE number has 15 letters and digits, as Sistema TS gave it.")
    if pin and not PIN_PATTERN.match(pin):
        errors["nre_pin"] = _("The PIN is made of 4 to 10 digits.")
    if pin and not nre:
        errors["nre_pin"] = _("Type the NRE / NRBE number that goes with this PIN.")
    limits = {"diagnosis": 4000, "findings": 8000, "notes": 4000}
    for name, limit in limits.items():
        if len(getattr(content, name)) > limit:
            errors[name] = _("At most %(count)d characters.") % {"count": limit}
    if errors:
        raise ValidationError(errors)
    return ReportContent(
        diagnosis=content.diagnosis.strip(),
        findings=content.findings.strip(),
        notes=content.notes.strip(),
        therapy=tuple(
            TherapyLine(
                drug=line.drug.strip()[:200],
                dose=line.dose.strip()[:100],
                schedule=line.schedule.strip()[:200],
                duration=line.duration.strip()[:100],
            )
            for line in lines
        ),
        nre=nre,
        nre_pin=pin,
    )


def _write_content(report: Report, content: ReportContent) -> None:
    report.diagnosis = content.diagnosis
    report.findings = content.findings
    report.notes = content.notes
    report.nre = content.nre
    report.nre_pin = content.nre_pin
    report.save()
    report.therapy.all().delete()
    TherapyItem.objects.bulk_create(
        TherapyItem(
            report=report, position=n, drug=line.drug, dose=line.dose, schedule=line.schedule, duration=line.duration
        )
        for n, line in enumerate(content.therapy)
    )


def content_of(report: Report) -> ReportContent:
    return ReportContent(
        diagnosis=report.diagnosis,
        findings=report.findings,
        notes=report.notes,
        therapy=tuple(
            TherapyLine(drug=i.drug, dose=i.dose, schedule=i.schedule, duration=i.duration)
            for i in report.therapy.all()
        ),
        nre=report.nre,
        nre_pin=report.nre_pin,
    )


@transaction.atomic
def report_create(
    *, actor, patient, kind: str, content: ReportContent | None = None, engagement: str = "", sign_url: str = ""
) -> Report:
    """A new draft for a linked patient (``kind``: "report" or "prescription").

    ``engagement`` is for a higher app's service only (e.g. ``"consult:42"``): the caller has
    verified the relationship between doctor and patient itself, so no care link is asked,
    now or when the report is signed or corrected. Views never pass it. ``sign_url`` is that
    app's page where the draft is signed (the editor's sign button posts there).
    """
    _require_doctor(actor)
    if kind not in ReportKind.values:
        raise ValidationError({"kind": _("Choose a report or a prescription.")})
    engagement = (engagement or "").strip()[:40]
    _check_patient(actor, patient, engagement)
    content = _clean_content(kind, content or ReportContent())
    report = Report(
        kind=kind, doctor=actor, patient=patient, engagement=engagement, sign_url=sign_url if engagement else ""
    )
    _write_content(report, content)
    return report


@transaction.atomic
def report_update(*, actor, report: Report, content: ReportContent) -> Report:
    """Save a draft (the editor autosaves through this too)."""
    _require_doctor(actor)
    report = Report.objects.select_for_update().get(pk=report.pk)
    _own_draft(actor, report)
    content = _clean_content(report.kind, content)
    # Unchanged content is not written: an autosave racing the "Sign and send" of the same text
    # must not make the signature see a document that changed under it.
    if content != content_of(report):
        _write_content(report, content)
    return report


@transaction.atomic
def report_discard(*, actor, report: Report) -> Report:
    _require_doctor(actor)
    report = Report.objects.select_for_update().get(pk=report.pk)
    _own_draft(actor, report)
    _transition(report, ReportStatus.DISCARDED)
    report.save(update_fields=["status", "updated_at"])
    return report


@transaction.atomic
def report_correct(*, actor, report: Report) -> Report:
    """Start a correction: a new draft version, with the signed one's content, that will replace it."""
    _require_doctor(actor)
    report = Report.objects.select_for_update().get(pk=report.pk)
    if report.doctor_id != actor.pk:
        raise PermissionDenied
    if report.status != ReportStatus.SIGNED:
        raise ValidationError(_("Only a signed document can be corrected; change the draft instead."))
    existing = Report.objects.filter(replaces=report).first()
    if existing is not None:
        if existing.status == ReportStatus.DISCARDED:
            existing.delete()  # an abandoned correction: start afresh
        else:
            raise ValidationError(_("This document already has a correction: open that one."))
    _check_patient(actor, report.patient, report.engagement)
    correction = Report(
        kind=report.kind,
        doctor=actor,
        patient=report.patient,
        version=report.version + 1,
        replaces=report,
        engagement=report.engagement,
    )  # a correction is signed here: the engaging flow was completed by the version it corrects
    _write_content(correction, content_of(report))
    return correction


def _check_signable(report: Report) -> None:
    if report.kind == ReportKind.PRESCRIPTION and not report.therapy.exists():
        raise ValidationError(_("A prescription needs at least one drug before it can be signed."))
    if report.kind == ReportKind.REPORT and not (report.diagnosis or report.findings):
        raise ValidationError(_("A report needs a diagnosis or findings before it can be signed."))


@contextmanager
def _files_removed_on_failure():
    """Files are not transactional: if signing fails half-way, delete what was stored."""
    stored: list[str] = []
    try:
        yield stored
    except BaseException:
        for name in stored:
            default_storage.delete(name)
        raise


def _check_engagement(report: Report, engagement: str) -> None:
    if report.signed_elsewhere and report.engagement != engagement:
        raise ValidationError(
            _("This draft answers a consult or a visit: sign it from its page, so that it is delivered as the answer.")
        )


def reports_sign_batch(*, actor, reports: list[Report], code: str, engagement: str = "") -> list[Report]:
    """Sign finished drafts with one code from the signing app (or the remote provider's OTP),
    then deliver them to the patient's Welbox and the doctor's Medbox. Nothing is signed or stored
    when anything is refused. ``engagement`` is passed by the higher app that signs its own draft."""
    _require_doctor(actor)
    ids = list(dict.fromkeys(r.pk for r in reports))
    if not ids:
        raise ValidationError(_("Choose at least one document to sign."))
    drafts = list(
        Report.objects.select_related("doctor__doctor_profile", "patient__patient_profile", "replaces")
        .prefetch_related("therapy")
        .filter(pk__in=ids)
        .order_by("created_at")
    )
    if len(drafts) != len(ids):
        raise PermissionDenied
    for report in drafts:
        _own_draft(actor, report)
        _check_engagement(report, engagement)
        _check_signable(report)
        _check_patient(actor, report.patient, report.engagement)
    issued_at = timezone.now()
    # Rendered before any lock is taken: WeasyPrint is the slow part.
    rendered = {report.pk: pdf.render_report_pdf(report, issued_at=issued_at) for report in drafts}
    versions = {report.pk: report.updated_at for report in drafts}
    # Checks (and logs, and counts) the code on its own: refused means nothing below happens.
    authorization = signing.signing_authorize(actor=actor, code=code, documents=len(drafts))
    with _files_removed_on_failure() as stored, transaction.atomic():
        locked = {r.pk: r for r in Report.objects.select_for_update().filter(pk__in=ids)}
        for report in drafts:
            current = locked[report.pk]
            if current.status != ReportStatus.DRAFT or current.updated_at != versions[report.pk]:
                raise ValidationError(_("A document changed while it was being signed. Nothing was signed: try again."))
        signed = signing.documents_sign(
            authorization=authorization,
            documents=[
                signing.DocumentToSign(
                    public_id=report.public_id,
                    title=pdf.document_title(report),
                    reason=pdf.signature_reason(report),
                    pdf=rendered[report.pk],
                )
                for report in drafts
            ],
        )
        for report, result in zip(drafts, signed, strict=True):
            report.pdf.save(f"{report.public_id.hex}.pdf", File(result.pdf, name="signed.pdf"), save=False)
            stored.append(report.pdf.name)
            result.pdf.close()
            report.pdf_sha256, report.pdf_size = result.sha256, result.size
            report.signature, report.signed_at = result.record, result.record.signed_at
            _transition(report, ReportStatus.SIGNED)
            report.save()
            # Delivery must not be lost: enqueued in the same transaction as the signature.
            tasks.deliver_signed_report.enqueue(report_id=report.pk)
    return drafts


def report_sign(*, actor, report: Report, code: str, engagement: str = "") -> Report:
    [signed] = reports_sign_batch(actor=actor, reports=[report], code=code, engagement=engagement)
    return signed
