"""Delivery of a signed report: a copy into the patient's Welbox and into the doctor's Medbox
(platform-issued: outside both quotas), and a notification to the patient. Runs in the task
worker, enqueued in the signing transaction; running it twice delivers once."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from telemed.boxes import selectors as box_selectors
from telemed.boxes import services as boxes
from telemed.notifications.services import notify
from telemed.reports.models import Report, ReportKind

NOTIFICATION_KIND = "report_signed"


def _file_name(report: Report) -> str:
    kind = _("Prescription") if report.kind == ReportKind.PRESCRIPTION else _("Report")
    date = timezone.localtime(report.signed_at).strftime("%Y-%m-%d")
    return f"{kind} {date} v{report.version} - {report.patient.get_full_name()}.pdf"


def _medbox_folder(report: Report):
    """The doctor's folder for this patient, made on first need; the Medbox's root if it cannot be."""
    folder = box_selectors.folder_list_for_user(report.doctor).filter(patient=report.patient).first()
    if folder is not None:
        return folder
    try:
        return boxes.folder_create(actor=report.doctor, name=report.patient.get_full_name(), patient=report.patient)
    except ValidationError:  # a folder of another patient already has this name
        return None


def deliver(*, report_id: int) -> None:
    with transaction.atomic():
        report = (
            Report.objects.select_for_update()
            .select_related("doctor", "patient")
            .filter(pk=report_id, status="signed", delivered_at__isnull=True)
            .first()
        )
        if report is None:
            return  # delivered already
        category = "prescription" if report.kind == ReportKind.PRESCRIPTION else "report"
        with translation.override(report.patient.language):
            name = _file_name(report)
            title = _("%(doctor)s signed a document for you") % {"doctor": report.doctor.display_name}
        for box, folder in (
            (boxes.box_for(report.patient), None),
            (boxes.box_for(report.doctor), _medbox_folder(report)),
        ):
            with report.pdf.open("rb") as stream:
                boxes.document_store_system(
                    box=box, category=category, name=name, stream=stream, mime="application/pdf", folder=folder
                )
        notify(
            recipient=report.patient,
            kind=NOTIFICATION_KIND,
            title=title,
            url=reverse("reports:detail", args=[report.public_id]),
        )
        report.delivered_at = timezone.now()
        report.save(update_fields=["delivered_at"])
