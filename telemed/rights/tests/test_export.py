"""The data export: asked on the page, built by the task into one ZIP whose index.json lists
every item, with the patient's record as an HL7 FHIR R4 Bundle, downloaded only by its owner,
announced once when ready."""

import io
import json
import uuid
import zipfile

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from conftest import verified_client
from telemed.audit.models import AuditEntry
from telemed.boxes import selectors as box_selectors
from telemed.care import services as care
from telemed.consults import services as consults
from telemed.consults.tests.conftest import offer_consults, pdf_bytes, welbox_document
from telemed.dicom import selectors as dicom_selectors
from telemed.notifications.models import Notification
from telemed.portal.management.commands.load_demo import demo_study_import
from telemed.rights import services
from telemed.rights.models import DataExport

try:  # a test dependency: without it the Bundle's shape goes unchecked, what it holds still is
    from fhir.resources.R4B import get_fhir_model_class
except ImportError:
    get_fhir_model_class = None

pytestmark = pytest.mark.django_db


def unzip(response) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def test_the_patients_zip_holds_every_welbox_item_and_its_index_lists_them(make_patient, run_tasks):
    patient = make_patient()
    welbox_document(patient, name="Esame sangue.pdf", data=pdf_bytes("sangue"))
    welbox_document(patient, name="Esame: tiroide?.pdf")  # a name that is no file name everywhere
    demo_study_import(patient)
    client = verified_client(patient, language="en")

    assert client.post(reverse("rights:export")).status_code == 302
    assert "being prepared" in client.get(reverse("rights:export")).content.decode()
    run_tasks()
    export = DataExport.objects.get(user=patient)
    page = client.get(reverse("rights:export")).content.decode()
    assert export.state == "ready" and reverse("rights:export_download", args=[export.pk]) in page

    archive = unzip(client.get(reverse("rights:export_download", args=[export.pk])))
    index = json.loads(archive.read("index.json"))
    listed = {(item["type"], item["id"]) for item in index["items"]}
    documents = box_selectors.document_list_for_user(patient)
    studies = dicom_selectors.studies_owned_by(patient)
    assert {("document", str(d.pk)) for d in documents} | {("study", str(s.pk)) for s in studies} <= listed
    names = archive.namelist()
    for item in index["items"]:
        assert any(name.startswith(item["path"]) for name in names), item
        assert ":" not in item["path"] and "?" not in item["path"]
    document = documents.get(name="Esame sangue.pdf")
    entry = next(i for i in index["items"] if i["id"] == str(document.pk) and i["type"] == "document")
    assert archive.read(entry["path"]) == document.file.open("rb").read()
    assert sum(1 for name in names if name.startswith("studies/")) == 11  # every DICOM file as imported
    assert AuditEntry.objects.filter(actor=patient, action="export", patient=patient).count() == 1


def test_the_export_is_built_and_announced_once_when_the_task_runs_twice(make_patient, run_tasks, run_tasks_twice):
    patient = make_patient()
    welbox_document(patient)
    run_tasks()  # the registration's e-mail
    services.export_request(actor=patient)
    assert run_tasks_twice() == ["export_build", "send_notification_emails"]
    export = DataExport.objects.get(user=patient)
    assert export.state == "ready" and export.items_done == export.items_total == 2  # the document, the FHIR Bundle
    assert Notification.objects.filter(recipient=patient, kind=services.NOTIFY_EXPORT_READY).count() == 1


def test_asking_again_while_one_is_prepared_returns_it_and_a_new_one_replaces_the_old_zip(
    make_patient, run_tasks, django_capture_on_commit_callbacks
):
    patient = make_patient()
    first, created = services.export_request(actor=patient)
    again, created_again = services.export_request(actor=patient)
    assert created and not created_again and again == first
    run_tasks()
    first.refresh_from_db()
    assert default_storage.exists(first.file_name)
    with django_capture_on_commit_callbacks(execute=True):
        services.export_request(actor=patient)
    run_tasks()
    assert not default_storage.exists(first.file_name) and DataExport.objects.filter(user=patient).count() == 1


