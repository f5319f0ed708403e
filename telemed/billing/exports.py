"""Records for the accountant and the authorities: the invoices of a period (CSV, XLSX), the
yearly donation summaries (CSV), and the Sistema Tessera Sanitaria file (730 precompilato).

Rows are produced one at a time (generators) so that the views can stream them.
"""

import base64
import csv
import datetime
import tempfile
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from lxml import etree

from telemed.billing import pricing, xsd
from telemed.billing.models import Invoice

ZERO = Decimal("0.00")


def _amount(invoice: Invoice, code: str) -> Decimal:
    breakdown = pricing.Breakdown.from_dict(invoice.breakdown)
    line = breakdown.line(pricing.LineCode(code))
    if line is None:
        return ZERO
    value = line.amount
    return -value if invoice.is_credit_note else value


def _signed(invoice: Invoice, value: Decimal) -> Decimal:
    return -value if invoice.is_credit_note else value


def invoice_header() -> list[str]:
    return [
        _("Number"), _("Kind"), _("Date"), _("Paid on"), _("Patient"), _("Patient's codice fiscale"), _("Description"),
        _("Doctor's fee"), _("Platform service fee"), _("VAT on the platform fee"), _("Stamp duty"), _("Total"),
        _("Bank fees"), _("Donation"), _("Net to the doctor"), _("Opposed to Sistema TS"), _("Corrects"),
    ]  # fmt: skip


def invoice_rows(invoices: Iterable[Invoice]) -> Iterator[list]:
    for invoice in invoices:
        breakdown = pricing.Breakdown.from_dict(invoice.breakdown)
        platform = breakdown.line(pricing.LineCode.PLATFORM_FEE)
        yield [
            invoice.display_number,
            invoice.get_kind_display(),
            timezone.localtime(invoice.issued_at).date().isoformat(),
            timezone.localtime(invoice.paid_at).date().isoformat() if invoice.paid_at else "",
            invoice.buyer.get("name", ""),
            invoice.buyer.get("codice_fiscale", ""),
            invoice.description,
            _amount(invoice, "doctor_fee"),
            _amount(invoice, "platform_fee"),
            _signed(invoice, platform.vat) if platform else ZERO,
            _amount(invoice, "stamp_duty"),
            _signed(invoice, invoice.total),
            _amount(invoice, "bank_fee"),
            _amount(invoice, "donation"),
            _signed(invoice, breakdown.doctor_net),
            _("yes") if invoice.sts_opposition else _("no"),
            invoice.credits.display_number if invoice.credits_id else "",
        ]


class _Echo:
    def write(self, value):
        return value


def csv_lines(header: list[str], rows: Iterable[list]) -> Iterator[str]:
    """CSV text line by line (semicolons, as Italian spreadsheets expect; a BOM so that Excel reads UTF-8)."""
    writer = csv.writer(_Echo(), delimiter=";")
    yield "\ufeff" + writer.writerow(header)
    for row in rows:
        yield writer.writerow([str(value) if isinstance(value, Decimal) else value for value in row])


