"""A CD import and a de-identified copy with object storage (``STORAGE_URL``) against a real
S3-protocol server: every instance is an object in the bucket, nothing in the media dir. A CD is
staged in the bucket, not on the disk of the web host that received it: the web process that takes
a batch or a chunk, and the worker that imports the CD, may each be on another host, with a var
dir of its own."""

import io
import os
import zipfile

import blake3
import pydicom
import pytest
from django.urls import reverse

from telemed.boxes import parts
from telemed.boxes.models import Box
from telemed.dicom import importing, receiving, staging
from telemed.dicom.models import CdImport, ImportState, Instance, Study
from telemed.dicom.tests.conftest import cd_from_dicomdir_set, dicom_bytes, leftovers, zip_of
from telemed.dicom.tests.test_batches import batch_of, send_batch, started
from telemed.dicom.tests.test_import import assert_quota_exact
from telemed.dicom.tests.test_resume import Killed, _die_after

pytestmark = pytest.mark.django_db


def test_a_cd_is_imported_into_the_bucket_and_copied_de_identified_from_it(
    importer, patient, run_tasks, tmp_path, object_storage, settings
):
    cd_import = importer.import_folder(cd_from_dicomdir_set(tmp_path / "CD"), run_tasks)
    assert cd_import.state == ImportState.DONE and cd_import.imported_count == 31
    stored = sorted(Instance.objects.values_list("file", flat=True))
    assert object_storage.keys() == stored and len(stored) == 31
    instance = Instance.objects.first()
    assert pydicom.dcmread(io.BytesIO(object_storage.read(instance.file.name))).SOPInstanceUID
    study = Study.objects.get(description="XR C Spine Comp Min 4 Views")
    response = importer.client.post(reverse("dicom:study_deidentified", args=[study.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    copies = [pydicom.dcmread(io.BytesIO(archive.read(name))) for name in archive.namelist() if name != "DICOMDIR"]
    assert len(copies) == 3 and {str(ds.PatientName) for ds in copies} == {"ANONYMOUS"}
    assert list((settings.VAR_DIR / "media").iterdir()) == []


def test_rendered_images_are_kept_in_the_bucket_and_go_with_their_study(
    importer, patient, run_tasks, tmp_path, object_storage, settings, django_capture_on_commit_callbacks
):
    importer.import_folder(cd_from_dicomdir_set(tmp_path / "CD"), run_tasks)
    study = Study.objects.get(description="XR C Spine Comp Min 4 Views")
    instance = Instance.objects.filter(series__study=study).first()
    url = reverse("dicom:instance_image", args=[instance.pk])
    first = importer.client.get(url)
    assert first.status_code == 200 and first["Content-Type"] == "image/png"
    png = first.content
    rendered = [key for key in object_storage.keys() if key.startswith(f"private/dicom-rendered/{instance.pk}/")]
    assert len(rendered) == 1 and object_storage.read(rendered[0]) == png
    again = importer.client.get(url)  # from the bucket this time
    assert again.status_code == 200 and again.content == png
    assert not (settings.VAR_DIR / "dicom-rendered").exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = importer.client.post(reverse("dicom:study_delete", args=[study.pk]))
    assert response.status_code in (200, 302)
    assert not Study.objects.filter(pk=study.pk).exists()
    assert not [key for key in object_storage.keys() if key.startswith(f"private/dicom-rendered/{instance.pk}/")]
    assert instance.file.name not in object_storage.keys()


def _staged(bucket, import_id) -> list[str]:
    return [key for key in bucket.keys() if key.startswith(f"{staging.BUCKET_PREFIX}/{import_id}/")]


def _another_host(settings, tmp_path, name: str):
    """The next requests, or the task, run on another host: a var dir of its own, empty."""
    var = tmp_path / name
    var.mkdir()
    settings.VAR_DIR = var
    return var


def test_a_cd_received_by_two_web_hosts_is_imported_by_a_worker_on_a_third(
    importer, patient_client, patient, run_tasks, tmp_path, object_storage, settings, monkeypatch
):
    cd = cd_from_dicomdir_set(tmp_path / "CD")
    files = [(f"CD/{p.relative_to(cd)}", p.read_bytes()) for p in sorted(cd.rglob("*")) if p.is_file()]
    first_host = settings.VAR_DIR
    urls = started(importer)
    response = send_batch(patient_client, urls, batch_of(files[:12]))
    assert response.status_code == 200 and all("code" not in f for f in response.json()["files"])
    # The page sends the batch again, whole, to another web host: what was staged is reported so.
    second_host = _another_host(settings, tmp_path, "second-host")
    answers = send_batch(patient_client, urls, batch_of(files)).json()["files"]
    assert [f.get("code") for f in answers] == ["offset"] * 12 + [None] * (len(files) - 12)
    assert all(f["received"] == f["size"] for f in answers)
    assert len(_staged(object_storage, urls["id"])) == len(files)
    assert leftovers(first_host) == [] and leftovers(second_host) == []
    assert importer.finish(urls["finish_url"]).status_code == 202
    worker_host = _another_host(settings, tmp_path, "worker-host")
    downloaded = []
    real_download = parts.object_download
    monkeypatch.setattr(
        parts, "object_download", lambda name, path: downloaded.append(name) or real_download(name, path)
    )
    run_tasks()
    cd_import = CdImport.objects.get(pk=urls["id"])
    assert (cd_import.state, cd_import.imported_count, cd_import.skipped_count) == (ImportState.DONE, 31, 0)
    assert cd_import.used_dicomdir
    # Read as they arrived, the images went from the staging to their place inside the bucket;
    # only the DICOMDIR (not an image: nothing read of it) came down to the worker.
    assert [name.rsplit("/", 1)[-1] for name in downloaded] == ["DICOMDIR"]
    stored = sorted(Instance.objects.values_list("file", flat=True))
    assert object_storage.keys() == stored and len(stored) == 31
    for instance in Instance.objects.all():
        assert instance.digest == blake3.blake3(object_storage.read(instance.file.name)).hexdigest()
    assert _staged(object_storage, urls["id"]) == []
    assert [leftovers(var) for var in (first_host, second_host, worker_host)] == [[], [], []]
    assert_quota_exact(patient)


def test_a_zip_sent_in_chunks_to_two_web_hosts_is_imported_by_a_worker_on_a_third(
    importer, patient, run_tasks, tmp_path, object_storage, settings
):
    cd = cd_from_dicomdir_set(tmp_path / "CD")
    (cd / "EXTRA.BIN").write_bytes(os.urandom(6 * 1024 * 1024))  # the ZIP spans two chunks
    content = zip_of(cd, tmp_path / "cd.zip").read_bytes()
    urls = started(importer)
    chunk = parts.MIN_PART_BYTES
    response = importer.send(urls["files_url"], "cd.zip", content[:chunk], offset=0, total=len(content))
    assert response.status_code == 200, response.content
    assert object_storage.multipart_uploads() and _staged(object_storage, urls["id"]) == []
    second_host = _another_host(settings, tmp_path, "second-host")
    response = importer.send(urls["files_url"], "cd.zip", content[chunk:], offset=chunk, total=len(content))
    assert response.status_code == 200, response.content
    assert int(response["Upload-Offset"]) == len(content)
    assert object_storage.multipart_uploads() == []
    assert importer.finish(urls["finish_url"]).status_code == 202
    worker_host = _another_host(settings, tmp_path, "worker-host")
    run_tasks()
    cd_import = CdImport.objects.get(pk=urls["id"])
    assert (cd_import.state, cd_import.imported_count) == (ImportState.DONE, 31)
    assert cd_import.skipped_by_reason == {"not_dicom": 1}
    assert object_storage.keys() == sorted(Instance.objects.values_list("file", flat=True))
    assert leftovers(second_host) == [] and leftovers(worker_host) == []
    assert_quota_exact(patient)


def test_a_chunk_too_small_to_be_a_part_is_refused_with_its_reason(importer, tmp_path, object_storage):
    urls = started(importer)
    response = importer.send(
        urls["files_url"], "CD/big", b"x" * 1024, offset=0, total=8 * 1024 * 1024, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400
    assert "at least 5 MB" in response.content.decode()
    assert _staged(object_storage, urls["id"]) == [] and object_storage.multipart_uploads() == []


def test_a_cancelled_import_leaves_nothing_staged(importer, patient_client, patient, tmp_path, object_storage):
    cd = cd_from_dicomdir_set(tmp_path / "CD")
    files = [(f"CD/{p.relative_to(cd)}", p.read_bytes()) for p in sorted(cd.rglob("*")) if p.is_file()]
    urls = started(importer)
    assert send_batch(patient_client, urls, batch_of(files[:10])).status_code == 200
    big = os.urandom(parts.MIN_PART_BYTES + 1024)
    response = importer.send(urls["files_url"], "CD/BIG", big[: parts.MIN_PART_BYTES], offset=0, total=len(big))
    assert response.status_code == 200, response.content
    assert len(_staged(object_storage, urls["id"])) == 10 and object_storage.multipart_uploads()
    assert patient_client.post(urls["cancel_url"]).status_code == 200
    assert CdImport.objects.get(pk=urls["id"]).state == ImportState.CANCELLED
    assert _staged(object_storage, urls["id"]) == [] and object_storage.multipart_uploads() == []
    assert Box.objects.get(owner=patient).reserved_bytes == 0


def test_a_run_that_died_after_unpacking_a_zip_fails_cleanly_on_another_worker(
    importer, patient, tmp_path, object_storage, settings, monkeypatch
):
    # What the dead run unpacked was on its own host's disk: the next run cannot resume it.
    content = zip_of(cd_from_dicomdir_set(tmp_path / "CD"), tmp_path / "cd.zip").read_bytes()
    urls = started(importer)
    assert importer.send(urls["files_url"], "cd.zip", content).status_code == 200
    assert importer.finish(urls["finish_url"]).status_code == 202
    monkeypatch.setattr(importing, "BATCH", 5)
    with monkeypatch.context() as patch:
        _die_after(patch, 1)
        with pytest.raises(Killed):
            importing.cd_import_run(import_id=urls["id"], attempt=1)
    _another_host(settings, tmp_path, "worker-host")
    importing.cd_import_run(import_id=urls["id"], attempt=2)
    cd_import = CdImport.objects.get(pk=urls["id"])
    assert cd_import.state == ImportState.FAILED and cd_import.reserved_bytes == 0
    assert _staged(object_storage, urls["id"]) == []
    assert_quota_exact(patient)


def test_a_batchs_file_too_large_to_read_on_arrival_is_staged_whole_and_read_by_the_worker(
    importer, patient_client, patient, run_tasks, tmp_path, object_storage, settings
):
    large = os.urandom(9 * 1024 * 1024)  # past what a batch reads as it arrives: spooled, not read
    urls = started(importer)
    files = send_batch(patient_client, urls, batch_of([("CD/LARGE", large)])).json()["files"]
    assert files == [{"path": "CD/LARGE", "received": len(large), "size": len(large)}]
    assert object_storage.read(staging.BucketArea.name_of(urls["id"], "CD/LARGE")) == large
    assert importer.finish(urls["finish_url"]).status_code == 202
    _another_host(settings, tmp_path, "worker-host")
    run_tasks()
    cd_import = CdImport.objects.get(pk=urls["id"])
    assert (cd_import.state, cd_import.skipped_by_reason) == (ImportState.DONE, {"not_dicom": 1})
    assert _staged(object_storage, urls["id"]) == []
    assert_quota_exact(patient)


def test_a_chunk_written_as_its_import_is_cancelled_leaves_nothing_staged(
    importer, patient, tmp_path, object_storage, monkeypatch
):
    urls = started(importer)
    real_put = parts.object_put

    def put_as_the_import_is_cancelled(name, body, length):
        cd_import = CdImport.objects.get(pk=urls["id"])
        receiving.cd_import_cancel(actor=patient, cd_import=cd_import)  # from another tab, say
        real_put(name, body, length)

    monkeypatch.setattr(parts, "object_put", put_as_the_import_is_cancelled)
    response = importer.send(urls["files_url"], "CD/IM1", dicom_bytes("CT_small.dcm"))
    assert response.status_code == 409 and response.json()["code"] == "state"
    assert _staged(object_storage, urls["id"]) == []
    assert Box.objects.get(owner=patient).reserved_bytes == 0
