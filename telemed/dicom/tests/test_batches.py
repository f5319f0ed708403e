"""A CD's small files sent whole, many to a request (dicom/batches.py): each file received as a
one-file request would receive it, refusals listed without stopping the batch, a malformed
batch stopped with a clear message and the files before it kept."""

from urllib.parse import quote

from django.urls import reverse

from telemed.boxes import services as box_services
from telemed.boxes.models import Box
from telemed.dicom.models import CdImport, ImportedFile, Instance
from telemed.dicom.tests.conftest import cd_from_dicomdir_set


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
    assert box.used_bytes == sum(Instance.objects.filter(box=box).values_list("size", flat=True)) and box.reserved_bytes == 0


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


def test_over_the_quota_a_file_is_refused_and_the_next_small_one_still_fits(importer, patient_client, patient, tmp_path):
    urls = started(importer)
    box = Box.objects.get(owner=patient)
    Box.objects.filter(pk=box.pk).update(used_bytes=box_services.box_settings().free_quota_bytes - 1000)
    files = send_batch(patient_client, urls, batch_of([("CD/big", b"x" * 5000), ("CD/small", b"y" * 500)])).json()["files"]
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
