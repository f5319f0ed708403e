"""A signed report with object storage (``STORAGE_URL``) against a real S3-protocol server: its
PDF and the copies filed in the two boxes are objects in the bucket, the patient downloads it
through a short-lived signed link; nothing in the media dir."""

import urllib.parse
import urllib.request

import blake3
import pytest
from django.urls import reverse

from conftest import log_in
from telemed.boxes.models import Document
from telemed.reports import services
from telemed.reports.tests.test_reports import CONTENT

pytestmark = pytest.mark.django_db


def test_a_signed_report_is_in_the_bucket_and_downloaded_through_a_signed_link(
    linked_pair, next_code, run_tasks, client, object_storage, settings
):
    doctor, patient = linked_pair()
    report = services.report_create(actor=doctor, patient=patient, kind="report", content=CONTENT)
    report = services.report_sign(actor=doctor, report=report, code=next_code(doctor))
    run_tasks()
    report.refresh_from_db()
    signed = object_storage.read(report.pdf.name)
    assert signed.startswith(b"%PDF-") and len(signed) == report.pdf_size
    copies = list(Document.objects.all())
    assert len(copies) == 2 and {document.digest for document in copies} == {blake3.blake3(signed).hexdigest()}
    assert {report.pdf.name} | {document.file.name for document in copies} <= set(object_storage.keys())

    welbox_copy = Document.objects.get(box__owner=patient)
    response = log_in(client, patient).get(reverse("boxes:document_download", args=[welbox_copy.pk]))
    assert response.status_code == 302
    link = response["Location"]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)
    assert query["X-Amz-Expires"] == ["60"] and "X-Amz-Signature" in query
    with urllib.request.urlopen(link) as answer:
        assert answer.read() == signed
    assert list((settings.VAR_DIR / "media").iterdir()) == []
