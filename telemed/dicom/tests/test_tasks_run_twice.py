"""The import's expiry task, run twice (its worker died after the work): an idle import is
cancelled once and its space given back once; still active, it is looked at again once."""

import datetime

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from telemed.boxes.models import Box
from telemed.dicom.models import CdImport, ImportState
from telemed.dicom.tests.conftest import dicom_bytes

pytestmark = pytest.mark.django_db

EXPIRE = "telemed.dicom.tasks.cd_import_expire"


def test_an_idle_import_is_cancelled_once_and_its_space_given_back_once(
    importer, patient, dicom_files, run_tasks_twice
):
    run_tasks_twice()
    idle = importer.start().json()
    importer.send(idle["files_url"], "CD/IM1", dicom_bytes("CT_small.dcm")[:5000], total=39206)
    other = importer.start().json()
    importer.send(other["files_url"], "CD/IM1", dicom_bytes("CT_small.dcm")[:5000], total=39206)
    assert Box.objects.get(owner=patient).reserved_bytes == 2 * 39206
    CdImport.objects.filter(pk=idle["id"]).update(last_activity_at=timezone.now() - datetime.timedelta(days=2))
    DBTaskResult.objects.filter(task_path=EXPIRE, args_kwargs__kwargs__import_id=str(idle["id"])).update(
        run_after=timezone.now()
    )
    assert run_tasks_twice() == ["cd_import_expire"]
    assert CdImport.objects.get(pk=idle["id"]).state == ImportState.CANCELLED
    assert CdImport.objects.get(pk=other["id"]).state == ImportState.RECEIVING
    assert Box.objects.get(owner=patient).reserved_bytes == 39206  # the other import's, still held


def test_an_active_import_is_looked_at_again_once(importer, dicom_files, run_tasks_twice):
    run_tasks_twice()
    importer.start()
    DBTaskResult.objects.filter(task_path=EXPIRE).update(run_after=timezone.now())
    assert run_tasks_twice() == ["cd_import_expire"]
    assert CdImport.objects.get().state == ImportState.RECEIVING
    assert DBTaskResult.objects.filter(task_path=EXPIRE, status="READY").count() == 1
