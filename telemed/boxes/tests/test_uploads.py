"""Resumable uploads: the protocol, interruption and resume, and every bad input it can be sent."""

import hashlib
import io
import os
from pathlib import Path

import blake3
import pytest
from django.urls import reverse
from django.utils import timezone

from conftest import record_flushes
from telemed.boxes import services, uploads
from telemed.boxes.models import Box, Document, UploadSession, UploadState
from telemed.boxes.tests.conftest import Uploader, logged_in, pdf_bytes

pytestmark = pytest.mark.django_db


def box_of(user) -> Box:
    return Box.objects.get(owner=user)


def test_a_pdf_uploaded_in_chunks_is_stored_whole_with_its_digest(uploader, patient):
    content = pdf_bytes(padding=300_000)
    response = uploader.upload("Referto cardiologico.pdf", content, chunk_size=100_000)
    assert response.status_code == 201
    document = Document.objects.get()
    assert response.json()["document_url"] == reverse("boxes:document", args=[document.pk])
    assert document.name == "Referto cardiologico.pdf" and document.mime == "application/pdf"
    assert document.digest == blake3.blake3(content).hexdigest()
    with document.file.open("rb") as stored:
        assert stored.read() == content
    box = box_of(patient)
    # The quota counts exactly what was stored.
    assert (box.used_bytes, box.reserved_bytes) == (len(content), 0)
    assert UploadSession.objects.get().state == UploadState.COMPLETE
    assert not list((services.scratch_dir()).glob("*.part"))


def test_a_completed_upload_is_on_the_disk_before_its_document_is_recorded(uploader, monkeypatch):
    """A power cut right after the answer must not leave a document that names an empty file: the
    file's bytes, and its name in its folder, are flushed before the document's row is written."""
    flushed = record_flushes(monkeypatch, Document.objects.count)
    response = uploader.upload("Referto cardiologico.pdf", pdf_bytes(padding=300_000), chunk_size=100_000)
    assert response.status_code == 201
    stored = Path(Document.objects.get().file.path)
    assert (stored.stat().st_ino, "bytes", 0) in flushed
    assert (stored.parent.stat().st_ino, "names", 0) in flushed


def test_an_interrupted_upload_resumes_where_it_stopped(uploader, patient):
    content = pdf_bytes(padding=200_000)
    url = uploader.start("exam.pdf", len(content)).json()["url"]
    assert uploader.patch(url, 0, content[:100_000]).status_code == 204
    # The connection drops in the middle of the second chunk: the server got part of it.
    response = uploader.client.generic(
        "PATCH", url, content[100_000:150_000], content_type="application/offset+octet-stream",
        headers={"Upload-Offset": "100000"}, CONTENT_LENGTH="100000", **{"wsgi.input": io.BytesIO(content[100_000:150_000])},
    )  # fmt: skip
    assert response.status_code == 400
    assert "arrived incomplete (50000 of 100000 bytes)" in response.json()["error"]
    # After the drop the client asks where to go on from: nothing of the broken chunk was kept.
    head = uploader.head(url)
    assert head.status_code == 200 and head["Upload-Offset"] == "100000" and head["Upload-Length"] == str(len(content))
    assert os.path.getsize(uploads.part_path(UploadSession.objects.get())) == 100_000
    offset = 100_000
    while offset < len(content):
        response = uploader.patch(url, offset, content[offset : offset + 100_000])
        offset = int(response["Upload-Offset"])
    assert response.status_code == 201
    assert Document.objects.get().digest == blake3.blake3(content).hexdigest()
    assert box_of(patient).used_bytes == len(content)


def test_a_chunk_at_the_wrong_offset_is_refused_with_the_right_one(uploader):
    content = pdf_bytes()
    url = uploader.start("a.pdf", len(content)).json()["url"]
    uploader.patch(url, 0, content[:100])
    for wrong in (0, 50, 200):
        response = uploader.patch(url, wrong, content[wrong : wrong + 10])
        assert response.status_code == 409 and response["Upload-Offset"] == "100"
        assert "upload is at byte 100" in response.json()["error"]
    assert UploadSession.objects.get().offset == 100


