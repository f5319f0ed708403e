"""Access: a patient never reaches another patient's box; a doctor reaches a Welbox only for what
the patient shared; every view and download is audited; the file responses' headers."""

import io

import pytest
from django.urls import reverse

from telemed.audit.models import AuditEntry
from telemed.boxes import services, uploads, views
from telemed.boxes.models import Document, Folder
from telemed.boxes.tests.conftest import Uploader, logged_in, pdf_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def document(uploader, patient) -> Document:
    uploader.upload("Referto.pdf", pdf_bytes())
    return Document.objects.get(box__owner=patient)


def reading_urls(document):
    return [
        reverse("boxes:document", args=[document.pk]),
        reverse("boxes:document_download", args=[document.pk]),
        reverse("boxes:document_preview", args=[document.pk]),
    ]


def changing_urls(document):
    return [
        (reverse("boxes:document_rename", args=[document.pk]), {"name": "pwned"}),
        (reverse("boxes:document_move", args=[document.pk]), {"category": "other"}),
        (reverse("boxes:document_delete", args=[document.pk]), {}),
        (reverse("boxes:document_share", args=[document.pk]), {"doctor": "1"}),
    ]


def test_anonymous_visitors_are_sent_to_log_in(client, document):
    for url in [reverse("boxes:home"), *reading_urls(document)]:
        response = client.get(url)
        assert response.status_code == 302 and reverse("accounts:login") in response.url


def test_a_patient_never_reaches_another_patients_box(document, other_patient):
    stranger = logged_in(other_patient)
    for url in reading_urls(document):
        assert stranger.get(url).status_code == 404
    for url, data in changing_urls(document):
        assert stranger.post(url, data).status_code == 404
    assert "Referto.pdf" not in stranger.get(reverse("boxes:home")).content.decode()
    document.refresh_from_db()
    assert document.name == "Referto.pdf"
    assert not AuditEntry.objects.filter(actor=other_patient).exists()


def test_a_doctor_reads_a_welbox_document_only_while_it_is_shared(
    document, patient, patient_client, doctor, doctor_client
):
    for url in reading_urls(document):
        assert doctor_client.get(url).status_code == 404
    response = patient_client.post(reverse("boxes:document_share", args=[document.pk]), {"doctor": doctor.pk})
    assert response.status_code == 302
    for url in reading_urls(document):
        assert doctor_client.get(url).status_code == 200
    shared = doctor_client.get(reverse("boxes:shared_with_me")).content.decode()
    assert "Referto.pdf" in shared and "Anna Conti" in shared
    # Reading is not changing: the doctor cannot rename, move, delete or re-share it.
    for url, data in changing_urls(document):
        assert doctor_client.post(url, data).status_code == 404
    share = document.shares.get()
    patient_client.post(reverse("boxes:share_revoke", args=[share.pk]))
    for url in reading_urls(document):
        assert doctor_client.get(url).status_code == 404


def test_sharing_a_folder_shares_what_is_in_it_now(uploader, patient, doctor, doctor_client):
    folder = services.folder_create(actor=patient, name="Cardiologia")
    uploader.upload("ecg.pdf", pdf_bytes(), folder=folder.pk)
    uploader.upload("other.pdf", pdf_bytes())
    in_folder, outside = Document.objects.get(name="ecg.pdf"), Document.objects.get(name="other.pdf")
    services.folder_share(actor=patient, folder=folder, doctor=doctor)
    assert doctor_client.get(reverse("boxes:document", args=[in_folder.pk])).status_code == 200
    assert doctor_client.get(reverse("boxes:document", args=[outside.pk])).status_code == 404
    services.document_move(actor=patient, document=in_folder, folder=None)
    assert doctor_client.get(reverse("boxes:document", args=[in_folder.pk])).status_code == 404


def test_only_a_patient_shares_and_only_with_a_doctor(document, patient, other_patient, doctor):
    from django.core.exceptions import PermissionDenied, ValidationError

    with pytest.raises(ValidationError):
        services.document_share(actor=patient, document=document, doctor=other_patient)
    with pytest.raises(PermissionDenied):
        services.document_share(actor=other_patient, document=document, doctor=doctor)
    first = services.document_share(actor=patient, document=document, doctor=doctor)
    assert services.document_share(actor=patient, document=document, doctor=doctor) == first


