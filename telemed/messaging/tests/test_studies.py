"""Radiology studies travel in Intramed: by reference (the colleagues open them in the same viewer,
until the sender stops sharing) or as de-identified copies; never to patients, never someone else's."""

import io
import zipfile

import pydicom
import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from conftest import verified_client
from telemed.boxes import selectors as boxes
from telemed.boxes import services as box_services
from telemed.dicom import selectors as dicom_selectors
from telemed.dicom import services as dicom_services
from telemed.dicom.models import StudyShare
from telemed.messaging import services
from telemed.messaging.models import Attachment, Conversation, Message
from telemed.portal.management.commands.load_demo import demo_study_import

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def own_files(files_in_tmp):
    return files_in_tmp


@pytest.fixture
def radiologist(make_doctor):
    """A doctor with the demo MR study in their Medbox."""
    doctor = make_doctor(email="radiologo@example.test", first_name="Elena", last_name="Ferri")
    medbox_study(doctor)
    return doctor


def medbox_study(doctor):
    """The demo MR imported into a patient folder of the doctor's Medbox (a doctor's CD goes into one)."""
    demo_study_import(doctor, folder=box_services.folder_create(actor=doctor, name="Rossi Mario"))
    return study_of(doctor)


def study_of(doctor):
    return dicom_selectors.studies_owned_by(doctor).get()


def test_a_study_sent_in_intramed_opens_for_the_colleagues_in_the_viewer_until_unshared(radiologist, make_doctor):
    colleague, outsider = make_doctor(email="collega@example.test"), make_doctor(email="altro@example.test")
    study = study_of(radiologist)
    conversation = services.conversation_start_intramed(
        actor=radiologist, doctors=[colleague], text="Cosa ne pensi di questa RM?", study_ids=[study.pk]
    )
    attachment = Attachment.objects.get()
    assert attachment.study == study and attachment.document is None and attachment.size == study.size
    payload = services.message_payload(Message.objects.get())
    assert payload["attachments"] == [
        {"id": attachment.pk, "name": str(study), "study": True, "url": f"/dicom/studies/{study.pk}/"}
    ]

    # The colleague reads it where it is: study page, viewer stack and images; the outsider does not.
    client = verified_client(colleague)
    page = client.get(f"/messages/{conversation.pk}/")
    assert page.status_code == 200 and f'href="/dicom/studies/{study.pk}/"'.encode() in page.content
    assert client.get(reverse("dicom:study", args=[study.pk])).status_code == 200
    series = dicom_selectors.series_list_for_study(study).first()
    images = client.get(reverse("dicom:series_images", args=[series.pk]))
    assert images.status_code == 200
    assert verified_client(outsider).get(reverse("dicom:study", args=[study.pk])).status_code == 404
    # The sender sees who has it on the study page, and stops sharing from there.
    owner_page = verified_client(radiologist).get(reverse("dicom:study", args=[study.pk]))
    assert b"study-share-list" in owner_page.content and colleague.last_name.encode() in owner_page.content
    share = StudyShare.objects.get(study=study, doctor=colleague)
    dicom_services.study_share_revoke(actor=radiologist, share=share)
    assert client.get(reverse("dicom:study", args=[study.pk])).status_code == 404
    assert not dicom_selectors.study_list_for_user(colleague).exists()


def test_a_de_identified_copy_travels_instead_of_the_study(radiologist, make_doctor):
    colleague = make_doctor(email="collega@example.test")
    study = study_of(radiologist)
    used_before = boxes.box_usage(study.box).used
    services.conversation_start_intramed(
        actor=radiologist, doctors=[colleague], text="Copia anonima", study_ids=[study.pk], deidentified=True
    )
    attachment = Attachment.objects.get()
    assert attachment.study is None and attachment.mime == "application/zip" and "de-identified" in attachment.name
    assert not StudyShare.objects.exists() and not dicom_selectors.study_list_for_user(colleague).exists()
    # The copy is the sender's file, in their quota; the colleague downloads it through the message.
    assert boxes.box_usage(study.box).used == used_before + attachment.size
    response = verified_client(colleague).get(reverse("messaging:attachment", args=[attachment.pk]))
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    images = [name for name in archive.namelist() if name != "DICOMDIR"]
    assert len(images) == study.instance_count and "DICOMDIR" in archive.namelist()  # importable as a CD
    dataset = pydicom.dcmread(io.BytesIO(archive.read(images[0])))
    original = pydicom.dcmread(study.series.first().instances.first().file.open("rb"))
    assert str(original.PatientName) and str(dataset.PatientName) != str(original.PatientName)
    assert dataset.StudyInstanceUID != study.study_instance_uid