def test_nobody_else_downloads_an_export_and_bad_ids_are_404(make_patient, make_doctor, run_tasks):
    patient, stranger = make_patient(), make_patient()
    export, _ = services.export_request(actor=patient)
    run_tasks()
    url = reverse("rights:export_download", args=[export.pk])
    assert verified_client(stranger).get(url).status_code == 404
    assert verified_client(make_doctor()).get(url).status_code == 404
    assert verified_client(patient).get("/rights/export/not-a-uuid/download").status_code == 404


def test_a_doctors_export_holds_the_medbox(make_doctor, run_tasks):
    doctor = make_doctor()
    welbox_document(doctor, name="Nota clinica.pdf")  # the same upload files it in the Medbox
    services.export_request(actor=doctor)
    run_tasks()
    export = DataExport.objects.get(user=doctor)
    archive = unzip(verified_client(doctor).get(reverse("rights:export_download", args=[export.pk])))
    index = json.loads(archive.read("index.json"))
    assert [item["title"] for item in index["items"] if item["type"] == "document"] == ["Nota clinica.pdf"]


def asked_consult(patient, doctor, question: str, message: str):
    """A base consult ``patient`` asked ``doctor``, with one message of its thread."""
    consult, _created = consults.consult_request(
        actor=patient, doctor=doctor.doctor_profile,
        draft=consults.ConsultDraft(kind="base", question=question, document_ids=(), accepted_terms=True,
                                    idempotency_key=uuid.uuid4()),
    )  # fmt: skip
    return consults.consult_message_send(actor=patient, consult=consult, text=message)


def test_the_patients_zip_holds_their_record_as_a_fhir_bundle_and_nobody_elses(make_patient, make_doctor, run_tasks):
    doctor = make_doctor(first_name="Anna", last_name="Bianchi")
    offer_consults(doctor)
    patient = make_patient(first_name="Maria", last_name="Rossi")
    other = make_patient(first_name="Ugo", last_name="Neri")
    links = [
        care.care_accept(actor=doctor, link=care.care_request(actor=person, doctor=doctor))
        for person in (patient, other)
    ]
    document = welbox_document(patient, name="ecg-referto.pdf")
    others_document = welbox_document(other, name="ginocchio-rx.pdf")
    message = asked_consult(patient, doctor, "Palpitazioni notturne.", "Ho anche capogiri al mattino.")
    others_message = asked_consult(other, doctor, "Dolore al ginocchio destro.", "Peggiora in salita.")
    services.export_request(actor=patient)
    run_tasks()

    export = DataExport.objects.get(user=patient)
    archive = unzip(verified_client(patient).get(reverse("rights:export_download", args=[export.pk])))
    index = json.loads(archive.read("index.json"))
    entry = next(item for item in index["items"] if item["type"] == "fhir")
    assert entry["path"] == "fhir/patient-bundle.json" and entry["media_type"] == "application/fhir+json"
    assert "HL7 FHIR R4" in entry["description"] and "HL7 FHIR R4" in entry["title"]
    bundle = json.loads(archive.read("fhir/patient-bundle.json"))
    if get_fhir_model_class is not None:
        get_fhir_model_class("Bundle").model_validate(bundle)
        for item in bundle["entry"]:
            get_fhir_model_class(item["resource"]["resourceType"]).model_validate(item["resource"])
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    found = {(item["resource"]["resourceType"], item["resource"]["id"]) for item in bundle["entry"]}
    assert found == {
        ("Patient", str(patient.pk)),
        ("Consent", str(links[0].pk)),
        ("DocumentReference", str(document.pk)),
        ("Communication", f"consult-{message.pk}"),
        ("Practitioner", str(doctor.pk)),
    }
    assert ("DocumentReference", str(others_document.pk)) not in found
    assert ("Communication", f"consult-{others_message.pk}") not in found
    text = archive.read("fhir/patient-bundle.json").decode()
    for trace in ("Neri", other.patient_profile.codice_fiscale, "ginocchio", "Peggiora in salita"):
        assert trace not in text
