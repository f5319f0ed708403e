"""Oscuramento of a radiology study: hidden, no doctor lists it, opens it, nor reads one of its
images or a de-identified copy; shown again, the doctor sees it as before."""

import pytest
from django.urls import reverse

from telemed.audit.models import AuditEntry
from telemed.dicom import selectors
from telemed.dicom.models import Study
from telemed.dicom.tests.conftest import dicom_bytes, logged_in
from telemed.dicom.tests.test_access import urls_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def shared_study(importer, patient, doctor, run_tasks):
    importer.import_bytes({"CD/A": dicom_bytes("CT_small.dcm")}, run_tasks)
    study = Study.objects.get()
    importer.client.post(reverse("dicom:study_share", args=[study.pk]), {"doctor": doctor.pk})
    return study


def test_a_hidden_study_is_not_listed_nor_reachable_by_the_doctor_until_shown_again(
    shared_study, importer, patient, doctor
):
    study, doctor_client = shared_study, logged_in(doctor)
    assert importer.client.post(reverse("dicom:study_hide", args=[study.pk])).status_code == 302
    assert list(selectors.studies_shared_with(doctor)) == []
    for url in urls_of(study):
        assert doctor_client.get(url).status_code == 404, url
    assert doctor_client.post(reverse("dicom:study_deidentified", args=[study.pk])).status_code == 404
    assert reverse("dicom:study", args=[study.pk]) not in doctor_client.get(reverse("dicom:studies")).content.decode()
    page = importer.client.get(reverse("dicom:study", args=[study.pk])).content.decode()
    assert 'data-testid="hidden-notice"' in page  # the patient still reads it

    assert importer.client.post(reverse("dicom:study_show", args=[study.pk])).status_code == 302
    assert list(selectors.studies_shared_with(doctor)) == [study]
    for url in urls_of(study):
        assert doctor_client.get(url).status_code == 200, url
    actions = AuditEntry.objects.filter(patient=patient, target_type="dicom.study", action__in=["hide", "unhide"])
    assert sorted(actions.values_list("action", flat=True)) == ["hide", "unhide"]


def test_the_doctor_cannot_hide_or_show_a_study_shared_with_them(shared_study, doctor):
    doctor_client = logged_in(doctor)
    for name in ("dicom:study_hide", "dicom:study_show"):
        assert doctor_client.post(reverse(name, args=[shared_study.pk])).status_code == 404
    shared_study.refresh_from_db()
    assert shared_study.hidden_from_doctors_at is None
