"""The upload's expiry task, run twice (its worker died after the work): the upload expires once
and its space is released once; still active, it is looked at again once, not twice."""

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from telemed.boxes.models import Box, UploadSession, UploadState

pytestmark = pytest.mark.django_db

EXPIRE = "telemed.boxes.tasks.upload_expire"


def test_an_idle_upload_expires_once_and_its_space_is_released_once(uploader, patient, run_tasks_twice):
    run_tasks_twice()
    idle = uploader.start("idle.txt", 1000).json()["url"]
    uploader.patch(idle, 0, b"a" * 400)
    uploader.start("other.txt", 2000)  # still reserved after the idle one is released
    assert Box.objects.get(owner=patient).reserved_bytes == 3000
    upload = UploadSession.objects.get(name="idle.txt")
    UploadSession.objects.filter(pk=upload.pk).update(last_activity_at=timezone.now() - timezone.timedelta(hours=25))
    DBTaskResult.objects.filter(task_path=EXPIRE, args_kwargs__kwargs__upload_id=str(upload.pk)).update(
        run_after=timezone.now()
    )
    assert run_tasks_twice() == ["upload_expire"]
    assert UploadSession.objects.get(pk=upload.pk).state == UploadState.EXPIRED
    assert UploadSession.objects.get(name="other.txt").state == UploadState.OPEN
    assert Box.objects.get(owner=patient).reserved_bytes == 2000


def test_an_active_upload_is_looked_at_again_once(uploader, run_tasks_twice):
    run_tasks_twice()
    uploader.start("a.txt", 1000)
    DBTaskResult.objects.filter(task_path=EXPIRE).update(run_after=timezone.now())
    assert run_tasks_twice() == ["upload_expire"]
    assert UploadSession.objects.get().state == UploadState.OPEN
    assert DBTaskResult.objects.filter(task_path=EXPIRE, status="READY").count() == 1
