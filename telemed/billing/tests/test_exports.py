"""Records for the accountant (CSV, XLSX), the donation summaries and the Sistema TS file."""

import base64
import csv
import datetime
import io
from decimal import Decimal as D

import pytest
import xmlschema
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from django.urls import reverse
from django.utils import timezone
from lxml import etree
from openpyxl import load_workbook

from conftest import log_in
from telemed.billing import donations, exports, payments, reconciliation, selectors, xsd
from telemed.billing.invoices import credit_note_issue
from telemed.billing.models import Invoice

pytestmark = pytest.mark.django_db


@pytest.fixture
def invoices(doctor, make_patient_user, billed, staff, charity):
    donations.donation_set(actor=doctor.user, percent=D("10"), charity=charity)
    anna, bruno = make_patient_user("Anna"), make_patient_user("Bruno")
    first = billed(doctor, anna, fee="80.00")
    payments.payment_mark_paid(actor=staff, payment_request=first, reason="paid at the front desk")
    second = billed(doctor, bruno)
    payments.payment_request_details_set(actor=bruno, payment_request=second, sts_opposition=True, payer_address="")
    payments.payment_mark_paid(actor=staff, payment_request=second, reason="paid at the front desk")
    note = credit_note_issue(actor=doctor.user, invoice=first.invoice, reason="wrong patient")
    return first.invoice, second.invoice, note


def test_accountant_csv_and_xlsx(doctor_client, doctor, invoices):
    today = timezone.localdate()
    response = doctor_client.get(
        reverse("billing:export"), {"start": today.replace(day=1), "end": today, "format": "csv"}
    )
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig")), delimiter=";"))
    assert len(rows) == 4
    assert [row[0] for row in rows[1:]] == [
        invoices[0].display_number,
        invoices[1].display_number,
        invoices[2].display_number,
    ]
    assert rows[1][11] == "85.00" and rows[3][11] == "-85.00" and rows[3][16] == invoices[0].display_number

    response = doctor_client.get(
        reverse("billing:export"), {"start": today.replace(day=1), "end": today, "format": "xlsx"}
    )
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    values = list(sheet.values)
    assert len(values) == 4 and values[1][11] == 85.0 and values[2][15] in {"sì", "yes"}


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"start": "2026-02-30", "end": "x", "format": "csv"},
        {"start": "2026-03-01", "end": "2026-01-01", "format": "csv"},
        {"start": "2026-01-01", "end": "2026-02-01", "format": "pdf"},
    ],
)
def test_bad_export_periods_get_a_message_not_a_500(doctor_client, query):
    response = doctor_client.get(reverse("billing:export"), query)
    assert response.status_code == 302


def test_donations_by_doctor_and_by_charity(doctor_client, doctor, invoices, staff, client, charity):
    year = timezone.localdate().year
    summary = selectors.donations_by_year_of_doctor(doctor)
    # 7.95 + 4.45 donated, then 7.95 taken back by the credit note.
    assert summary == [{"year": year, "charity": charity.name, "amount": D("4.45")}]
    rows = list(
        csv.reader(
            io.StringIO(
                b"".join(doctor_client.get(reverse("billing:donations_csv", args=[year])).streaming_content).decode(
                    "utf-8-sig"
                )
            ),
            delimiter=";",
        )
    )
    assert rows[-1][-1] == "4.45"
    assert selectors.donations_by_charity(year) == [{"charity": charity.name, "amount": D("4.45"), "doctors": 1}]
    assert doctor_client.get("/billing/donations/notayear.csv").status_code == 404
    log_in(client, staff)
    response = client.get(reverse("billing:staff_donations_csv", args=[year]))
    assert charity.name in b"".join(response.streaming_content).decode("utf-8-sig")


# --- Sistema TS ----------------------------------------------------------------------------------

# The children of documentoSpesa in the order of the Sistema TS schema (version 2.4).
DOCUMENT_ORDER = [
    "idSpesa", "idRimborso", "dataPagamento", "flagPagamentoAnticipato", "flagOperazione", "cfCittadino",
    "pagamentoTracciato", "tipoDocumento", "flagOpposizione", "voceSpesa",
]  # fmt: skip


