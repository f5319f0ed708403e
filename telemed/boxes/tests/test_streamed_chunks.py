"""An upload's chunk reaches the view as it arrives over ASGI (telemed/streaming.py): it is
written into the part file while the client is still sending, once, with Django's session,
second-factor and CSRF checks in front of it as for any request."""

import asyncio
import io
import os
import zipfile

import blake3
import pytest
from asgiref.sync import sync_to_async
from asgiref.testing import ApplicationCommunicator
from django.conf import settings
from django.urls import reverse

from conftest import verified_client
from telemed.boxes import services, uploads
from telemed.boxes.models import Document, UploadSession
from telemed.streaming import ReceivedBody

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "a" * 32
PIECE = services.COPY_BLOCK  # the view writes in blocks of this size


def _scope(client, url: str, offset: int, length: int, *, csrf: bool = True) -> dict:
    cookies = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}; {settings.CSRF_COOKIE_NAME}={TOKEN}"
    headers = [
        (b"host", b"testserver"), (b"cookie", cookies.encode()), (b"content-length", str(length).encode()),
        (b"content-type", b"application/offset+octet-stream"), (b"upload-offset", str(offset).encode()),
    ]  # fmt: skip
    if csrf:
        headers.append((b"x-csrftoken", TOKEN.encode()))
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "PATCH", "scheme": "http",
        "path": url, "raw_path": url.encode(), "query_string": b"", "headers": headers,
        "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
    }  # fmt: skip


async def _answer(communicator) -> tuple[int, dict]:
    start = await communicator.receive_output(timeout=20)
    body = b""
    while True:
        message = await communicator.receive_output(timeout=20)
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    return start["status"], {k.decode().lower(): v.decode() for k, v in start["headers"]}


@pytest.fixture
def patient_and_upload(patient, files_in_tmp):
    client = verified_client(patient)
    archive = io.BytesIO()  # a CD's ZIP: stored, incompressible images
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as cd:
        cd.writestr("DICOM/IM000001", os.urandom(4 * PIECE))
    content = archive.getvalue()
    response = client.post(
        reverse("boxes:upload_create"), {"name": "cd.zip", "size": str(len(content)), "category": "imaging"}
    )
    assert response.status_code == 201, response.content
    return client, response.json()["url"], content


def test_the_part_file_grows_while_the_client_is_still_sending(patient_and_upload):
    from telemed.asgi import django_application

    client, url, content = patient_and_upload
    upload = UploadSession.objects.get()
    half = len(content) // 2

    async def run():
        communicator = ApplicationCommunicator(django_application, _scope(client, url, 0, half))
        await communicator.send_input({"type": "http.request", "body": content[:PIECE], "more_body": True})
        part = uploads.part_path(upload)
        for _ in range(200):  # the view has written the first piece before the rest is sent
            if part.exists() and part.stat().st_size >= PIECE:
                break
            await asyncio.sleep(0.05)
        written_before_the_rest = part.stat().st_size if part.exists() else 0
        await communicator.send_input({"type": "http.request", "body": content[PIECE:half], "more_body": False})
        status, headers = await _answer(communicator)
        await communicator.wait(timeout=5)
        return written_before_the_rest, status, headers

    written, status, headers = asyncio.run(run())
    assert written >= PIECE and status == 204 and headers["upload-offset"] == str(half)

    # The second half over the test client completes it: the digest ran across both requests.
    response = client.generic(
        "PATCH",
        url,
        content[half:],
        content_type="application/offset+octet-stream",
        headers={"Upload-Offset": str(half)},
    )
    assert response.status_code == 201, response.content
    assert Document.objects.get().digest == blake3.blake3(content).hexdigest()


def test_a_client_gone_mid_chunk_leaves_the_offset_where_it_was(patient_and_upload):
    from telemed.asgi import django_application

    client, url, content = patient_and_upload

    async def run():
        communicator = ApplicationCommunicator(django_application, _scope(client, url, 0, len(content)))
        await communicator.send_input({"type": "http.request", "body": content[:PIECE], "more_body": True})
        await communicator.send_input({"type": "http.disconnect"})
        await communicator.wait(timeout=20)

    asyncio.run(run())
    upload = UploadSession.objects.get()
    assert upload.offset == 0 and uploads.part_path(upload).stat().st_size == 0
    # It resumes from 0 and completes.
    response = client.generic(
        "PATCH", url, content, content_type="application/offset+octet-stream", headers={"Upload-Offset": "0"}
    )
    assert response.status_code == 201 and Document.objects.get().digest == blake3.blake3(content).hexdigest()


def test_a_streamed_chunk_still_needs_its_csrf_token(patient_and_upload):
    from telemed.asgi import django_application

    client, url, content = patient_and_upload

    async def run():
        communicator = ApplicationCommunicator(django_application, _scope(client, url, 0, PIECE, csrf=False))
        await communicator.send_input({"type": "http.request", "body": content[:PIECE], "more_body": False})
        status, _headers = await _answer(communicator)
        await communicator.wait(timeout=5)
        return status

    assert asyncio.run(run()) == 403
    assert UploadSession.objects.get().offset == 0


def test_the_body_reads_in_the_blocks_asked_for():
    messages = [
        {"type": "http.request", "body": b"abc", "more_body": True},
        {"type": "http.request", "body": b"defgh", "more_body": False},
    ]

    async def receive():
        return messages.pop(0)

    async def run():
        body = ReceivedBody(receive)
        return await sync_to_async(lambda: [body.read(4), body.read(4), body.read(4)])()

    assert asyncio.run(run()) == [b"abcd", b"efgh", b""]


def test_reads_of_any_size_give_back_the_body_byte_for_byte_whatever_its_pieces():
    content = bytes(range(256)) * 40
    cuts = [0, 1, 7, 300, 301, 4000, 4096, 9000, len(content)]
    pieces = [content[start:end] for start, end in zip(cuts, cuts[1:], strict=False)]
    messages = [{"type": "http.request", "body": piece, "more_body": True} for piece in pieces]
    messages.append({"type": "http.request", "body": b"", "more_body": False})

    async def receive():
        return messages.pop(0)

    async def run():
        body = ReceivedBody(receive)

        def read_all():
            blocks, size = [], 1
            while block := body.read(size):
                assert isinstance(block, bytes) and len(block) <= size
                blocks.append(block)
                size = size * 3 + 1
            return blocks

        return await sync_to_async(read_all)()

    blocks = asyncio.run(run())
    assert b"".join(blocks) == content and all(
        len(block) == size for block, size in zip(blocks[:-1], [1, 4, 13, 40, 121, 364, 1093, 3280], strict=False)
    )
