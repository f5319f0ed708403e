"""The de-identified copy: PS3.15 basic profile, UIDs replaced consistently within one copy and
differently in the next, pixels untouched, a DICOMDIR, burned-in images left out, audited."""

import io
import zipfile

import pydicom
import pytest
from django.urls import reverse

from telemed.audit.models import AuditEntry
from telemed.dicom.models import Instance, Study
from telemed.dicom.tests.conftest import cd_from_dicomdir_set, dicom_bytes, with_new_uids

pytestmark = pytest.mark.django_db


def export(client, study) -> zipfile.ZipFile:
    response = client.post(reverse("dicom:study_deidentified", args=[study.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def datasets(archive: zipfile.ZipFile) -> list[pydicom.Dataset]:
    return [pydicom.dcmread(io.BytesIO(archive.read(name))) for name in archive.namelist() if name != "DICOMDIR"]


def test_the_copy_follows_the_basic_profile_and_keeps_the_study_together(importer, patient, run_tasks, tmp_path):
    importer.import_folder(cd_from_dicomdir_set(tmp_path / "CD"), run_tasks)
    study = Study.objects.get(description="XR C Spine Comp Min 4 Views")
    original = pydicom.dcmread(Instance.objects.filter(series__study=study).first().file.open("rb"))
    archive = export(importer.client, study)
    assert "DICOMDIR" in archive.namelist()
    copies = datasets(archive)
    assert len(copies) == 3
    for ds in copies:
        assert str(ds.PatientName) == "ANONYMOUS" and ds.PatientID == "ANONYMOUS"
        assert (
            ds.get("PatientBirthDate") in (None, "", "00010101")
            and not ds.get("InstitutionName")
            and not ds.get("ReferringPhysicianName")
        )
        assert ds.PatientIdentityRemoved == "YES" and "Basic" in ds.DeidentificationMethod
        assert ds.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert not any(element.tag.is_private for element in ds)
        assert ds.StudyInstanceUID != original.StudyInstanceUID
    assert len({ds.StudyInstanceUID for ds in copies}) == 1  # still one study
    assert len({ds.SeriesInstanceUID for ds in copies}) == 3  # still three series
    assert {ds.PixelData for ds in copies} >= {original.PixelData}
    # A second copy shares no UID with the first.
    again = datasets(export(importer.client, study))
    assert not {ds.SOPInstanceUID for ds in copies} & {ds.SOPInstanceUID for ds in again}
    # The patient's own study is untouched.
    stored = pydicom.dcmread(Instance.objects.filter(series__study=study).first().file.open("rb"))
    assert str(stored.PatientName) == "Doe^Archibald"
    assert AuditEntry.objects.filter(action="export", target_type="dicom.study", patient=patient).count() == 2


def test_images_with_burned_in_text_are_left_out(importer, patient, run_tasks):
    importer.import_bytes(
        {"CD/A": dicom_bytes("CT_small.dcm"), "CD/B": with_new_uids("CT_small.dcm", BurnedInAnnotation="YES")},
        run_tasks,
    )
    archive = export(importer.client, Study.objects.get())
    assert len(datasets(archive)) == 1


def test_what_a_killed_export_left_behind_goes_with_the_next_one(tmp_path):
    import os
    import time

    from telemed.dicom import deidentify

    tmp_path = tmp_path / "dicom-exports"
    tmp_path.mkdir()
    stale_dir, stale_zip, fresh = tmp_path / "deid-old", tmp_path / "0a1b.zip", tmp_path / "deid-now"
    stale_dir.mkdir()
    (stale_dir / "copy.zip").write_bytes(b"x")
    stale_zip.write_bytes(b"x")
    fresh.mkdir()
    day_ago = time.time() - deidentify.STALE_AFTER_SECONDS - 60
    for path in (stale_dir, stale_zip):
        os.utime(path, (day_ago, day_ago))
    with deidentify.scratch_dir(tmp_path) as scratch:
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["deid-now", os.path.basename(scratch)])
