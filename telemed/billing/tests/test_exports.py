"""Records for the accountant (CSV, XLSX), the donation summaries and the Sistema TS file."""

import base64
import csv
import datetime
import io
from decimal import Decimal as D

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from django.urls import reverse
from django.utils import timezone
from lxml import etree
from openpyxl import load_workbook

from conftest import log_in
from telemed.billing import donations, exports, payments, selectors
from telemed.billing.invoices import credit_note_issue

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
    response = doctor_client.get(reverse("billing:export"), {"start": today.replace(day=1), "end": today, "format": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig")), delimiter=";"))
    assert len(rows) == 4
    assert [row[0] for row in rows[1:]] == [invoices[0].display_number, invoices[1].display_number, invoices[2].display_number]
    assert rows[1][11] == "85.00" and rows[3][11] == "-85.00" and rows[3][16] == invoices[0].display_number

    response = doctor_client.get(reverse("billing:export"), {"start": today.replace(day=1), "end": today, "format": "xlsx"})
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    values = list(sheet.values)
    assert len(values) == 4 and values[1][11] == 85.0 and values[2][15] in {"sì", "yes"}


@pytest.mark.parametrize(
    "query",
    [{}, {"start": "2026-02-30", "end": "x", "format": "csv"}, {"start": "2026-03-01", "end": "2026-01-01", "format": "csv"},
     {"start": "2026-01-01", "end": "2026-02-01", "format": "pdf"}],
)
def test_bad_export_periods_get_a_message_not_a_500(doctor_client, query):
    response = doctor_client.get(reverse("billing:export"), query)
    assert response.status_code == 302


def test_donations_by_doctor_and_by_charity(doctor_client, doctor, invoices, staff, client, charity):
    year = timezone.localdate().year
    summary = selectors.donations_by_year_of_doctor(doctor)
    # 7.95 + 4.45 donated, then 7.95 taken back by the credit note.
    assert summary == [{"year": year, "charity": charity.name, "amount": D("4.45")}]
    rows = list(csv.reader(io.StringIO(b"".join(doctor_client.get(reverse("billing:donations_csv", args=[year])).streaming_content).decode("utf-8-sig")), delimiter=";"))
    assert rows[-1][-1] == "4.45"
    assert selectors.donations_by_charity(year) == [{"charity": charity.name, "amount": D("4.45"), "doctors": 1}]
    assert doctor_client.get("/billing/donations/notayear.csv").status_code == 404
    log_in(client, staff)
    response = client.get(reverse("billing:staff_donations_csv", args=[year]))
    assert charity.name in b"".join(response.streaming_content).decode("utf-8-sig")


def sts(doctor, invoices, encrypt):
    xml = exports.sts_document(doctor_codice_fiscale=doctor.codice_fiscale, invoices=invoices, encrypt=encrypt)
    return etree.fromstring(xml)


def test_sistema_ts_file_without_certificate_says_so(doctor, invoices):
    first, second, note = invoices
    root = sts(doctor, invoices, exports.StsEncryptor(""))
    assert root.tag == "precompilata"
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
    opposed = documents[1]
    assert opposed.findtext("flagOpposizione") == "1" and opposed.find("cfCittadino") is None
    refund = documents[2]
    assert refund.findtext("flagOperazione") == "R"
    assert refund.findtext("idRimborso/numDocumentoFiscale/numDocumento") == str(first.number)
    assert refund.findtext("idSpesa/numDocumentoFiscale/dispositivo") == "2"


def test_sistema_ts_file_encrypts_fiscal_codes_with_the_certificate(doctor, invoices, tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Sanitel test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256())
    )  # fmt: skip
    path = tmp_path / "SanitelCF.cer"
    path.write_bytes(certificate.public_bytes(serialization.Encoding.DER))
    root = sts(doctor, invoices, exports.StsEncryptor(str(path)))
    assert not list(root.iter(etree.Comment))
    encrypted = root.findtext("proprietario/cfProprietario")
    assert key.decrypt(base64.b64decode(encrypted), padding.PKCS1v15()).decode() == doctor.codice_fiscale
    citizen = root.find("documentoSpesa").findtext("cfCittadino")
    assert key.decrypt(base64.b64decode(citizen), padding.PKCS1v15()).decode() == invoices[0].buyer["codice_fiscale"]


def test_sistema_ts_download(doctor_client, invoices):
    year = timezone.localdate().year
    response = doctor_client.get(reverse("billing:sts_export", args=[year]))
    assert response.status_code == 200 and "NON-CIFRATO" in response["Content-Disposition"]
    assert etree.fromstring(response.content).tag == "precompilata"