def test_a_chunk_beyond_the_declared_size_is_refused(uploader):
    url = uploader.start("a.txt", 10).json()["url"]
    response = uploader.patch(url, 0, b"0123456789ABC")
    assert response.status_code == 413 and "beyond the declared size" in response.json()["error"]
    assert UploadSession.objects.get().offset == 0


def test_a_damaged_chunk_is_refused_by_its_checksum(uploader):
    url = uploader.start("a.txt", 10).json()["url"]
    response = uploader.patch(url, 0, b"0123456789", **{"Upload-Checksum": "sha256 " + "0" * 64})
    assert response.status_code == 400 and "checksum" in response.json()["error"]
    assert UploadSession.objects.get().offset == 0
    good = hashlib.sha256(b"0123456789").hexdigest()
    assert uploader.patch(url, 0, b"0123456789", **{"Upload-Checksum": f"sha256 {good}"}).status_code == 201


def test_missing_or_nonsense_offset_headers(uploader):
    url = uploader.start("a.txt", 10).json()["url"]
    response = uploader.client.generic("PATCH", url, b"0123", content_type="application/offset+octet-stream")
    assert response.status_code == 400 and "Upload-Offset" in response.json()["error"]
    for value in ["-1", "abc", "1e3", "99999999999999999999999", "٣"]:
        assert uploader.patch(url, value, b"0123").status_code == 400
    assert UploadSession.objects.get().offset == 0


@pytest.mark.parametrize(
    ("size", "message"),
    [(2 * 1024**3 + 1, "at most 2 GB"), (0, "empty"), (-5, "greater than or equal to 0"), ("lots", "whole number")],
)
def test_a_bad_declared_size_reserves_nothing(uploader, patient, size, message):
    response = uploader.start("big.zip", size)
    assert response.status_code == 400 and message in response.json()["error"]
    assert not UploadSession.objects.exists()
    assert not Box.objects.filter(owner=patient, reserved_bytes__gt=0).exists()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../../etc/passwd", "cannot contain /"),
        ("a\\b.pdf", "cannot contain /"),
        ("nul\x00byte.pdf", "Null characters are not allowed"),
        ("tab\there.pdf", "control characters"),
        ("x" * 10_000, "Ensure this value has at most"),
        ("x" * 256, "at most 255 characters"),
        ("   ", "cannot be empty"),
        ("..", "cannot be empty"),
    ],
)
def test_bad_names_are_refused_before_anything_is_reserved(uploader, name, message):
    response = uploader.start(name, 10)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert not UploadSession.objects.exists()


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("referto.pdf", b"<!DOCTYPE html><html><script>alert(1)</script></html>"),
        ("scan.png", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200),
        ("report.pdf", b"%PDF-1.7\n this is not really a pdf"),
        ("image.jpg", b"\x7fELF\x02\x01\x01" + b"\x00" * 100),
        ("vector.txt", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script/></svg>'),
        ("run.txt", b"#!/bin/sh\nrm -rf /\n"),
    ],
)
def test_a_file_that_lies_about_its_type_is_refused_and_its_space_released(uploader, patient, name, content):
    start = uploader.start(name, len(content))
    url = start.json()["url"]
    assert box_of(patient).reserved_bytes == len(content)
    response = uploader.patch(url, 0, content)
    assert response.status_code == 415
    assert "not a type of file a box accepts" in response.json()["error"]
    box = box_of(patient)
    assert (box.used_bytes, box.reserved_bytes) == (0, 0)
    assert not Document.objects.exists()
    assert UploadSession.objects.get().state == UploadState.FAILED
    assert not list(services.scratch_dir().glob("*.part"))
    assert uploader.client.get(url).json()["state"] == "failed"


def test_allowed_types_are_recognised_from_their_content(uploader):
    from conftest import image_bytes

    uploader.upload("note without extension", "Pressione 120/80, ok.\nàèìòù\n".encode())
    uploader.upload("photo.pdf", image_bytes("PNG").getvalue())  # the name lies, the content is fine
    dicom = b"\0" * 128 + b"DICM" + b"\x02\x00\x01\x00OB\x00\x00" + b"\0" * 200
    uploader.upload("IM0001", dicom)
    assert sorted(Document.objects.values_list("mime", flat=True)) == ["application/dicom", "image/png", "text/plain"]


