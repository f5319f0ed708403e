"""Oscuramento: a patient hides a Welbox document from every doctor it is shared with, and shows
it again; the hidden document is neither listed nor read by them, and the access log says so."""

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from telemed.audit.models import AuditEntry
from telemed.boxes import hiding, services
from telemed.boxes.models import Document
from telemed.boxes.tests.conftest import Uploader, logged_in, pdf_bytes
from telemed.boxes.tests.test_access import reading_urls

pytestmark = pytest.mark.django_db


@pytest.fixture
def shared_document(uploader, patient, doctor) -> Document:
    """A document shared with the doctor twice over: directly, and through its folder."""
    folder = services.folder_create(actor=patient, name="Cardiologia")
    uploader.upload("Referto ECG.pdf", pdf_bytes(), folder=folder.pk)
    document = Document.objects.get(box__owner=patient)
    services.document_share(actor=patient, document=document, doctor=doctor)
    services.folder_share(actor=patient, folder=folder, doctor=doctor)
    return document


def test_a_hidden_document_is_neither_listed_nor_read_by_the_doctor_until_shown_again(
    shared_document, patient_client, doctor_client
):
    document = shared_document
    assert "Referto ECG.pdf" in doctor_client.get(reverse("boxes:shared_with_me")).content.decode()

    assert patient_client.post(reverse("boxes:document_hide", args=[document.pk])).status_code == 302
    assert "Referto ECG.pdf" not in doctor_client.get(reverse("boxes:shared_with_me")).content.decode()
    for url in reading_urls(document):
        assert doctor_client.get(url).status_code == 404, url
    # The patient still has it, marked as hidden; the shares are kept for the undo.
    assert "hidden from doctors" in patient_client.get(reverse("boxes:home")).content.decode()
    assert patient_client.get(reverse("boxes:document_download", args=[document.pk])).status_code == 200
    assert document.shares.filter(revoked_at__isnull=True).count() == 1

    assert patient_client.post(reverse("boxes:document_show", args=[document.pk])).status_code == 302
    assert "Referto ECG.pdf" in doctor_client.get(reverse("boxes:shared_with_me")).content.decode()
    for url in reading_urls(document):
        assert doctor_client.get(url).status_code == 200, url


def test_hiding_and_showing_are_in_the_patients_access_log_once_each(shared_document, patient, patient_client):
    document = shared_document
    for _ in range(2):  # a second click changes nothing and records nothing
        patient_client.post(reverse("boxes:document_hide", args=[document.pk]))
    for _ in range(2):
        patient_client.post(reverse("boxes:document_show", args=[document.pk]))
    entries = AuditEntry.objects.filter(patient=patient, target_type="boxes.document", action__in=["hide", "unhide"])
    assert list(entries.order_by("at", "id").values_list("action", flat=True)) == ["hide", "unhide"]
    log = patient_client.get(reverse("audit:my_access_log")).content.decode()
    assert "hidden from doctors" in log and "shown to doctors again" in log


def test_only_the_patient_who_owns_the_document_can_hide_it(shared_document, doctor, doctor_client, other_patient):
    document = shared_document
    assert doctor_client.post(reverse("boxes:document_hide", args=[document.pk])).status_code == 404
    assert logged_in(other_patient).post(reverse("boxes:document_hide", args=[document.pk])).status_code == 404
    with pytest.raises(PermissionDenied):
        hiding.record_hide_from_doctors(actor=doctor, record=document)
    document.refresh_from_db()
    assert document.hidden_from_doctors_at is None


def test_a_doctor_cannot_hide_a_medbox_document(doctor, doctor_client):
    Uploader(doctor_client).upload("Nota.pdf", pdf_bytes())
    note = Document.objects.get(box__owner=doctor)
    with pytest.raises(PermissionDenied):
        hiding.record_hide_from_doctors(actor=doctor, record=note)
    assert "hide-form" not in doctor_client.get(reverse("boxes:document", args=[note.pk])).content.decode()
