"""Resumable uploads with object storage (``STORAGE_URL``) against a real S3-protocol server:
each chunk is a part of an S3 multipart upload, so no chunk has to reach the host that took
the one before; nothing private is left on the web host's disk."""

import datetime
import hashlib
import io
import urllib.request

import blake3
import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import get_random_string

from conftest import database_url_for_subprocesses, free_port, platform_process, session_cookie
from telemed.boxes import digests, parts, uploads
from telemed.boxes.models import Box, Document, UploadSession, UploadState
from telemed.boxes.tests.conftest import pdf_bytes

pytestmark = pytest.mark.django_db

MIB = 1024 * 1024


def files_on_disk(var) -> list:
    """Every file under the var dir but the test database's own."""
    return sorted(path for path in var.rglob("*") if path.is_file() and "sqlite3" not in path.name)


def stored_key(document: Document) -> str:
    return document.file.name


def big_pdf() -> bytes:
    return pdf_bytes(padding=11 * MIB)  # three chunks of 5 MiB: two whole parts and a last one


def test_a_chunked_upload_becomes_one_object_with_its_digest_and_nothing_on_disk(
    uploader, patient, object_storage, settings
):
    content = big_pdf()
    response = uploader.upload("Risonanza.pdf", content, chunk_size=5 * MIB)
    assert response.status_code == 201, response.content
    document = Document.objects.get()
    upload = UploadSession.objects.get()
    assert upload.state == UploadState.COMPLETE and [part["number"] for part in upload.parts] == [1, 2, 3]
    assert object_storage.keys() == [stored_key(document)]
    assert hashlib.sha256(object_storage.read(stored_key(document))).hexdigest() == hashlib.sha256(content).hexdigest()
    assert document.digest == blake3.blake3(content).hexdigest() and document.mime == "application/pdf"
    box = Box.objects.get(owner=patient)
    assert (box.used_bytes, box.reserved_bytes) == (len(content), 0)
    assert object_storage.multipart_uploads() == []
    assert files_on_disk(settings.VAR_DIR) == []


def test_chunks_taken_by_processes_that_share_no_disk_complete_with_the_right_digest(
    uploader, object_storage, settings, tmp_path
):
    """Each chunk handled as by another host: its own var dir, no digest kept in memory."""
    content = big_pdf()
    url = uploader.start("tac.pdf", len(content)).json()["url"]
    offset = 0
    for host in range(3):
        settings.VAR_DIR = tmp_path / f"host-{host}"
        digests._running.clear()
        response = uploader.patch(url, offset, content[offset : offset + 5 * MIB])
        assert response.status_code in (201, 204), response.content
        offset = int(response["Upload-Offset"])
    assert response.status_code == 201
    document = Document.objects.get()
    # Read back from the bucket once, the digest is still the digest of what was sent.
    assert document.digest == blake3.blake3(content).hexdigest()
    assert object_storage.read(stored_key(document)) == content
    assert [path for host in range(3) for path in files_on_disk(tmp_path / f"host-{host}")] == []


def test_a_small_chunk_that_is_not_the_last_is_refused_and_changes_nothing(uploader, object_storage):
    content = big_pdf()
    url = uploader.start("a.pdf", len(content)).json()["url"]
    response = uploader.patch(url, 0, content[:MIB])
    assert response.status_code == 400
    assert "Every chunk but the last must be at least 5 MB" in response.json()["error"]
    assert response["Upload-Offset"] == "0"
    upload = UploadSession.objects.get()
    assert (upload.offset, upload.parts) == (0, [])
    # The last chunk may be small; a file smaller than a part is one chunk.
    small = pdf_bytes()
    response = uploader.upload("small.pdf", small, chunk_size=len(small))
    assert response.status_code == 201
    assert object_storage.read(stored_key(Document.objects.get())) == small


def test_a_broken_chunk_never_becomes_a_part(uploader, object_storage):
    content = big_pdf()
    url = uploader.start("a.pdf", len(content)).json()["url"]
    chunk = content[: 5 * MIB]
    response = uploader.patch(url, 0, chunk, **{"Upload-Checksum": "sha256 " + "0" * 64})
    assert response.status_code == 400 and response.json()["code"] == "checksum"
    upload = UploadSession.objects.get()
    assert (upload.offset, upload.parts) == (0, [])
    (listed,) = object_storage.multipart_uploads()
    assert (
        object_storage.client.list_parts(
            Bucket=object_storage.name, Key=listed["Key"], UploadId=listed["UploadId"]
        ).get("Parts", [])
        == []
    )
    good = uploader.patch(url, 0, chunk, **{"Upload-Checksum": "sha256 " + hashlib.sha256(chunk).hexdigest()})
    assert good.status_code == 204 and good["Upload-Offset"] == str(5 * MIB)


def test_a_cancelled_upload_leaves_nothing_in_the_bucket(uploader, patient, object_storage):
    content = big_pdf()
    url = uploader.start("a.pdf", len(content)).json()["url"]
    assert uploader.patch(url, 0, content[: 5 * MIB]).status_code == 204
    assert len(object_storage.multipart_uploads()) == 1
    assert uploader.client.delete(url).status_code == 204
    assert object_storage.multipart_uploads() == [] and object_storage.keys() == []
    assert Box.objects.get(owner=patient).reserved_bytes == 0


def test_a_refused_type_is_removed_from_the_bucket(uploader, patient, object_storage):
    content = b"MZ\x90\x00" + b"\x00" * 100
    url = uploader.start("setup.exe", len(content)).json()["url"]
    assert uploader.patch(url, 0, content).status_code == 415
    assert UploadSession.objects.get().state == UploadState.FAILED
    assert object_storage.keys() == [] and object_storage.multipart_uploads() == []
    assert Box.objects.get(owner=patient).reserved_bytes == 0


