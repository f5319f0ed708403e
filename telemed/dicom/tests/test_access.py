"""Access: owner, a doctor the study is shared with (by reference), a doctor the Welbox folder is
shared with; everyone else gets the same 404; sharing, revoking and deleting are audited."""

import pytest
from django.urls import reverse

from telemed.audit.models import AuditEntry
from telemed.boxes import services as box_services
from telemed.boxes.models import Box
from telemed.dicom import selectors, services
from telemed.dicom.models import Instance, Study, StudyShare
from telemed.dicom.tests.conftest import CdImporter, dicom_bytes, logged_in, storage_files

pytestmark = pytest.mark.django_db


@pytest.fixture
def study(importer, patient, run_tasks):
    importer.import_bytes({"CD/A": dicom_bytes("CT_small.dcm")}, run_tasks)
    return Study.objects.get()


def urls_of(study):
    instance = Instance.objects.get(series__study=study)
    return [
        reverse("dicom:study", args=[study.pk]),
        reverse("dicom:series_images", args=[instance.series_id]),
        reverse("dicom:series_thumbnail", args=[instance.series_id]),
        reverse("dicom:instance_image", args=[instance.pk]),
    ]


def test_the_owner_reads_and_the_page_is_audited(study, importer, patient):
    for url in urls_of(study):
        assert importer.client.get(url).status_code == 200, url
    page = importer.client.get(reverse("dicom:study", args=[study.pk])).content.decode()
    assert 'data-testid="viewer"' in page and "Lung" in page and "Brain" in page
    assert AuditEntry.objects.filter(action="view", target_type="dicom.study", patient=patient).count() == 2
    assert importer.client.get(reverse("dicom:studies")).status_code == 200


def test_another_patient_and_an_unshared_doctor_get_404(study, other_patient, doctor):
    for user in (other_patient, doctor):
        client = logged_in(user)
        for url in urls_of(study):
            assert client.get(url).status_code == 404, (user, url)
        assert client.post(reverse("dicom:study_deidentified", args=[study.pk])).status_code == 404
        assert client.post(reverse("dicom:study_delete", args=[study.pk])).status_code == 404
    assert not selectors.study_list_for_user(doctor).exists()


def test_sharing_by_reference_until_revoked(study, importer, patient, doctor):
    used = Box.objects.get(owner=patient).used_bytes
    response = importer.client.post(reverse("dicom:study_share", args=[study.pk]), {"doctor": doctor.pk})
    assert response.status_code == 302
    share = StudyShare.objects.get()
    doctor_client = logged_in(doctor)
    for url in urls_of(study):
        assert doctor_client.get(url).status_code == 200, url
    # By reference: no copy in the doctor's Medbox, nothing more counted anywhere.
    assert (
        Box.objects.get(owner=patient).used_bytes == used
        and not Box.objects.filter(owner=doctor, used_bytes__gt=0).exists()
    )
    assert list(selectors.studies_shared_with(doctor)) == [study]
    entry = AuditEntry.objects.filter(target_type="dicom.study", actor=doctor, action="view").get()
    assert entry.patient == patient
    # The doctor cannot pass it on, nor delete it.
    assert doctor_client.post(reverse("dicom:study_share", args=[study.pk]), {"doctor": doctor.pk}).status_code == 404
    assert doctor_client.post(reverse("dicom:study_delete", args=[study.pk])).status_code == 404
    importer.client.post(reverse("dicom:share_revoke", args=[share.pk]))
    for url in urls_of(study):
        assert doctor_client.get(url).status_code == 404
    actions = set(AuditEntry.objects.filter(target_type="dicom.study", actor=patient).values_list("action", flat=True))
    assert {"share", "unshare", "upload"} <= actions


def test_sharing_the_welbox_folder_shares_the_studies_in_it(patient, doctor, run_tasks):
    folder = box_services.folder_create(actor=patient, name="Radiologia")
    CdImporter(logged_in(patient)).import_bytes({"CD/A": dicom_bytes("CT_small.dcm")}, run_tasks, into=folder)
    study = Study.objects.get()
    assert study.folder == folder
    assert logged_in(doctor).get(reverse("dicom:study", args=[study.pk])).status_code == 404
    box_services.folder_share(actor=patient, folder=folder, doctor=doctor)
    assert logged_in(doctor).get(reverse("dicom:study", args=[study.pk])).status_code == 200


def test_only_a_patient_shares_and_only_with_a_doctor(study, patient, other_patient):
    with pytest.raises(Exception) as refused:
        services.study_share(actor=patient, study=study, doctor=other_patient)
    assert "only with a doctor" in str(refused.value)


def test_deleting_a_study_frees_its_space_and_files(study, importer, patient, dicom_files):
    assert Box.objects.get(owner=patient).used_bytes > 0
    importer.client.get(reverse("dicom:instance_image", args=[Instance.objects.get().pk]))
    with_files = storage_files(dicom_files)
    assert len(with_files) == 1
    from django.test import TestCase

    with TestCase.captureOnCommitCallbacks(execute=True):
        response = importer.client.post(reverse("dicom:study_delete", args=[study.pk]))
    assert response.status_code == 302
    box = Box.objects.get(owner=patient)
    assert (box.used_bytes, box.reserved_bytes) == (0, 0)
    assert storage_files(dicom_files) == [] and not Study.objects.exists()
    assert AuditEntry.objects.filter(action="delete", target_type="dicom.study").count() == 1


def test_bad_ids_are_404_not_500(importer):
    for url in ["/dicom/studies/999999/", "/dicom/series/999999/images", "/dicom/instances/999999/image.png",
                "/dicom/imports/00000000-0000-0000-0000-000000000000/"]:  # fmt: skip
        assert importer.client.get(url).status_code == 404
