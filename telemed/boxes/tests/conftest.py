"""Fixtures of the boxes' tests: files kept in a folder of the test's own, people logged in,
and a small HTTP client of the resumable-upload protocol."""

import io

import pytest
from django.test import Client
from django.urls import reverse
from pypdf import PdfWriter

from conftest import verified_client


@pytest.fixture(autouse=True)
def box_files(files_in_tmp):
    """Each test stores its documents and part files under its own temporary folder."""
    return files_in_tmp


def pdf_bytes(title: str = "Referto", padding: int = 0) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.add_metadata({"/Title": title})
    if padding:
        writer.add_attachment("padding.bin", b"\0" * padding)
    stream = io.BytesIO()
    writer.write(stream)
    return stream.getvalue()


def logged_in(user) -> Client:
    """A client logged in as ``user`` (a doctor past the second factor), asking for English pages."""
    return verified_client(user, language="en")


@pytest.fixture
def patient(make_patient):
    return make_patient(first_name="Anna", last_name="Conti")


@pytest.fixture
def other_patient(make_patient):
    return make_patient(first_name="Giorgio", last_name="Neri")


@pytest.fixture
def doctor(make_doctor):
    return make_doctor(first_name="Marco", last_name="Bianchi")


@pytest.fixture
def patient_client(patient):
    return logged_in(patient)


@pytest.fixture
def doctor_client(doctor):
    return logged_in(doctor)


class Uploader:
    """The protocol as static/boxes/upload.js speaks it."""

    def __init__(self, client: Client):
        self.client = client

    def start(self, name: str, size: int, category: str = "report", folder=None):
        data = {"name": name, "size": str(size), "category": category}
        if folder is not None:
            data["folder"] = str(folder)
        return self.client.post(reverse("boxes:upload_create"), data)

    def patch(self, url: str, offset: int, chunk: bytes, **headers):
        return self.client.generic(
            "PATCH", url, chunk, content_type="application/offset+octet-stream",
            headers={"Upload-Offset": str(offset), **headers},
        )  # fmt: skip

    def head(self, url: str):
        return self.client.head(url)

    def upload(self, name: str, content: bytes, chunk_size: int = 64 * 1024, **start):
        response = self.start(name, len(content), **start)
        assert response.status_code == 201, response.content
        url = response.json()["url"]
        offset = 0
        while offset < len(content):
            response = self.patch(url, offset, content[offset : offset + chunk_size])
            assert response.status_code in (201, 204), response.content
            offset = int(response["Upload-Offset"])
        return response


@pytest.fixture
def uploader(patient_client):
    return Uploader(patient_client)
