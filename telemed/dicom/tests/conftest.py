"""Fixtures of the DICOM tests: files kept in a folder of the test's own, people logged in, CD folders
built from the DICOM files that ship inside the pydicom wheel (never downloaded), and a client of
the CD import protocol as static/dicom/import.js speaks it."""

import io
import os
import shutil
import zipfile
from pathlib import Path

import pydicom
import pytest
from django.urls import reverse

# The people of the boxes' tests, and their clients (re-exported for the tests).
from telemed.boxes.tests.conftest import doctor, logged_in, other_patient, patient, patient_client  # noqa: F401

# The files inside the installed wheel; pydicom's get_testdata_file() may download, this never does.
TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
DICOMDIR_SET = TEST_FILES / "dicomdirtests"


@pytest.fixture(autouse=True)
def dicom_files(files_in_tmp):
    """Each test stores its files, staged CDs and rendered images under its own temporary folder."""
    return files_in_tmp


@pytest.fixture(autouse=True)
def fresh_cache():
    from django.core.cache import cache

    cache.clear()
    yield


def cd_from_dicomdir_set(target: Path) -> Path:
    """A CD-like folder: pydicom's DICOMDIR set (2 patients, 31 CR/CT/MR instances)."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(DICOMDIR_SET / "DICOMDIR", target / "DICOMDIR")
    for name in ("77654033", "98892001", "98892003"):
        shutil.copytree(DICOMDIR_SET / name, target / name)
    return target


def cd_from_files(target: Path, names: list[str]) -> Path:
    """A CD-like folder without DICOMDIR: the named test files under DICOM/."""
    (target / "DICOM").mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(names):
        shutil.copy(TEST_FILES / name, target / "DICOM" / f"IM{index:05d}")
    return target


def zip_of(folder: Path, zip_path: Path) -> Path:
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, str(path.relative_to(folder)))
    return zip_path


def staged_size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


class CdImporter:
    """The import protocol over Django's test client."""

    def __init__(self, client):
        self.client = client

    def start(self, folder=None):
        data = {"folder": str(folder.pk)} if folder is not None else {}
        return self.client.post(reverse("dicom:import_create"), data)

    def send(self, files_url: str, path: str, content: bytes, offset: int = 0, total: int | None = None, **extra):
        from urllib.parse import quote

        return self.client.generic(
            "POST", files_url, content, content_type="application/octet-stream",
            headers={"Upload-Path": quote(path), "Upload-Offset": str(offset), "Upload-Length": str(total or len(content))},
            **extra,
        )  # fmt: skip

    def send_file(self, files_url: str, path: str, content: bytes, chunk: int = 256 * 1024):
        offset = 0
        response = None
        while offset < len(content):
            response = self.send(files_url, path, content[offset : offset + chunk], offset=offset, total=len(content))
            if response.status_code != 200:
                return response
            offset = int(response["Upload-Offset"])
        return response

    def finish(self, finish_url: str):
        return self.client.post(finish_url)

    def import_folder(self, folder: Path, run_tasks, *, into=None, prefix: str | None = None):
        """Send every file of ``folder`` (paths as the browser gives them: 'CD/…'), finish, run the task."""
        started = self.start(into)
        assert started.status_code == 201, started.content
        urls = started.json()
        prefix = folder.name if prefix is None else prefix
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                relative = str(path.relative_to(folder))
                response = self.send_file(
                    urls["files_url"], f"{prefix}/{relative}" if prefix else relative, path.read_bytes()
                )
                assert response.status_code == 200, response.content
        assert self.finish(urls["finish_url"]).status_code == 202
        run_tasks()
        from telemed.dicom.models import CdImport

        return CdImport.objects.get(pk=urls["id"])

    def import_bytes(self, files: dict[str, bytes], run_tasks, *, into=None):
        started = self.start(into)
        assert started.status_code == 201, started.content
        urls = started.json()
        for path, content in files.items():
            self.send_file(urls["files_url"], path, content)
        assert self.finish(urls["finish_url"]).status_code == 202
        run_tasks()
        from telemed.dicom.models import CdImport

        return CdImport.objects.get(pk=urls["id"])


@pytest.fixture
def importer(patient_client):  # noqa: F811 - the fixture imported above
    return CdImporter(patient_client)


def dicom_bytes(name: str) -> bytes:
    return (TEST_FILES / name).read_bytes()


def with_new_uids(name: str, **attributes) -> bytes:
    """A test file with fresh UIDs (and any attribute changed), as bytes."""
    ds = pydicom.dcmread(TEST_FILES / name)
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    for key, value in attributes.items():
        setattr(ds, key, value)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def storage_files(var: Path) -> list[Path]:
    root = var / "media" / "private" / "dicom"
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def leftovers(var: Path) -> list[str]:
    root = var / "dicom-imports"
    return [str(p) for p in root.rglob("*")] if root.exists() else []


__all__ = ["os"]