def test_a_patient_does_not_read_the_doctors_medbox(doctor, doctor_client, patient, patient_client):
    Uploader(doctor_client).upload("notes.txt", b"Anamnesi: nulla di rilevante.\n")
    note = Document.objects.get(box__owner=doctor)
    for url in reading_urls(note):
        assert patient_client.get(url).status_code == 404


def test_every_view_and_download_is_audited_with_who_what_when_where(
    document, patient, patient_client, doctor, doctor_client
):
    services.document_share(actor=patient, document=document, doctor=doctor)
    doctor_client.get(
        reverse("boxes:document_preview", args=[document.pk]), HTTP_USER_AGENT="Firefox/130", REMOTE_ADDR="10.1.2.3"
    )
    doctor_client.get(reverse("boxes:document_download", args=[document.pk]))
    entries = AuditEntry.objects.filter(actor=doctor).order_by("at")
    assert [entry.action for entry in entries] == ["view", "download"]
    view = entries[0]
    assert view.patient == patient and view.target_type == "boxes.document" and view.target_id == str(document.pk)
    assert view.ip_address == "10.1.2.3" and view.user_agent == "Firefox/130" and view.target_label == "Referto.pdf"
    page = patient_client.get(reverse("audit:my_access_log")).content.decode()
    assert "Marco Bianchi" in page and "downloaded" in page and "viewed" in page


def test_a_preview_fetched_again_at_once_is_one_viewing_but_every_download_counts(
    document, doctor, doctor_client, patient, monkeypatch
):
    import datetime

    from django.utils import timezone

    services.document_share(actor=patient, document=document, doctor=doctor)
    preview, download = (
        reverse(name, args=[document.pk]) for name in ("boxes:document_preview", "boxes:document_download")
    )
    for _ in range(5):  # a PDF viewer fetching the same file again and again
        doctor_client.get(preview)
    doctor_client.get(download)
    doctor_client.get(download)
    assert list(AuditEntry.objects.filter(actor=doctor).order_by("at", "id").values_list("action", flat=True)) == [
        "view",
        "download",
        "download",
    ]
    later = timezone.now() + datetime.timedelta(seconds=services.VIEW_COALESCE_SECONDS + 1)
    monkeypatch.setattr("django.utils.timezone.now", lambda: later)
    doctor_client.get(preview)  # a new viewing, a minute later
    assert AuditEntry.objects.filter(actor=doctor, action="view").count() == 2