def xlsx_file(header: list[str], rows: Iterable[list], *, title: str) -> tempfile.SpooledTemporaryFile:
    """An XLSX workbook written row by row (openpyxl's write-only mode) into a spooled file."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    sheet.append(header)
    for row in rows:
        sheet.append([float(value) if isinstance(value, Decimal) else value for value in row])
    spool = tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024)  # noqa: SIM115 - returned, the caller closes it
    workbook.save(spool)
    spool.seek(0)
    return spool


# --- donations ---------------------------------------------------------------------------------------


def donation_header() -> list[str]:
    return [_("Invoice"), _("Date"), _("Charity"), _("Donation (EUR)")]


def donation_rows(invoices: Iterable[Invoice]) -> Iterator[list]:
    total = ZERO
    for invoice in invoices:
        amount = _amount(invoice, "donation")
        if amount:
            total += amount
            detail = pricing.Breakdown.from_dict(invoice.breakdown).line(pricing.LineCode.DONATION)
            yield [
                invoice.display_number,
                timezone.localtime(invoice.issued_at).date().isoformat(),
                detail.detail,
                amount,
            ]
    yield [_("Total"), "", "", total]


def charity_header() -> list[str]:
    return [_("Charity"), _("Doctors who donated"), _("Donations (EUR)")]


def charity_rows(summary: list[dict]) -> Iterator[list]:
    for row in summary:
        yield [row["charity"], row["doctors"], row["amount"]]


# --- Sistema Tessera Sanitaria: the 730-precompilato file -------------------------------------------

STS_SCHEMA_LOCATION = "730_precompilata.xsd"
STS_SCHEMA = xsd.SCHEMAS / STS_SCHEMA_LOCATION
XSI = "http://www.w3.org/2001/XMLSchema-instance"
# cfType of the schema: the longest encrypted (base64) fiscal code the file may hold.
ENCRYPTED_FISCAL_CODE_MAX = 256
# Invoices and credit notes are numbered in two series: the "device" tells them apart in idSpesa.
DEVICE = {"invoice": "1", "credit_note": "2"}


class StsEncryptor:
    """Encrypts fiscal codes with the Sanitel certificate's RSA key (PKCS#1 v1.5, base64), as the
    Sistema TS specification asks. Without a certificate the codes stay in clear and the file
    cannot be sent as it is; ``encrypted`` says which."""

    def __init__(self, certificate_path: str = ""):
        self.public_key = None
        if certificate_path:
            data = Path(certificate_path).read_bytes()
            try:
                certificate = x509.load_pem_x509_certificate(data)
            except ValueError:
                certificate = x509.load_der_x509_certificate(data)
            self.public_key = certificate.public_key()

    @property
    def encrypted(self) -> bool:
        return self.public_key is not None

    def __call__(self, codice_fiscale: str) -> str:
        if self.public_key is None:
            return codice_fiscale
        return base64.b64encode(self.public_key.encrypt(codice_fiscale.encode("ascii"), padding.PKCS1v15())).decode()


def sts_encryptor() -> StsEncryptor:
    return StsEncryptor(settings.BILLING_STS_CERTIFICATE)


def _sub(parent, tag: str, text: str | None = None):
    node = etree.SubElement(parent, tag)
    if text is not None:
        node.text = text
    return node


def _id_block(parent, tag: str, invoice: Invoice) -> None:
    block = _sub(parent, tag)
    _sub(block, "pIva", invoice.seller["partita_iva"])
    _sub(block, "dataEmissione", timezone.localtime(invoice.issued_at).date().isoformat())
    number = _sub(block, "numDocumentoFiscale")
    _sub(number, "dispositivo", DEVICE[invoice.kind])
    _sub(number, "numDocumento", str(invoice.number))


def _expense_lines(document, breakdown: pricing.Breakdown) -> None:
    """One voceSpesa per patient line that is an expense: the doctor's fee (a healthcare service,
    SP, exempt: N4) and the platform fee (AA, with its VAT). Amounts are positive, refunds too;
    a zero line is not an expense and is left out (the schema wants at least 0.01)."""
    for line in breakdown.patient_lines:
        if line.code == pricing.LineCode.DOCTOR_FEE and line.amount > 0:
            item = _sub(document, "voceSpesa")
            _sub(item, "tipoSpesa", "SP")
            _sub(item, "importo", str(line.amount))
            _sub(item, "naturaIVA", "N4")
        elif line.code == pricing.LineCode.PLATFORM_FEE and line.total > 0:
            item = _sub(document, "voceSpesa")
            _sub(item, "tipoSpesa", "AA")
            _sub(item, "importo", str(line.total))
            if line.vat_treatment == pricing.VatTreatment.EXEMPT:
                _sub(item, "naturaIVA", "N4")
            else:
                _sub(item, "aliquotaIVA", f"{line.vat_rate:.2f}")


def _payment_date(invoice: Invoice) -> datetime.date:
    """When the patient paid; for a credit note, when the money went back (or, still owed, its date)."""
    if invoice.is_credit_note:
        refund = getattr(invoice, "refund", None)
        when = refund.done_at if refund is not None and refund.done_at else invoice.issued_at
    else:
        when = invoice.paid_at or invoice.issued_at
    return timezone.localtime(when).date()


def sts_document(*, doctor_codice_fiscale: str, invoices: Iterable[Invoice], encrypt: StsEncryptor) -> bytes:
    """``precompilata`` with one ``documentoSpesa`` per invoice (flagOperazione I) and per credit
    note (R, a refund that names the invoice in ``idRimborso``). The doctor's fee is a healthcare
    service (tipoSpesa SP, VAT nature N4: exempt); the platform fee is another expense (AA) with
    its own VAT treatment; the stamp duty is a tax, not an expense, and is not sent. A patient's
    opposition is honoured: flagOpposizione 1 and no fiscal code of the patient.

    Elements follow the order of the schema (``schemas/730_precompilata.xsd``): idSpesa,
    idRimborso, dataPagamento, flagOperazione, cfCittadino, pagamentoTracciato, tipoDocumento,
    flagOpposizione, then the voceSpesa lines. Use :func:`sts_file` to get a checked file."""
    root = etree.Element("precompilata", nsmap={"xsi": XSI})
    root.set(f"{{{XSI}}}noNamespaceSchemaLocation", STS_SCHEMA_LOCATION)
    if not encrypt.encrypted:
        root.append(
            etree.Comment(
                " fiscal codes NOT encrypted: no Sanitel certificate is configured; do not send this file as it is "
            )
        )
    owner = _sub(root, "proprietario")
    _sub(owner, "cfProprietario", encrypt(doctor_codice_fiscale))
    for invoice in invoices:
        document = _sub(root, "documentoSpesa")
        _id_block(document, "idSpesa", invoice)
        if invoice.is_credit_note:
            _id_block(document, "idRimborso", invoice.credits)
        _sub(document, "dataPagamento", _payment_date(invoice).isoformat())
        _sub(document, "flagOperazione", "R" if invoice.is_credit_note else "I")
        if not invoice.sts_opposition:
            _sub(document, "cfCittadino", encrypt(invoice.buyer["codice_fiscale"]))
        _sub(document, "pagamentoTracciato", "SI")
        _sub(document, "tipoDocumento", "F")
        _sub(document, "flagOpposizione", "1" if invoice.sts_opposition else "0")
        _expense_lines(document, pricing.Breakdown.from_dict(invoice.breakdown))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


class StsFileRefused(ValueError):
    """No file can be offered; the message is for the doctor. ``invalid`` holds the schema's
    verdict when the file was made but broke the schema (a fault of ours, for the logs)."""

    def __init__(self, message: str, invalid: xsd.SchemaInvalid | None = None):
        super().__init__(message)
        self.invalid = invalid


def sts_file(*, doctor_codice_fiscale: str, invoices: Iterable[Invoice], encrypt: StsEncryptor, year: int) -> bytes:
    """The Sistema TS file of ``invoices``, checked against the schema before anyone gets it."""
    xml = sts_document(doctor_codice_fiscale=doctor_codice_fiscale, invoices=invoices, encrypt=encrypt)
    root = etree.fromstring(xml)
    if root.find("documentoSpesa") is None:
        raise StsFileRefused(
            _("You issued no invoices in %(year)s: there is nothing to send to the Sistema TS.") % {"year": year}
        )
    try:
        xsd.validate(root, STS_SCHEMA)
    except xsd.SchemaInvalid as invalid:
        raise StsFileRefused(
            _(
                "The Sistema TS file for %(year)s does not pass the schema of the Sistema TS, so it is not offered: "
                "the fault is the platform's, not in your invoices. Please write to %(email)s."
            )
            % {"year": year, "email": settings.SUPPORT_EMAIL},
            invalid,
        ) from None
    return xml


def year_bounds(year: int) -> tuple[datetime.datetime, datetime.datetime]:
    zone = timezone.get_default_timezone()
    return (
        datetime.datetime(year, 1, 1, tzinfo=zone),
        datetime.datetime(year + 1, 1, 1, tzinfo=zone),
    )