def test_studies_never_go_to_patients_and_never_someone_elses(radiologist, make_doctor, make_patient, linked):
    doctor, patient = linked
    study = study_of(radiologist)
    colleague = make_doctor(email="collega@example.test")
    # Someone else's study: refused, nothing stored.
    with pytest.raises(ValidationError, match="not in your Medbox"):
        services.conversation_start_intramed(actor=doctor, doctors=[colleague], text="Guarda", study_ids=[study.pk])
    for bad in ["x", -1, 10**12]:
        with pytest.raises(ValidationError):
            services.conversation_start_intramed(actor=radiologist, doctors=[colleague], text="Guarda", study_ids=[bad])
    assert not Conversation.objects.exists() and not StudyShare.objects.exists()
    # To a patient, even one's own study: refused.
    own = medbox_study(doctor)
    conversation = services.conversation_start_with_patient(actor=doctor, patient=patient, text="Salve")
    with pytest.raises(ValidationError, match="only between doctors"):
        services.message_send(actor=doctor, conversation=conversation, text="La RM", study_ids=[own.pk])
    assert conversation.messages.count() == 1 and not StudyShare.objects.exists()


def test_the_conversation_page_sends_a_study_and_bad_choices_get_a_clear_message(radiologist, make_doctor):
    colleague = make_doctor(email="collega@example.test")
    study = study_of(radiologist)
    conversation = services.conversation_start_intramed(actor=radiologist, doctors=[colleague], text="Ciao")
    client = verified_client(radiologist)
    page = client.get(f"/messages/{conversation.pk}/", HTTP_ACCEPT_LANGUAGE="en")
    assert b'name="studies"' in page.content and b'name="deidentified"' in page.content
    # A study that is not among the sender's: a 400 with the form's message, nothing sent.
    response = client.post(
        f"/messages/{conversation.pk}/", {"text": "Ecco", "studies": ["999999"]}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400 and b"not one of the available choices" in response.content
    assert conversation.messages.count() == 1
    response = client.post(f"/messages/{conversation.pk}/", {"text": "Ecco la RM", "studies": [str(study.pk)]})
    assert response.status_code == 302 and Attachment.objects.get().study == study
    # The colleague's page offers no study of theirs (they have none) and shows the one received.
    page = verified_client(colleague).get(f"/messages/{conversation.pk}/")
    assert b'name="studies"' not in page.content and str(study).encode() in page.content


def test_a_sender_dying_between_the_copy_and_the_message_leaves_nothing_behind(
    radiologist, make_doctor, monkeypatch, run_tasks_twice, django_capture_on_commit_callbacks
):
    """The process dies after the de-identified copy was written and before the message's
    transaction commits: no copy appears in the Medbox, and once its expiry runs the space is
    free and the file gone."""
    from django.core.files.storage import default_storage
    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult

    from telemed.boxes.models import Box, Document, StagedFile

    colleague = make_doctor(email="collega@example.test")
    study = study_of(radiologist)
    run_tasks_twice()
    box_before = Box.objects.values("used_bytes", "reserved_bytes").get(pk=study.box_id)
    documents_before = Document.objects.count()

    class ProcessKilled(BaseException):
        """Stands for SIGKILL: nothing of the sender's runs after it (no clean-up, no except)."""

    monkeypatch.setattr(services, "_discard_copies", lambda copies: None)  # a dead process cleans nothing

    def dies(*args, **kwargs):
        raise ProcessKilled

    monkeypatch.setattr(services, "_append", dies)
    with pytest.raises(ProcessKilled):
        services.conversation_start_intramed(
            actor=radiologist, doctors=[colleague], text="Copia", study_ids=[study.pk], deidentified=True
        )
    staged = StagedFile.objects.get()
    assert Document.objects.count() == documents_before and not Conversation.objects.exists()
    assert Box.objects.get(pk=study.box_id).reserved_bytes == box_before["reserved_bytes"] + staged.reserved_bytes > 0
    assert default_storage.exists(staged.storage_name)

    DBTaskResult.objects.filter(task_path="telemed.boxes.tasks.staged_file_expire").update(run_after=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        assert run_tasks_twice() == ["staged_file_expire"]
    assert not StagedFile.objects.exists() and not default_storage.exists(staged.storage_name)
    assert Box.objects.values("used_bytes", "reserved_bytes").get(pk=study.box_id) == box_before
    assert Document.objects.count() == documents_before


def test_a_refused_message_gives_its_copy_back_at_once(radiologist, make_doctor):
    from telemed.boxes.models import Box, StagedFile

    colleague = make_doctor(email="collega@example.test")
    study = study_of(radiologist)
    box_before = Box.objects.values("used_bytes", "reserved_bytes").get(pk=study.box_id)
    with pytest.raises(ValidationError):
        services.conversation_start_intramed(
            actor=radiologist,
            doctors=[colleague],
            text="Copia",
            study_ids=[study.pk],
            document_ids=[10**9],
            deidentified=True,
        )
    assert not StagedFile.objects.exists() and not Conversation.objects.exists()
    assert Box.objects.values("used_bytes", "reserved_bytes").get(pk=study.box_id) == box_before
