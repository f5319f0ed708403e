"""A CD's small files sent whole, many to a request (dicom/batches.py): each file received as a
one-file request would receive it, refusals listed without stopping the batch, a malformed
batch stopped with a clear message and the files before it kept."""

from pathlib import Path
from urllib.parse import quote

import blake3
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from conftest import record_flushes
from telemed.boxes import digests
from telemed.boxes import services as box_services
from telemed.boxes.models import Box
from telemed.dicom import reading, staging
from telemed.dicom.models import CdImport, ImportedFile, Instance
from telemed.dicom.tests.conftest import cd_from_dicomdir_set, with_new_uids


def batch_of(files: list[tuple[str, bytes]]) -> bytes:
    return b"".join(f"{len(content)} {quote(path)}\n".encode() + content for path, content in files)


def send_batch(client, urls: dict, body: bytes, **headers):
    return client.generic("POST", urls["batch_url"], body, content_type="application/octet-stream", headers=headers)


def started(importer) -> dict:
    response = importer.start()
    assert response.status_code == 201, response.content
    return response.json()


def test_a_whole_cd_in_a_few_batches_imports_like_file_by_file(importer, patient_client, patient, run_tasks, tmp_path):
    cd = cd_from_dicomdir_set(tmp_path / "CD")
    files = [(f"CD/{p.relative_to(cd)}", p.read_bytes()) for p in sorted(cd.rglob("*")) if p.is_file()]
    urls = started(importer)
    for first in range(0, len(files), 10):
        response = send_batch(patient_client, urls, batch_of(files[first : first + 10]))
        assert response.status_code == 200, response.content
        assert all(f["received"] == f["size"] and "code" not in f for f in response.json()["files"])
    assert importer.finish(urls["finish_url"]).status_code == 202
    run_tasks()
    cd_import = CdImport.objects.get(pk=urls["id"])
    assert (cd_import.imported_count, cd_import.skipped_count) == (31, 0) and cd_import.used_dicomdir
    box = Box.objects.get(owner=patient)
    assert (
        box.used_bytes == sum(Instance.objects.filter(box=box).values_list("size", flat=True))
        and box.reserved_bytes == 0
    )


def test_a_refused_file_is_listed_and_the_batch_goes_on(importer, patient_client, patient, tmp_path):
    cd = cd_from_dicomdir_set(tmp_path / "CD")
    one, two = [p.read_bytes() for p in sorted(cd.rglob("*")) if p.is_file()][1:3]
    urls = started(importer)
    assert send_batch(patient_client, urls, batch_of([("CD/a", one)])).status_code == 200
    box = Box.objects.get(owner=patient)
    body = batch_of([("CD/a", one), ("../escape", two), ("CD/empty", b""), ("CD/b", two)])
    files = send_batch(patient_client, urls, body).json()["files"]
    assert [(f["path"], f.get("code")) for f in files] == [
        ("CD/a", "offset"), ("../escape", "unsafe_path"), ("CD/empty", "empty"), ("CD/b", None),
    ]  # fmt: skip
    assert files[0]["received"] == len(one) and files[3]["received"] == len(two)  # "a" was already whole: skipped
    assert set(ImportedFile.objects.filter(cd_import_id=urls["id"]).values_list("path", flat=True)) == {"CD/a", "CD/b"}
    box.refresh_from_db()
    assert box.reserved_bytes == len(one) + len(two)


def test_over_the_quota_a_file_is_refused_and_the_next_small_one_still_fits(
    importer, patient_client, patient, tmp_path
):
    urls = started(importer)
    box = Box.objects.get(owner=patient)
    Box.objects.filter(pk=box.pk).update(used_bytes=box_services.box_settings().free_quota_bytes - 1000)
    files = send_batch(patient_client, urls, batch_of([("CD/big", b"x" * 5000), ("CD/small", b"y" * 500)])).json()[
        "files"
    ]
    assert [f.get("code") for f in files] == ["quota", None] and "error" in files[0]


def test_a_malformed_or_cut_batch_keeps_what_came_before_and_says_why(importer, patient_client, tmp_path):
    urls = started(importer)
    for body in (batch_of([("CD/a", b"a" * 10)]) + b"not a header\n",
                 batch_of([("CD/a", b"a" * 10)]) + b"99 CD%2Fb\nshort",
                 batch_of([("CD/a", b"a" * 10)]) + b"5 CD%FF\nhello"):  # fmt: skip
        response = send_batch(patient_client, urls, body, **{"Accept-Language": "en"})
        assert response.status_code == 400 and response.json()["code"] == "batch", response.content
        assert ImportedFile.objects.filter(cd_import_id=urls["id"], path="CD/a", received=10).exists()


def test_someone_elses_import_is_not_found(importer, patient_client, make_patient):
    from conftest import verified_client

    urls = started(importer)
    other = verified_client(make_patient(email="altro@example.test"))
    response = send_batch(other, urls, batch_of([("CD/a", b"a")]))
    assert response.status_code == 404 and not ImportedFile.objects.exists()
    assert reverse("dicom:import_batch", args=[urls["id"]]) == urls["batch_url"]


