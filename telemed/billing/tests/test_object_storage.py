"""An invoice's PDF with object storage (``STORAGE_URL``) against a real S3-protocol server: in
the bucket, and so are the copies filed in the two boxes; nothing in the media dir."""

import io
from decimal import Decimal as D

import pytest
from pypdf import PdfReader

from telemed.billing import reconciliation
from telemed.billing.models import Invoice
from telemed.billing.tests.conftest import camt053
from telemed.boxes.models import Document

pytestmark = pytest.mark.django_db


def test_an_invoice_pdf_and_its_box_copies_are_objects_in_the_bucket(
    doctor, patient, billed, staff, run_tasks, object_storage, settings
):
    request = billed(doctor, patient, fee="80.00")
    statement = camt053([{"amount": "85.00", "reference": request.reference, "bank_ref": "B1"}])
    reconciliation.statement_import(actor=staff, stream=io.BytesIO(statement), file_name="statement.xml")
    run_tasks()
    invoice = Invoice.objects.get(payment_request=request)
    assert invoice.total == D("85.00") and invoice.pdf and invoice.delivered_at is not None
    copies = list(Document.objects.filter(mime="application/pdf"))
    assert len(copies) == 2
    keys = object_storage.keys()
    assert invoice.pdf.name in keys and {document.file.name for document in copies} <= set(keys)
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(object_storage.read(invoice.pdf.name))).pages)
    assert invoice.display_number in text and doctor.partita_iva in text
    assert list((settings.VAR_DIR / "media").iterdir()) == []