def sts(doctor, invoices, encrypt=None):
    """The checked file (``sts_file`` validates it against the shipped schema), parsed."""
    xml = exports.sts_file(
        doctor_codice_fiscale=doctor.codice_fiscale,
        invoices=invoices,
        encrypt=encrypt or exports.StsEncryptor(""),
        year=timezone.localdate().year,
    )
    exports_schema_check(xml)
    return etree.fromstring(xml)


def exports_schema_check(xml: bytes) -> None:
    """Validate once more, with another validator than the export's (xmlschema, not libxml2)."""
    xmlschema.XMLSchema(str(exports.STS_SCHEMA)).validate(xml.decode())


def children(document) -> list[str]:
    tags = [child.tag for child in document if isinstance(child.tag, str)]
    assert tags == sorted(tags, key=DOCUMENT_ORDER.index), tags
    return tags


def test_sistema_ts_file_of_invoices_only_follows_the_schema(doctor, make_patient_user, billed, staff):
    patients = [make_patient_user(name) for name in ("Anna", "Bruno", "Carla")]
    invoices = []
    for patient in patients:
        request = billed(doctor, patient, fee="60.00")
        payments.payment_mark_paid(actor=staff, payment_request=request, reason="paid at the front desk")
        invoices.append(request.invoice)
    root = sts(doctor, invoices)
    documents = root.findall("documentoSpesa")
    assert [d.findtext("cfCittadino") for d in documents] == [i.buyer["codice_fiscale"] for i in invoices]
    for document in documents:
        assert children(document)[:3] == ["idSpesa", "dataPagamento", "flagOperazione"]
        assert document.find("idRimborso") is None and document.findtext("flagOperazione") == "I"
        assert document.findtext("tipoDocumento") == "F" and document.findtext("flagOpposizione") == "0"


def test_sistema_ts_file_puts_the_refunded_invoice_right_after_id_spesa_and_validates(doctor, invoices):
    first = invoices[0]
    root = sts(doctor, invoices)
    assert any("NOT encrypted" in str(node) for node in root.iter(etree.Comment))
    documents = root.findall("documentoSpesa")
    assert len(documents) == 3
    one = documents[0]
    assert one.findtext("idSpesa/pIva") == doctor.partita_iva
    assert one.findtext("idSpesa/numDocumentoFiscale/numDocumento") == str(first.number)
    assert one.findtext("flagOperazione") == "I" and one.findtext("pagamentoTracciato") == "SI"
    assert one.findtext("flagOpposizione") == "0" and one.findtext("cfCittadino") == first.buyer["codice_fiscale"]
    items = {item.findtext("tipoSpesa"): item for item in one.findall("voceSpesa")}
    assert items["SP"].findtext("importo") == "80.00" and items["SP"].findtext("naturaIVA") == "N4"
    refund = documents[2]
    assert children(refund)[:3] == ["idSpesa", "idRimborso", "dataPagamento"]
    assert refund.findtext("flagOperazione") == "R"
    assert refund.findtext("idRimborso/numDocumentoFiscale/numDocumento") == str(first.number)
    assert refund.findtext("idSpesa/numDocumentoFiscale/dispositivo") == "2"
    # Refunds are sent with positive amounts, as the schema wants.
    assert [item.findtext("importo") for item in refund.findall("voceSpesa")] == [
        item.findtext("importo") for item in one.findall("voceSpesa")
    ]


def test_sistema_ts_file_of_an_opposed_patient_has_no_fiscal_code_and_validates(doctor, invoices):
    root = sts(doctor, invoices[1:2])
    opposed = root.find("documentoSpesa")
    assert opposed.findtext("flagOpposizione") == "1" and opposed.find("cfCittadino") is None
    children(opposed)