def test_the_file_responses_headers(document, patient_client):
    download = patient_client.get(reverse("boxes:document_download", args=[document.pk]))
    assert download["Content-Disposition"].startswith("attachment") and "Referto.pdf" in download["Content-Disposition"]
    assert "no-store" in download["Cache-Control"] and "private" in download["Cache-Control"]
    assert download["X-Content-Type-Options"] == "nosniff" and download["Content-Type"] == "application/pdf"
    assert download["X-Frame-Options"] == "DENY"
    assert b"".join(download.streaming_content).startswith(b"%PDF")
    preview = patient_client.get(reverse("boxes:document_preview", args=[document.pk]))
    assert preview["Content-Disposition"].startswith("inline")
    assert preview["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in preview["Content-Security-Policy"]
    page = patient_client.get(reverse("boxes:document", args=[document.pk]))
    assert "frame-src 'self'" in page["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in page["Content-Security-Policy"]


def test_renaming_and_moving_refuse_bad_input_and_change_nothing(document, patient, patient_client, other_patient):
    theirs = services.folder_create(actor=other_patient, name="Loro")
    rename = reverse("boxes:document_rename", args=[document.pk])
    for name in ["", "   ", "a/b", "x" * 10_000, "nul\x00"]:
        response = patient_client.post(rename, {"name": name}, follow=True)
        assert response.status_code == 200
        assert 'class="message error"' in response.content.decode()
    response = patient_client.post(
        reverse("boxes:document_move", args=[document.pk]), {"folder": theirs.pk, "category": "exam"}, follow=True
    )
    assert "Select a valid choice" in response.content.decode()
    with pytest.raises(Exception, match="does not exist"):
        services.document_move(actor=patient, document=document, folder=theirs)
    document.refresh_from_db()
    assert (document.name, document.folder, document.category) == ("Referto.pdf", None, "report")
    patient_client.post(rename, {"name": "  Referto 2026.pdf "})
    document.refresh_from_db()
    assert document.name == "Referto 2026.pdf"


def test_search_by_name_category_and_date(uploader, patient_client):
    uploader.upload("Ecografia addome.pdf", pdf_bytes(), category="imaging")
    uploader.upload("Ricetta.pdf", pdf_bytes(), category="prescription")
    home = reverse("boxes:home")
    page = patient_client.get(home, {"q": "ecografia"}).content.decode()
    assert "Ecografia addome.pdf" in page and "Ricetta.pdf" not in page
    page = patient_client.get(home, {"category": "prescription"}).content.decode()
    assert "Ricetta.pdf" in page and "Ecografia addome.pdf" not in page
    page = patient_client.get(home, {"date_from": "2000-01-01", "date_to": "2000-12-31"}).content.decode()
    assert "Ricetta.pdf" not in page and "No document matches" in page
    for nonsense in [
        {"date_from": "yesterday"},
        {"category": "<script>"},
        {"folder": "999999"},
        {"folder": "x"},
        {"q": "x" * 10000},
    ]:
        assert patient_client.get(home, nonsense).status_code == 200


def test_folders_in_a_medbox_per_patient(doctor, doctor_client, patient, document):
    response = doctor_client.post(reverse("boxes:folder_create"), {"name": "Rossi Mario"})
    assert response.status_code == 302
    folder = Folder.objects.get(box__owner=doctor)
    # A patient account can be linked only once the patient shares something with the doctor.
    response = doctor_client.post(reverse("boxes:folder_create"), {"name": "Conti Anna", "patient": patient.pk})
    assert not Folder.objects.filter(name="Conti Anna").exists()
    services.document_share(actor=patient, document=document, doctor=doctor)
    doctor_client.post(reverse("boxes:folder_create"), {"name": "Conti Anna", "patient": patient.pk})
    linked = Folder.objects.get(name="Conti Anna")
    assert linked.patient == patient
    Uploader(doctor_client).upload("visita.txt", b"Visita del 3 marzo.\n", folder=linked.pk)
    note = Document.objects.get(name="visita.txt")
    doctor_client.get(reverse("boxes:document_download", args=[note.pk]))
    # The patient's own page shows that their doctor opened their record.
    assert AuditEntry.objects.filter(patient=patient, action="download", target_id=str(note.pk)).exists()
    page = doctor_client.get(reverse("boxes:home")).content.decode()
    assert "Rossi Mario" in page and "Medbox" in page
    assert doctor_client.post(reverse("boxes:folder_delete", args=[linked.pk])).status_code == 302
    assert Folder.objects.filter(pk=linked.pk).exists()  # not empty
    doctor_client.post(reverse("boxes:folder_delete", args=[folder.pk]))
    assert not Folder.objects.filter(pk=folder.pk).exists()


def test_only_doctors_and_patients_have_a_box(db):
    from telemed.accounts import consents
    from telemed.accounts.models import Role, User

    secretary = User.objects.create_user(
        "s@example.test", "x-long-password-1", first_name="S", last_name="T", role=Role.SECRETARY
    )
    consents.consents_give(user=secretary, kinds=consents.required_kinds(secretary))
    client = logged_in(secretary)
    assert client.get(reverse("boxes:home")).status_code == 403
    assert client.post(reverse("boxes:upload_create"), {"name": "a", "size": "1"}).status_code == 403


def test_the_box_lists_its_documents_a_page_at_a_time_and_its_pages_keep_the_search(patient, patient_client):
    content = pdf_bytes()
    for n in range(views.DOCUMENTS_PAGE_SIZE + 1):
        upload = uploads.upload_start(actor=patient, name=f"Esame {n:03d}.pdf", size=len(content), category="exam")
        uploads.upload_append(actor=patient, upload=upload, offset=0, stream=io.BytesIO(content), length=len(content))
    first = patient_client.get(reverse("boxes:home")).content.decode()
    assert first.count('data-testid="document-row"') == views.DOCUMENTS_PAGE_SIZE
    assert f"Esame {views.DOCUMENTS_PAGE_SIZE:03d}.pdf" in first and "Esame 000.pdf" not in first  # the newest first
    searched = patient_client.get(reverse("boxes:home"), {"category": "exam"}).content.decode()
    assert "?category=exam&amp;page=2" in searched
    second = patient_client.get(reverse("boxes:home"), {"category": "exam", "page": 2}).content.decode()
    assert second.count('data-testid="document-row"') == 1 and "Esame 000.pdf" in second
