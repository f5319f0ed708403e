"""Render a report to PDF/A with WeasyPrint: identities, date, content and the verification QR code."""

import functools
import io
from pathlib import Path

import segno
import weasyprint
from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from telemed.reports.models import Report, ReportKind

STYLESHEET = Path(__file__).resolve().parent / "pdf" / "report.css"
# PDF/A-3b: archival, every font embedded, and it still allows the signature's incremental update.
PDF_VARIANT = "pdf/a-3b"


def verification_url(report: Report) -> str:
    return settings.BASE_URL + reverse("signatures:verify_document", args=[report.public_id])


def document_title(report: Report) -> str:
    """The record's title: public (the verification page shows it), so it names no patient."""
    kind = _("Prescription") if report.kind == ReportKind.PRESCRIPTION else _("Medical report")
    return f"{kind} — v{report.version}"


def signature_reason(report: Report) -> str:
    return (
        _("Prescription digitally signed")
        if report.kind == ReportKind.PRESCRIPTION
        else _("Medical report digitally signed")
    )


@functools.cache
def _stylesheet() -> weasyprint.CSS:
    return weasyprint.CSS(filename=str(STYLESHEET))


def render_report_pdf(report: Report, *, issued_at=None) -> io.BytesIO:
    """The unsigned PDF/A of a report, in the patient's language."""
    language = report.patient.language or settings.LANGUAGE_CODE
    with translation.override(language), timezone.override(settings.TIME_ZONE):
        url = verification_url(report)
        html = render_to_string(
            "reports/pdf/report.html",
            {
                "report": report,
                "title": document_title(report),
                "language": language,
                "doctor": report.doctor,
                "doctor_profile": getattr(report.doctor, "doctor_profile", None),
                "patient": report.patient,
                "patient_profile": getattr(report.patient, "patient_profile", None),
                "therapy": list(report.therapy.all()),
                "issued_at": timezone.localtime(issued_at or timezone.now()),
                "verify_url": url,
                "qr": segno.make(url, error="m").svg_data_uri(scale=4, border=1),
            },
        )
    # Only the inline QR image may be loaded: the content is the doctor's text, and nothing in it
    # may make the renderer reach the network or the file system.
    fetcher = weasyprint.URLFetcher(allowed_protocols={"data"}, timeout=5)
    pdf = weasyprint.HTML(string=html, url_fetcher=fetcher).write_pdf(
        stylesheets=[_stylesheet()], pdf_variant=PDF_VARIANT
    )
    return io.BytesIO(pdf)