def test_sistema_ts_file_dates_a_made_refund_on_the_day_the_money_went_back(doctor, invoices, staff):
    first, _second, note = invoices
    refund = reconciliation.refund_mark_done(actor=staff, refund=note.refund, note="bonifico al paziente")
    refund_document = sts(doctor, [first, note]).findall("documentoSpesa")[1]
    assert refund_document.findtext("flagOperazione") == "R"
    assert refund_document.findtext("dataPagamento") == timezone.localtime(refund.done_at).date().isoformat()


def test_the_schema_refuses_id_rimborso_after_the_expense_lines(doctor, invoices):
    xml = exports.sts_document(
        doctor_codice_fiscale=doctor.codice_fiscale, invoices=invoices, encrypt=exports.StsEncryptor("")
    )
    root = etree.fromstring(xml)
    refund = root.findall("documentoSpesa")[2]
    refund.append(refund.find("idRimborso"))  # moved to the end, where the file used to have it
    with pytest.raises(xsd.SchemaInvalid, match="idRimborso"):
        xsd.validate(root, exports.STS_SCHEMA)
    refund.insert(1, refund.find("idRimborso"))
    xsd.validate(root, exports.STS_SCHEMA)


def test_a_year_without_invoices_gets_a_message_not_an_empty_file(doctor_client, doctor):
    response = doctor_client.get(reverse("billing:sts_export", args=[2019]), follow=True)
    assert response.redirect_chain and "2019" in str(next(iter(response.context["messages"])))


def test_a_file_that_breaks_the_schema_is_not_offered(doctor_client, invoices, caplog, settings):
    first = invoices[0]
    Invoice.objects.filter(pk=first.pk).update(seller={**first.seller, "partita_iva": "IT12345"})
    response = doctor_client.get(reverse("billing:sts_export", args=[timezone.localdate().year]), follow=True)
    assert response["Content-Type"].startswith("text/html")
    message = str(next(iter(response.context["messages"])))
    assert "Sistema TS" in message and settings.SUPPORT_EMAIL in message
    assert "pIva" in caplog.text and first.buyer["codice_fiscale"] not in caplog.text


def sanitel_certificate(tmp_path, key_size: int):
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Sanitel test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256())
    )  # fmt: skip
    path = tmp_path / f"SanitelCF-{key_size}.cer"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.DER))
    return key, path


def test_sistema_ts_file_encrypts_fiscal_codes_with_the_certificate(doctor, invoices, tmp_path):
    # The Sanitel certificate's key is RSA 1024: its ciphertext fits the schema's 256 characters.
    key, path = sanitel_certificate(tmp_path, 1024)
    root = sts(doctor, invoices, exports.StsEncryptor(str(path)))
    assert not list(root.iter(etree.Comment))
    encrypted = root.findtext("proprietario/cfProprietario")
    assert key.decrypt(base64.b64decode(encrypted), padding.PKCS1v15()).decode() == doctor.codice_fiscale
    citizen = root.find("documentoSpesa").findtext("cfCittadino")
    assert key.decrypt(base64.b64decode(citizen), padding.PKCS1v15()).decode() == invoices[0].buyer["codice_fiscale"]


def test_a_certificate_whose_ciphertext_the_schema_refuses_is_reported_at_startup(tmp_path, settings):
    from telemed.billing.checks import sts_certificate_check

    _key, path = sanitel_certificate(tmp_path, 2048)  # 344 base64 characters
    settings.BILLING_STS_CERTIFICATE = str(path)
    assert [error.id for error in sts_certificate_check(None)] == ["billing.E002"]
    settings.BILLING_STS_CERTIFICATE = str(tmp_path / "missing.cer")
    assert [error.id for error in sts_certificate_check(None)] == ["billing.E002"]
    _key, path = sanitel_certificate(tmp_path, 1024)
    settings.BILLING_STS_CERTIFICATE = str(path)
    assert sts_certificate_check(None) == []


def test_sistema_ts_download(doctor_client, invoices):
    year = timezone.localdate().year
    response = doctor_client.get(reverse("billing:sts_export", args=[year]))
    assert response.status_code == 200 and "NON-CIFRATO" in response["Content-Disposition"]
    assert etree.fromstring(response.content).tag == "precompilata"
    exports_schema_check(response.content)
