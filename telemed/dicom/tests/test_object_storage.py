"""A CD import and a de-identified copy with object storage (``STORAGE_URL``) against a real
S3-protocol server: every instance is an object in the bucket, nothing in the media dir."""

import io
import zipfile

import pydicom
import pytest
from django.urls import reverse

from telemed.dicom.models import ImportState, Instance, Study
from telemed.dicom.tests.conftest import cd_from_dicomdir_set

pytestmark = pytest.mark.django_db


def test_a_cd_is_imported_into_the_bucket_and_copied_de_identified_from_it(
    importer, patient, run_tasks, tmp_path, object_storage, settings
):
    cd_import = importer.import_folder(cd_from_dicomdir_set(tmp_path / "CD"), run_tasks)
    assert cd_import.state == ImportState.DONE and cd_import.imported_count == 31
    stored = sorted(Instance.objects.values_list("file", flat=True))
    assert object_storage.keys() == stored and len(stored) == 31
    instance = Instance.objects.first()
    assert pydicom.dcmread(io.BytesIO(object_storage.read(instance.file.name))).SOPInstanceUID
    study = Study.objects.get(description="XR C Spine Comp Min 4 Views")
    response = importer.client.post(reverse("dicom:study_deidentified", args=[study.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    copies = [pydicom.dcmread(io.BytesIO(archive.read(name))) for name in archive.namelist() if name != "DICOMDIR"]
    assert len(copies) == 3 and {str(ds.PatientName) for ds in copies} == {"ANONYMOUS"}
    assert list((settings.VAR_DIR / "media").iterdir()) == []


def test_rendered_images_are_kept_in_the_bucket_and_go_with_their_study(
    importer, patient, run_tasks, tmp_path, object_storage, settings, django_capture_on_commit_callbacks
):
    importer.import_folder(cd_from_dicomdir_set(tmp_path / "CD"), run_tasks)
    study = Study.objects.get(description="XR C Spine Comp Min 4 Views")
    instance = Instance.objects.filter(series__study=study).first()
    url = reverse("dicom:instance_image", args=[instance.pk])
    first = importer.client.get(url)
    assert first.status_code == 200 and first["Content-Type"] == "image/png"
    png = first.content
    rendered = [key for key in object_storage.keys() if key.startswith(f"private/dicom-rendered/{instance.pk}/")]
    assert len(rendered) == 1 and object_storage.read(rendered[0]) == png
    again = importer.client.get(url)  # from the bucket this time
    assert again.status_code == 200 and again.content == png
    assert not (settings.VAR_DIR / "dicom-rendered").exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = importer.client.post(reverse("dicom:study_delete", args=[study.pk]))
    assert response.status_code in (200, 302)
    assert not Study.objects.filter(pk=study.pk).exists()
    assert not [key for key in object_storage.keys() if key.startswith(f"private/dicom-rendered/{instance.pk}/")]
    assert instance.file.name not in object_storage.keys()