def test_a_download_is_a_short_lived_signed_link_to_the_bucket(uploader, patient_client, object_storage):
    content = pdf_bytes()
    uploader.upload("referto.pdf", content, chunk_size=len(content))
    document = Document.objects.get()
    response = patient_client.get(reverse("boxes:document_download", args=[document.pk]))
    assert response.status_code == 302
    link = response["Location"]
    assert link.startswith(object_storage.server.endpoint) and "Signature=" in link
    with urllib.request.urlopen(link) as answer:
        assert answer.read() == content
    # The preview passes through the platform, streamed from the bucket.
    preview = patient_client.get(reverse("boxes:document_preview", args=[document.pk]))
    assert b"".join(preview.streaming_content) == content


def test_an_idle_upload_that_expires_gives_its_parts_up(uploader, patient, object_storage):
    content = big_pdf()
    url = uploader.start("a.pdf", len(content)).json()["url"]
    assert uploader.patch(url, 0, content[: 5 * MIB]).status_code == 204
    upload = UploadSession.objects.get()
    UploadSession.objects.filter(pk=upload.pk).update(last_activity_at=timezone.now() - datetime.timedelta(days=2))
    assert uploads.upload_expire_if_idle(upload_id=str(upload.pk))
    assert UploadSession.objects.get().state == UploadState.EXPIRED
    assert object_storage.multipart_uploads() == [] and object_storage.keys() == []
    assert Box.objects.get(owner=patient).reserved_bytes == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="two server processes share the PostgreSQL database")
def test_an_upload_alternating_between_two_live_servers_completes(patient, object_storage, tmp_path):
    """Two real `serve` processes, each with a var dir of its own, take the chunks in turn."""
    content = pdf_bytes(padding=16 * MIB)
    token = get_random_string(32)
    headers = {"Cookie": f"{session_cookie(patient)}; csrftoken={token}", "X-CSRFToken": token}
    env = {"DATABASE_URL": database_url_for_subprocesses(), "STORAGE_URL": object_storage.storage_url}

    def call(base: str, method: str, path: str, body: bytes | None = None, **extra):
        request = urllib.request.Request(base + path, data=body, method=method, headers={**headers, **extra})
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, answer.headers, answer.read()

    with (
        platform_process(port=free_port(), env={**env, "TELEMED_VAR_DIR": str(tmp_path / "a")}, args=("--no-worker",)) as first,
        platform_process(port=free_port(), env={**env, "TELEMED_VAR_DIR": str(tmp_path / "b")}, args=("--no-worker",)) as second,
    ):  # fmt: skip
        form = f"name=scan.pdf&size={len(content)}&category=imaging".encode()
        status, answer_headers, _ = call(
            first, "POST", reverse("boxes:upload_create"), form, **{"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert status == 201
        path = answer_headers["Location"]
        offset, servers, status = 0, [first, second], 0
        while offset < len(content):
            chunk = content[offset : offset + 8 * MIB]
            status, answer_headers, _ = call(
                servers[offset // (8 * MIB) % 2], "PATCH", path, chunk,
                **{"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"},
            )  # fmt: skip
            offset = int(answer_headers["Upload-Offset"])
        assert status == 201
    document = Document.objects.get()
    stored = object_storage.read(stored_key(document))
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(content).hexdigest()
    assert document.digest == blake3.blake3(content).hexdigest()
    assert [part["number"] for part in UploadSession.objects.get().parts] == [1, 2, 3]
    # What the servers keep on their disks is their own (metrics, keys), never a part of the file.
    for host in ("a", "b"):
        assert [path for path in files_on_disk(tmp_path / host) if {"uploads", "media"} & set(path.parts)] == []


def test_an_unreachable_bucket_is_a_clear_answer_and_holds_no_space(uploader, patient, settings):
    from telemed.settings import storage_from_url

    url = f"s3+http://key:secret@127.0.0.1:{free_port()}/nowhere?region=eu-south-1"  # nothing listens there
    settings.STORAGES = {**settings.STORAGES, "default": storage_from_url(url)}
    response = uploader.start("a.pdf", 10 * MIB)
    assert response.status_code == 503 and "cannot be reached right now" in response.json()["error"]
    assert not UploadSession.objects.exists()
    assert Box.objects.get(owner=patient).reserved_bytes == 0


def test_a_part_overwritten_by_a_late_request_is_never_filed(uploader, patient, object_storage):
    """Two requests raced for the first chunk with different bytes: the one that lost the offset
    still put its part last. S3 checks every recorded ETag when the upload completes."""
    content = big_pdf()
    url = uploader.start("a.pdf", len(content)).json()["url"]
    assert uploader.patch(url, 0, content[: 5 * MIB]).status_code == 204
    upload = UploadSession.objects.get()
    parts.part_put(upload.storage_name, upload.multipart_id, 1, io.BytesIO(b"x" * 5 * MIB), 5 * MIB)
    offset = 5 * MIB
    while offset < len(content):
        response = uploader.patch(url, offset, content[offset : offset + 5 * MIB])
        offset += 5 * MIB
    assert response.status_code == 400 and response.json()["code"] == "incomplete"
    assert UploadSession.objects.get().state == UploadState.FAILED and not Document.objects.exists()
    assert object_storage.keys() == [] and object_storage.multipart_uploads() == []
    assert Box.objects.get(owner=patient).reserved_bytes == 0