def test_a_zip_of_a_cd_is_accepted_but_one_that_escapes_its_folder_is_not(uploader):
    import zipfile

    def archive(names):
        stream = io.BytesIO()
        with zipfile.ZipFile(stream, "w") as zf:
            for name in names:
                zf.writestr(name, b"data")
        return stream.getvalue()

    uploader.upload("cd.zip", archive(["DICOMDIR", "DICOM/IM0001"]))
    evil = archive(["../../outside"])
    url = uploader.start("evil.zip", len(evil)).json()["url"]
    assert uploader.patch(url, 0, evil).status_code == 415
    assert Document.objects.count() == 1


def test_someone_elses_upload_is_not_found(uploader, other_patient):
    content = pdf_bytes()
    url = uploader.start("mine.pdf", len(content)).json()["url"]
    stranger = Uploader(logged_in(other_patient))
    assert stranger.patch(url, 0, content[:100]).status_code == 404
    assert stranger.head(url).status_code == 404
    assert stranger.client.delete(url).status_code == 404
    assert UploadSession.objects.get().offset == 0


def test_cancelling_releases_the_space_and_the_part_file(uploader, patient):
    url = uploader.start("a.txt", 1000).json()["url"]
    uploader.patch(url, 0, b"a" * 500)
    assert uploader.client.delete(url).status_code == 204
    assert box_of(patient).reserved_bytes == 0
    assert not list(services.scratch_dir().glob("*.part"))
    assert uploader.patch(url, 500, b"a" * 500).status_code == 409


def test_an_upload_never_finished_is_expired_by_its_scheduled_task(uploader, patient, run_tasks):
    from django_tasks_db.models import DBTaskResult

    url = uploader.start("a.txt", 1000).json()["url"]
    uploader.patch(url, 0, b"a" * 400)
    task = DBTaskResult.objects.get(task_path="telemed.boxes.tasks.upload_expire")
    assert task.run_after > timezone.now() + timezone.timedelta(hours=23)
    # A day later, nobody came back.
    DBTaskResult.objects.filter(pk=task.pk).update(run_after=timezone.now())
    UploadSession.objects.update(last_activity_at=timezone.now() - timezone.timedelta(hours=25))
    run_tasks()
    assert UploadSession.objects.get().state == UploadState.EXPIRED
    assert box_of(patient).reserved_bytes == 0
    assert not list(services.scratch_dir().glob("*.part"))


def test_an_upload_still_active_when_its_task_runs_is_looked_at_again_later(uploader, run_tasks):
    from django_tasks_db.models import DBTaskResult

    uploader.start("a.txt", 1000)
    DBTaskResult.objects.update(run_after=timezone.now())
    run_tasks()
    assert UploadSession.objects.get().state == UploadState.OPEN
    assert DBTaskResult.objects.filter(status="READY", run_after__gt=timezone.now()).count() == 1


def test_the_form_upload_without_javascript(patient_client, patient):
    from django.core.files.uploadedfile import SimpleUploadedFile

    content = pdf_bytes()
    response = patient_client.post(
        reverse("boxes:upload_form"),
        {"file": SimpleUploadedFile("ecg.pdf", content), "category": "exam", "folder": ""},
    )
    document = Document.objects.get()
    assert response.status_code == 302 and response.url == reverse("boxes:document", args=[document.pk])
    assert document.category == "exam" and box_of(patient).used_bytes == len(content)
    response = patient_client.post(
        reverse("boxes:upload_form"), {"file": SimpleUploadedFile("page.pdf", b"<html></html>"), "category": "exam"}
    )
    assert response.status_code == 302 and Document.objects.count() == 1


def test_chunks_are_read_from_the_stream_not_from_request_body(uploader, monkeypatch):
    from django.http import HttpRequest

    def forbidden(self):
        raise AssertionError("request.body read")

    url = uploader.start("a.txt", 10).json()["url"]
    monkeypatch.setattr(HttpRequest, "body", property(forbidden))
    assert uploader.patch(url, 0, b"0123456789").status_code == 201