def test_files_read_as_they_arrived_are_neither_read_nor_hashed_again_by_the_import(
    importer, patient_client, patient, run_tasks, tmp_path, monkeypatch
):
    cd = cd_from_dicomdir_set(tmp_path / "CD")
    files = [(f"CD/{p.relative_to(cd)}", p.read_bytes()) for p in sorted(cd.rglob("*")) if p.is_file()]
    urls = started(importer)
    assert send_batch(patient_client, urls, batch_of(files)).status_code == 200
    read = ImportedFile.objects.filter(cd_import_id=urls["id"]).exclude(header=None)
    assert read.count() == 31 and all(entry.digest for entry in read)  # every image; not the DICOMDIR

    def never(*args, **kwargs):
        raise AssertionError("read again")

    monkeypatch.setattr(reading, "read_header", never)
    monkeypatch.setattr(digests, "of_file", never)
    assert importer.finish(urls["finish_url"]).status_code == 202
    run_tasks()
    cd_import = CdImport.objects.get(pk=urls["id"])
    assert (cd_import.state, cd_import.imported_count, cd_import.skipped_count) == ("done", 31, 0)
    for instance in Instance.objects.filter(box__owner=patient):
        with instance.file.open("rb") as stream:
            assert instance.digest == blake3.blake3(stream.read()).hexdigest() and instance.digest_algorithm == "blake3"


def test_an_imported_instance_is_on_the_disk_before_its_row(importer, patient_client, patient, run_tasks, tmp_path,
                                                           monkeypatch):  # fmt: skip
    """As Orthanc does by default (SyncStorageArea): a power cut must not leave an instance whose
    file is empty. The staged file's bytes, and its new name in the storage's folder, are flushed
    before the instance's row is written."""
    cd = cd_from_dicomdir_set(tmp_path / "CD")
    files = [(f"CD/{p.relative_to(cd)}", p.read_bytes()) for p in sorted(cd.rglob("*")) if p.is_file()]
    urls = started(importer)
    assert send_batch(patient_client, urls, batch_of(files)).status_code == 200
    flushed = record_flushes(monkeypatch, Instance.objects.count)
    assert importer.finish(urls["finish_url"]).status_code == 202
    run_tasks()
    instances = Instance.objects.filter(box__owner=patient)
    assert instances.count() == 31
    for instance in instances:
        stored = Path(instance.file.path)
        assert (stored.stat().st_ino, "bytes", 0) in flushed, instance.path_on_cd
        assert (stored.parent.stat().st_ino, "names", 0) in flushed


def test_a_batch_costs_the_same_queries_whatever_its_number_of_files(importer, patient_client, tmp_path):
    urls = started(importer)
    image = with_new_uids("CT_small.dcm")

    def queries_for(names: list[str]) -> int:
        with CaptureQueriesContext(connection) as queries:
            response = send_batch(patient_client, urls, batch_of([(name, image) for name in names]))
        assert response.status_code == 200 and all("code" not in f for f in response.json()["files"]), response.content
        return len(queries)

    queries_for(["CD/first"])  # the session's first request loads what the later ones find cached
    assert queries_for([f"CD/A/{n}" for n in range(2)]) == queries_for([f"CD/B/{n}" for n in range(20)])


def test_a_batch_reserves_its_length_then_keeps_exactly_its_files_bytes(importer, patient_client, patient, tmp_path):
    urls = started(importer)
    image = with_new_uids("CT_small.dcm")
    body = batch_of([("CD/1", image), ("CD/2", image), ("CD/empty", b""), ("CD/3", image)])
    assert send_batch(patient_client, urls, body).status_code == 200
    box, cd_import = Box.objects.get(owner=patient), CdImport.objects.get(pk=urls["id"])
    assert box.reserved_bytes == cd_import.reserved_bytes == cd_import.received_bytes == 3 * len(image)
    assert (cd_import.received_files, cd_import.skipped_count) == (3, 1)


def test_files_past_the_import_limit_are_refused_and_reported(importer, patient_client, patient, tmp_path, monkeypatch):
    monkeypatch.setattr(staging, "MAX_FILES", 3)
    urls = started(importer)
    image = with_new_uids("CT_small.dcm")
    body = batch_of([(f"CD/{n}", image) for n in range(5)])
    files = send_batch(patient_client, urls, body, **{"Accept-Language": "en"}).json()["files"]
    assert [f.get("code") for f in files] == [None, None, None, "too_many", "too_many"]
    assert "at most 3 files" in files[3]["error"] and files[3]["received"] == 0
    cd_import, box = CdImport.objects.get(pk=urls["id"]), Box.objects.get(owner=patient)
    assert (cd_import.received_files, cd_import.skipped_by_reason) == (3, {"too_many_files": 2})
    assert box.reserved_bytes == 3 * len(image)
    assert not staging.staged_path(cd_import.pk, "CD/4").exists()


def test_a_file_the_one_file_path_is_still_sending_is_left_to_it(importer, patient_client, tmp_path):
    urls = started(importer)
    image = with_new_uids("CT_small.dcm")
    half = len(image) // 2
    response = importer.send(urls["files_url"], "CD/1", image[:half], offset=0, total=len(image))
    assert response.status_code == 200, response.content
    files = send_batch(patient_client, urls, batch_of([("CD/1", image), ("CD/2", image)])).json()["files"]
    assert [(f.get("code"), f["received"]) for f in files] == [("busy", half), (None, len(image))]
    assert ImportedFile.objects.get(cd_import_id=urls["id"], path="CD/1").received == half


def test_a_batchs_kept_files_count_in_the_upload_bytes_metric(importer, patient_client, tmp_path):
    from telemed.observability import metrics

    cd = cd_from_dicomdir_set(tmp_path / "CD")
    one, two = [p.read_bytes() for p in sorted(cd.rglob("*")) if p.is_file()][1:3]
    urls = started(importer)
    counted = metrics.upload_bytes.labels(kind="cd")
    before = counted._value.get()
    files = send_batch(patient_client, urls, batch_of([("CD/a", one), ("../escape", two), ("CD/b", two)])).json()
    assert [f.get("code") for f in files["files"]][1] is not None  # the escaping path was refused
    assert counted._value.get() == before + len(one) + len(two)
