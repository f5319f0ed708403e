"""Staff opening a study in the back office is recorded in the patient's access log."""

import pytest
from django.test import Client
from django.urls import reverse

from conftest import log_in
from telemed.accounts.models import User
from telemed.audit.selectors import audit_entries_for_patient
from telemed.dicom.models import Study
from telemed.dicom.tests.conftest import dicom_bytes

pytestmark = pytest.mark.django_db


def test_a_staff_member_opening_a_study_is_in_the_patients_access_log(importer, patient, run_tasks):
    importer.import_bytes({"CD/A": dicom_bytes("CT_small.dcm")}, run_tasks)
    study = Study.objects.get()
    staff = User.objects.create_superuser("ops@example.test", "a-long-password-1", first_name="Olga", last_name="Ops")
    client = log_in(Client(), staff)
    assert client.get(reverse("admin:dicom_study_changelist")).status_code == 200
    assert not audit_entries_for_patient(patient, others_only=True).exists()  # a list is no reading

    assert client.get(reverse("admin:dicom_study_change", args=[study.pk])).status_code == 200
    [entry] = audit_entries_for_patient(patient, others_only=True)
    assert entry.actor == staff and entry.action == "view" and entry.target_id == str(study.pk)
    log = importer.client.get(reverse("audit:my_access_log")).content.decode()
    assert "Olga Ops" in log
