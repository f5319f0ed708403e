"""Every bad input of the issue: a clear report of what was imported and what was skipped and why,
nothing outside the import's folder touched, and the quota counting exactly what was stored."""

import io
import zipfile

import pydicom
import pytest

from telemed.boxes import services as box_services
from telemed.boxes.models import Box
from telemed.dicom import staging
from telemed.dicom.models import CdImport, ImportState, Instance
from telemed.dicom.tests.conftest import (
    CdImporter,
    dicom_bytes,
    leftovers,
    logged_in,
    storage_files,
    with_new_uids,
)

pytestmark = pytest.mark.django_db


def assert_quota_exact(user):
    box = Box.objects.get(owner=user)
    stored = sum(Instance.objects.filter(box=box).values_list("size", flat=True))
    assert (box.used_bytes, box.reserved_bytes) == (stored, 0)


def zip_bytes(entries: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as archive:
        for name, content in entries.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = compression
            archive.writestr(info, content)
    return out.getvalue()


def without_uids(name: str) -> bytes:
    """A readable DICOM image whose study and series identifiers were removed."""
    ds = pydicom.dcmread(io.BytesIO(dicom_bytes(name)))
    del ds.StudyInstanceUID, ds.SeriesInstanceUID
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def test_zip_members_are_reported_by_their_names_on_the_cd(importer, patient, run_tasks):
    corrupt = b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\xff\x7fgarbage" * 20
    archive = zip_bytes(
        {"DICOM/IM0001": with_new_uids("CT_small.dcm"), "DICOM/IM0002": corrupt, "LEGGIMI.TXT": b"CD\n"}
    )
    cd_import = importer.import_bytes({"esame.zip": archive}, run_tasks)
    assert cd_import.imported_count == 1
    assert dict(cd_import.skips.values_list("path", "reason")) == {
        "esame.zip/DICOM/IM0002": "damaged", "esame.zip/LEGGIMI.TXT": "not_dicom",
    }  # fmt: skip
    assert Instance.objects.get().path_on_cd == "esame.zip/DICOM/IM0001"
    assert staging.name_on_cd("CD/a.zip.unzipped/b.zip.unzipped/IM1") == "CD/a.zip/b.zip/IM1"


def test_corrupt_and_non_dicom_files_are_skipped_with_their_reason(importer, patient, run_tasks):
    corrupt = b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\xff\x7fgarbage" * 20
    cd_import = importer.import_bytes(
        {
            "CD/DICOM/IM0001": dicom_bytes("CT_small.dcm"),
            "CD/DICOM/IM0002": corrupt,
            "CD/DICOM/IM0003": dicom_bytes("MR_truncated.dcm"),
            "CD/DICOM/IM0004": without_uids("CT_small.dcm"),
            "CD/README.TXT": b"Referto allegato\n",
            "CD/VIEWER/viewer.exe": b"MZ\x90\x00" + b"\0" * 300,
        },
        run_tasks,
    )
    assert cd_import.state == ImportState.DONE and cd_import.imported_count == 1
    reasons = dict(cd_import.skips.values_list("path", "reason"))
    assert reasons == {
        "CD/DICOM/IM0002": "damaged", "CD/DICOM/IM0003": "truncated", "CD/DICOM/IM0004": "no_uids",
        "CD/README.TXT": "not_dicom",
        "CD/VIEWER/viewer.exe": "not_dicom",
    }  # fmt: skip
    page = importer.client.get(f"/dicom/imports/{cd_import.pk}/").content.decode()
    assert "a damaged DICOM file that cannot be read" in page
    assert (
        "it lacks the identifiers of its study, series or image" in page and "cut short: the file is incomplete" in page
    )
    assert "not a DICOM file" in page
    assert_quota_exact(patient)


def test_a_zip_bomb_is_not_opened(importer, patient, run_tasks, dicom_files):
    bomb = zip_bytes({"DICOM/IM0001": b"\0" * (40 * 1024 * 1024), "DICOM/IM0002": dicom_bytes("CT_small.dcm")})
    assert len(bomb) < 200_000
    cd_import = importer.import_bytes({"cd.zip": bomb}, run_tasks)
    assert cd_import.imported_count == 0 and cd_import.skipped_by_reason == {"zip_bomb": 1}
    assert storage_files(dicom_files) == [] and leftovers(dicom_files) == []
    assert_quota_exact(patient)


def test_a_zip_that_lies_about_its_sizes_is_stopped_while_unpacking(importer, patient, run_tasks, dicom_files):
    content = dicom_bytes("CT_small.dcm")
    raw = bytearray(zip_bytes({"DICOM/IM0001": content}, compression=zipfile.ZIP_STORED))
    # Make the central directory claim the entry is 100 bytes: the real bytes are many more.
    central = raw.rfind(b"PK\x01\x02")
    raw[central + 24 : central + 28] = (100).to_bytes(4, "little")
    cd_import = importer.import_bytes({"cd.zip": bytes(raw)}, run_tasks)
    assert cd_import.imported_count == 0 and set(cd_import.skipped_by_reason) <= {"zip_bomb", "damaged"}
    assert storage_files(dicom_files) == []
    assert_quota_exact(patient)


def test_zip_entries_with_parent_or_absolute_paths_are_left_out_and_nothing_escapes(
    importer, patient, run_tasks, dicom_files, tmp_path
):
    archive = zip_bytes(
        {
            "../../evil.dcm": with_new_uids("CT_small.dcm"),
            "/etc/evil.dcm": with_new_uids("CT_small.dcm"),
            "C:/evil.dcm": with_new_uids("CT_small.dcm"),
            "DICOM/../../../evil.dcm": with_new_uids("CT_small.dcm"),
            "DICOM/IM0001": dicom_bytes("MR_small.dcm"),
        }
    )
    cd_import = importer.import_bytes({"cd.zip": archive}, run_tasks)
    assert cd_import.imported_count == 1
    assert cd_import.skipped_by_reason == {"unsafe_path": 4}
    assert not list(tmp_path.rglob("evil.dcm")) and not list(dicom_files.parent.parent.glob("evil.dcm"))
    assert_quota_exact(patient)


def test_a_zip_with_100000_tiny_files_is_refused_before_unpacking(importer, patient, run_tasks, dicom_files):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for n in range(100_000):
            archive.writestr(f"F/{n}", b"x")
    cd_import = importer.import_bytes({"cd.zip": out.getvalue()}, run_tasks)
    assert cd_import.imported_count == 0 and cd_import.skipped_by_reason == {"zip_too_many": 1}
    assert leftovers(dicom_files) == []
    assert_quota_exact(patient)


def test_files_beyond_the_per_import_limit_are_refused_and_reported(importer, patient, run_tasks, monkeypatch):
    monkeypatch.setattr(staging, "MAX_FILES", 3)
    urls = importer.start().json()
    answers = [importer.send(urls["files_url"], f"CD/F{n}", with_new_uids("CT_small.dcm")) for n in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 413, 413]
    assert "at most 3 files" in answers[3].json()["error"]
    importer.finish(urls["finish_url"])
    run_tasks()
    cd_import = CdImport.objects.get(pk=urls["id"])
    assert cd_import.imported_count == 3 and cd_import.skipped_by_reason == {"too_many_files": 2}
    assert_quota_exact(patient)


def test_the_same_instance_twice_in_a_cd_is_imported_once(importer, patient, run_tasks):
    same = dicom_bytes("CT_small.dcm")
    cd_import = importer.import_bytes({"CD/A/IM1": same, "CD/B/IM1.dcm": same}, run_tasks)
    assert cd_import.imported_count == 1 and cd_import.skipped_by_reason == {"duplicate_in_cd": 1}
    assert_quota_exact(patient)


def test_a_truncated_chunk_changes_nothing_and_can_be_sent_again(importer, patient, run_tasks, dicom_files):
    content = dicom_bytes("CT_small.dcm")
    urls = importer.start().json()
    assert importer.send(urls["files_url"], "CD/IM1", content[:10_000], total=len(content)).status_code == 200
    # The connection drops in the middle of the next chunk: fewer bytes than declared arrive.
    broken = importer.send(
        urls["files_url"], "CD/IM1", content[10_000:15_000], offset=10_000, total=len(content),
        CONTENT_LENGTH=str(len(content) - 10_000), **{"wsgi.input": io.BytesIO(content[10_000:15_000])},
    )  # fmt: skip
    assert broken.status_code == 400 and "arrived incomplete (5000 of" in broken.json()["error"]
    assert (staging.files_dir(urls["id"]) / "CD" / "IM1").stat().st_size == 10_000
    wrong = importer.send(urls["files_url"], "CD/IM1", content[12_000:], offset=12_000, total=len(content))
    assert wrong.status_code == 409 and wrong["Upload-Offset"] == "10000"
    assert (
        importer.send(urls["files_url"], "CD/IM1", content[10_000:], offset=10_000, total=len(content)).status_code
        == 200
    )
    importer.finish(urls["finish_url"])
    run_tasks()
    assert CdImport.objects.get(pk=urls["id"]).imported_count == 1
    assert Instance.objects.get().size == len(content)
    assert_quota_exact(patient)


def test_a_whole_file_in_one_request_is_counted_once_even_when_broken_or_sent_again(
    importer, patient, run_tasks, dicom_files
):
    content = dicom_bytes("CT_small.dcm")
    urls = importer.start().json()
    # The whole file declared, part of it arrives: as a broken first chunk, the file is begun
    # (its space reserved) and empty, and can be sent again.
    broken = importer.send(
        urls["files_url"], "CD/IM1", content[:5_000], total=len(content),
        CONTENT_LENGTH=str(len(content)), **{"wsgi.input": io.BytesIO(content[:5_000])},
    )  # fmt: skip
    assert broken.status_code == 400 and "arrived incomplete (5000 of" in broken.json()["error"]
    assert (staging.files_dir(urls["id"]) / "CD" / "IM1").stat().st_size == 0
    state = CdImport.objects.get(pk=urls["id"])
    assert (state.received_files, state.received_bytes, state.reserved_bytes) == (1, 0, len(content))
    # Sent whole again; and again (the answer was lost): a 409 that says it is all there.
    assert importer.send(urls["files_url"], "CD/IM1", content).status_code == 200
    again = importer.send(urls["files_url"], "CD/IM1", content)
    assert again.status_code == 409 and again["Upload-Offset"] == str(len(content))
    state = CdImport.objects.get(pk=urls["id"])
    assert (state.received_files, state.received_bytes, state.reserved_bytes) == (1, len(content), len(content))
    # A second file, whole at the first try.
    assert importer.send(urls["files_url"], "CD/IM2", content).status_code == 200
    assert CdImport.objects.get(pk=urls["id"]).received_bytes == 2 * len(content)
    importer.finish(urls["finish_url"])
    run_tasks()
    assert CdImport.objects.get(pk=urls["id"]).imported_count == 1  # the same instance twice: imported once
    assert_quota_exact(patient)


def test_a_chunk_for_someone_elses_import_is_a_404_and_writes_nothing(importer, other_patient, dicom_files):
    urls = importer.start().json()
    intruder = CdImporter(logged_in(other_patient))
    response = intruder.send(urls["files_url"], "CD/IM1", dicom_bytes("CT_small.dcm"))
    assert response.status_code == 404
    assert intruder.finish(urls["finish_url"]).status_code == 404
    assert intruder.client.get(urls["report_url"]).status_code == 404
    assert not staging.files_dir(urls["id"]).exists() or not any(staging.files_dir(urls["id"]).rglob("*"))
    assert Box.objects.filter(owner=other_patient, reserved_bytes__gt=0).count() == 0


def test_files_that_lie_about_their_type_are_judged_by_their_content(importer, patient, run_tasks):
    from conftest import image_bytes

    inner = zip_bytes({"DICOM/IM0001": with_new_uids("MR_small.dcm")})
    cd_import = importer.import_bytes(
        {
            "CD/IM0001.dcm": image_bytes("PNG").getvalue(),  # a picture named like DICOM
            "CD/photo.jpg": dicom_bytes("CT_small.dcm"),  # a DICOM file named like a picture
            "CD/IMAGES.DCM": inner,  # a ZIP named like DICOM: unpacked
            "CD/archive.zip": b"not a zip at all",  # a "ZIP" that is not one
        },
        run_tasks,
    )
    assert cd_import.imported_count == 2
    assert dict(cd_import.skips.values_list("path", "reason")) == {
        "CD/IM0001.dcm": "not_dicom",
        "CD/archive.zip": "not_dicom",
    }
    assert_quota_exact(patient)


def test_a_path_outside_the_cd_is_refused_at_upload(importer, patient, run_tasks, dicom_files, tmp_path):
    urls = importer.start().json()
    for path in ["../../evil.dcm", "/etc/evil.dcm", "CD/../../evil.dcm", "C:\\evil.dcm"]:
        response = importer.send(urls["files_url"], path, dicom_bytes("CT_small.dcm"))
        assert response.status_code == 400 and response.json()["code"] == "unsafe_path"
    importer.finish(urls["finish_url"])
    run_tasks()
    assert not list(tmp_path.rglob("evil.dcm"))
    assert CdImport.objects.get(pk=urls["id"]).skipped_by_reason == {"unsafe_path": 4}
    assert_quota_exact(patient)


def test_a_cd_larger_than_the_free_space_is_refused_file_by_file_and_the_quota_stays_exact(
    importer, patient, run_tasks
):
    box = box_services.box_for(patient)
    Box.objects.filter(pk=box.pk).update(used_bytes=box_services.box_settings().free_quota_bytes - 50_000)
    urls = importer.start().json()
    first = importer.send(urls["files_url"], "CD/IM1", dicom_bytes("CT_small.dcm"))  # 39 kB: fits
    second = importer.send(urls["files_url"], "CD/IM2", with_new_uids("CT_small.dcm"))  # does not
    assert first.status_code == 200 and second.status_code == 413 and second.json()["code"] == "quota"
    importer.finish(urls["finish_url"])
    run_tasks()
    cd_import = CdImport.objects.get(pk=urls["id"])
    assert cd_import.imported_count == 1 and cd_import.skipped_by_reason == {"quota": 1}
    box.refresh_from_db()
    assert box.used_bytes == box_services.box_settings().free_quota_bytes - 50_000 + Instance.objects.get().size
    assert box.reserved_bytes == 0


def test_a_file_left_half_sent_and_an_empty_file_are_reported(importer, patient, run_tasks, dicom_files):
    content = dicom_bytes("CT_small.dcm")
    urls = importer.start().json()
    importer.send(urls["files_url"], "CD/IM1", content[:1000], total=len(content))
    empty = importer.send(urls["files_url"], "CD/EMPTY", b"", total=0)
    assert empty.status_code == 400 and empty.json()["error"] == "The file is empty."
    importer.finish(urls["finish_url"])
    run_tasks()
    cd_import = CdImport.objects.get(pk=urls["id"])
    assert cd_import.skipped_by_reason == {"incomplete": 1, "empty": 1} and cd_import.imported_count == 0
    assert leftovers(dicom_files) == [] and storage_files(dicom_files) == []
    assert_quota_exact(patient)


def test_bad_headers_and_finished_imports_get_clear_errors(importer, patient, run_tasks):
    urls = importer.start().json()
    missing = importer.client.generic("POST", urls["files_url"], b"abc", content_type="application/octet-stream")
    assert missing.status_code == 400 and "Upload-Path" in missing.json()["error"]
    beyond = importer.send(urls["files_url"], "CD/IM1", b"0123456789", total=5)
    assert beyond.status_code == 413
    assert importer.finish(urls["finish_url"]).status_code == 202
    late = importer.send(urls["files_url"], "CD/IM2", b"0123")
    assert late.status_code == 409 and "no longer receiving" in late.json()["error"]
    assert importer.finish(urls["finish_url"]).status_code == 409
    run_tasks()
    assert_quota_exact(patient)


def test_an_import_left_idle_is_cancelled_and_its_space_given_back(importer, patient, dicom_files):
    import datetime

    from django.utils import timezone

    from telemed.dicom import receiving

    urls = importer.start().json()
    importer.send(urls["files_url"], "CD/IM1", dicom_bytes("CT_small.dcm")[:5000], total=39206)
    assert Box.objects.get(owner=patient).reserved_bytes == 39206
    CdImport.objects.filter(pk=urls["id"]).update(last_activity_at=timezone.now() - datetime.timedelta(days=2))
    assert receiving.cd_import_expire_if_idle(import_id=urls["id"])
    assert CdImport.objects.get(pk=urls["id"]).state == ImportState.CANCELLED
    assert Box.objects.get(owner=patient).reserved_bytes == 0 and leftovers(dicom_files) == []
