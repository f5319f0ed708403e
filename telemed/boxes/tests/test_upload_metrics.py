"""Upload bytes reach /metrics: each chunk written through the resumable-upload endpoint counts its
bytes; a refused chunk counts nothing."""

import pytest

from telemed.boxes.tests.conftest import pdf_bytes
from telemed.observability import metrics

pytestmark = pytest.mark.django_db


def box_bytes() -> float:
    return metrics.upload_bytes.labels(kind="box")._value.get()


def test_each_written_chunk_counts_its_bytes_and_a_refused_one_nothing(uploader):
    content = pdf_bytes(padding=150_000)
    url = uploader.start("referto.pdf", len(content)).json()["url"]
    before = box_bytes()
    assert uploader.patch(url, 0, content[:100_000]).status_code == 204
    assert box_bytes() == before + 100_000
    assert uploader.patch(url, 0, content[:10]).status_code == 409  # wrong offset: refused
    damaged = uploader.patch(url, 100_000, content[100_000:], **{"Upload-Checksum": "sha256 " + "0" * 64})
    assert damaged.status_code == 400
    assert box_bytes() == before + 100_000
    assert uploader.patch(url, 100_000, content[100_000:]).status_code == 201
    assert box_bytes() == before + len(content)
