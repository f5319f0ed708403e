"""A CD import whose worker died resumes from what it stored, or fails cleanly."""

import pytest
from django_tasks_db.models import DBTaskResult

from telemed.dicom import importing, imports
from telemed.dicom.models import CdImport, ImportedStudy, ImportState, Instance
from telemed.dicom.tests.conftest import cd_from_dicomdir_set, leftovers, storage_files
from telemed.dicom.tests.test_import import assert_quota_exact

pytestmark = pytest.mark.django_db


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs, not even ``finally`` blocks (see below)."""


def _die_after(monkeypatch, batches: int):
    """The run dies after ``batches`` committed batches, with the next batch's files already
    copied into storage and its rows not written; like a kill, it gives nothing back."""
    real = importing._CdRun._write_rows
    done = []

    def write_rows(self, ready):
        if len(done) == batches:
            raise Killed
        done.append(1)
        return real(self, ready)

    monkeypatch.setattr(importing._CdRun, "_write_rows", write_rows)
    monkeypatch.setattr(imports, "give_back", lambda cd_import: None)
    monkeypatch.setattr(importing._CdRun, "discard_moved", lambda self: None)


def _queued_import(importer, tmp_path, run_tasks):
    cd = cd_from_dicomdir_set(tmp_path / "CD")
    # Received and queued, not yet run.
    started = importer.start().json()
    for path in sorted(cd.rglob("*")):
        if path.is_file():
            assert (
                importer.send_file(started["files_url"], f"CD/{path.relative_to(cd)}", path.read_bytes()).status_code
                == 200
            )
    assert importer.finish(started["finish_url"]).status_code == 202
    return CdImport.objects.get(pk=started["id"])


def test_an_import_killed_mid_way_resumes_with_exactly_the_cds_images(
    importer, patient, run_tasks, tmp_path, dicom_files, monkeypatch
):
    cd_import = _queued_import(importer, tmp_path, run_tasks)
    monkeypatch.setattr(importing, "BATCH", 5)
    with monkeypatch.context() as patch:
        _die_after(patch, 2)
        with pytest.raises(Killed):
            importing.cd_import_run(import_id=str(cd_import.pk), attempt=1)
    cd_import.refresh_from_db()
    assert cd_import.state == ImportState.RUNNING and cd_import.imported_count == 10
    assert len(storage_files(dicom_files)) == 15  # a batch copied, its rows never written
    # The task runs again (its worker died): the same import, resumed.
    importing.cd_import_run(import_id=str(cd_import.pk), attempt=2)
    cd_import.refresh_from_db()
    assert cd_import.state == ImportState.DONE
    assert (cd_import.imported_count, cd_import.skipped_count) == (31, 0)
    assert Instance.objects.count() == 31 and len(storage_files(dicom_files)) == 31
    assert sum(ImportedStudy.objects.filter(cd_import=cd_import).values_list("instances", flat=True)) == 31
    assert_quota_exact(patient)
    assert leftovers(dicom_files) == []


def test_an_import_on_its_last_attempt_fails_cleanly(
    importer, patient, run_tasks, tmp_path, dicom_files, monkeypatch, settings
):
    settings.TASK_MAX_ATTEMPTS = 2
    cd_import = _queued_import(importer, tmp_path, run_tasks)
    monkeypatch.setattr(importing, "BATCH", 5)
    with monkeypatch.context() as patch:
        _die_after(patch, 1)
        with pytest.raises(Killed):
            importing.cd_import_run(import_id=str(cd_import.pk), attempt=1)
    importing.cd_import_run(import_id=str(cd_import.pk), attempt=2)
    cd_import.refresh_from_db()
    assert cd_import.state == ImportState.FAILED and cd_import.reserved_bytes == 0
    assert leftovers(dicom_files) == []
    assert_quota_exact(patient)  # what was stored stays, and counts; nothing stays reserved
    # The patient is told on the import's page.
    page = importer.client.get(f"/dicom/imports/{cd_import.pk}/")
    assert page.status_code == 200 and 'role="alert"' in page.content.decode()


def test_the_task_passes_its_attempt(importer, patient, run_tasks_twice, tmp_path):
    cd_import = _queued_import(importer, tmp_path, run_tasks_twice)
    assert "cd_import_run" in run_tasks_twice()
    cd_import.refresh_from_db()
    assert cd_import.state == ImportState.DONE and cd_import.imported_count == 31
    assert DBTaskResult.objects.filter(task_path__endswith="cd_import_run").get().worker_ids == [
        "pytest-first",
        "pytest-again",
    ]
