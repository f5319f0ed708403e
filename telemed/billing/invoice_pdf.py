"""Render an invoice or a credit note to PDF/A with WeasyPrint, in the patient's language.

Everything comes from the invoice row (copied in at issue), never from the live profiles:
the same invoice renders the same way forever.
"""

import io
from pathlib import Path

import weasyprint
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone, translation

from telemed.billing import pricing
from telemed.billing.models import Invoice

STYLESHEET = Path(__file__).resolve().parent / "pdf" / "invoice.css"
PDF_VARIANT = "pdf/a-3b"


def render(invoice: Invoice) -> io.BytesIO:
    from telemed.billing.invoices import VAT_EXEMPTION_WORDING

    language = invoice.patient.language or settings.LANGUAGE_CODE
    breakdown = pricing.Breakdown.from_dict(invoice.breakdown)
    with translation.override(language), timezone.override(settings.TIME_ZONE):
        html = render_to_string(
            "billing/pdf/invoice.html",
            {
                "invoice": invoice,
                "language": language,
                "breakdown": breakdown,
                "bank_fee": breakdown.line(pricing.LineCode.BANK_FEE),
                "vat_exemption": VAT_EXEMPTION_WORDING,
                "issued_at": timezone.localtime(invoice.issued_at),
                "paid_at": timezone.localtime(invoice.paid_at) if invoice.paid_at else None,
            },
        )
    # Nothing in an invoice needs to be fetched: no protocol at all is allowed.
    fetcher = weasyprint.URLFetcher(allowed_protocols=set(), timeout=5)
    pdf = weasyprint.HTML(string=html, url_fetcher=fetcher).write_pdf(
        stylesheets=[weasyprint.CSS(filename=str(STYLESHEET))], pdf_variant=PDF_VARIANT
    )
    return io.BytesIO(pdf)
