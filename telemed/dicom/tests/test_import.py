"""CD import: the bundled DICOMDIR sets, lenient names, scans without DICOMDIR, ZIPs, a doctor's
import into a patient folder, and the quota counting exactly what was stored."""

import datetime
import shutil

import pytest

from telemed.audit.models import AuditEntry
from telemed.boxes import services as box_services
from telemed.boxes.models import Box
from telemed.dicom.models import DicomPatient, ImportState, Instance, Series, Study
from telemed.dicom.tests.conftest import (
    DICOMDIR_SET,
    CdImporter,
    cd_from_dicomdir_set,
    cd_from_files,
    leftovers,
    logged_in,
    staged_size,
    storage_files,
    zip_of,
)

pytestmark = pytest.mark.django_db


def assert_quota_exact(user):
    box = Box.objects.get(owner=user)
    stored = sum(Instance.objects.filter(box=box).values_list("size", flat=True))
    assert (box.used_bytes, box.reserved_bytes) == (stored, 0)


def test_the_bundled_dicomdir_set_is_filed_by_patient_study_and_series(
    importer, patient, run_tasks, tmp_path, dicom_files
):
    cd = cd_from_dicomdir_set(tmp_path / "CD")
    cd_import = importer.import_folder(cd, run_tasks)
    assert cd_import.state == ImportState.DONE and cd_import.used_dicomdir
    assert (cd_import.imported_count, cd_import.skipped_count) == (31, 0)
    assert set(DicomPatient.objects.values_list("name", flat=True)) == {"Doe Archibald", "Doe Peter"}
    assert Study.objects.count() == 6 and Series.objects.count() == 13 and Instance.objects.count() == 31
    spine = Study.objects.get(description="XR C Spine Comp Min 4 Views")
    assert spine.study_date == datetime.date(2001, 1, 1) and spine.modalities == "CR"
    assert (spine.series_count, spine.instance_count, spine.image_count) == (3, 3, 3)
    lateral = spine.series.get(number=1)
    assert (lateral.modality, lateral.description, lateral.body_part) == ("CR", "Cervical LAT", "CSPINE")
    head = Study.objects.get(description="CT, HEAD/BRAIN WO CONTRAST")
    assert head.study_date == datetime.date(1995, 9, 3) and head.image_count == 4
    assert list(head.series.get().instances.values_list("number", flat=True)) == [18, 180, 181, 182]
    # The quota counts exactly the bytes of the stored instances, which are the CD's bytes.
    assert sum(Instance.objects.values_list("size", flat=True)) == staged_size(cd) - (cd / "DICOMDIR").stat().st_size
    assert_quota_exact(patient)
    assert len(storage_files(dicom_files)) == 31 and leftovers(dicom_files) == []
    assert AuditEntry.objects.filter(action="upload", target_type="dicom.study", patient=patient).count() == 6


def test_the_tiny_dicomdir_set_without_pixels_is_imported_as_non_image_objects(importer, patient, run_tasks, tmp_path):
    cd = tmp_path / "TINY"
    shutil.copytree(DICOMDIR_SET / "TINY_ALPHA", cd)
    cd_import = importer.import_folder(cd, run_tasks)
    assert cd_import.used_dicomdir and cd_import.imported_count == 50
    # README is listed as the File-set descriptor, not a DICOM file: reported, not imported.
    assert cd_import.skipped_by_reason == {"not_dicom": 1}
    study = Study.objects.get()
    assert (study.instance_count, study.image_count, study.description) == (50, 0, "Testing File-set")
    assert_quota_exact(patient)


def test_lowercase_names_and_dcm_suffixes_still_follow_the_dicomdir(importer, patient, run_tasks, tmp_path):
    cd = cd_from_dicomdir_set(tmp_path / "cd")
    for path in sorted(cd.rglob("*"), key=lambda p: -len(p.parts)):
        if path.name == "DICOMDIR":
            continue
        renamed = path.with_name(path.name.lower() + (".dcm" if path.is_file() else ""))
        path.rename(renamed)
    cd_import = importer.import_folder(cd, run_tasks)
    assert cd_import.used_dicomdir and (cd_import.imported_count, cd_import.skipped_count) == (31, 0)
    assert Instance.objects.filter(path_on_cd__endswith=".dcm").count() == 0  # renamed back to the DICOMDIR's names
    assert_quota_exact(patient)


def test_without_a_dicomdir_every_file_is_scanned(importer, patient, run_tasks, tmp_path):
    cd = cd_from_files(tmp_path / "CD", ["MR_small.dcm", "CT_small.dcm", "MR_small_RLE.dcm", "waveform_ecg.dcm"])
    (cd / "autorun.inf").write_text("[autorun]\nopen=viewer.exe\n")
    cd_import = importer.import_folder(cd, run_tasks)
    assert not cd_import.used_dicomdir
    # MR_small and MR_small_RLE are the same instance (same SOP Instance UID): the second is reported.
    assert cd_import.imported_count == 3
    assert cd_import.skipped_by_reason == {"not_dicom": 1, "duplicate_in_cd": 1}
    ecg = Instance.objects.get(sop_class_uid="1.2.840.10008.5.1.4.1.1.9.1.1")
    assert not ecg.is_image and ecg.series.image_count == 0
    assert_quota_exact(patient)


def test_an_unreadable_dicomdir_is_reported_and_the_files_are_scanned(importer, patient, run_tasks, tmp_path):
    cd = cd_from_dicomdir_set(tmp_path / "CD")
    shutil.copy(DICOMDIR_SET / "DICOMDIR-nopatient", cd / "DICOMDIR")
    cd_import = importer.import_folder(cd, run_tasks)
    assert not cd_import.used_dicomdir
    assert cd_import.imported_count == 31 and cd_import.skipped_by_reason == {"dicomdir": 1}
    assert cd_import.skips.get().path == "CD/DICOMDIR"


def test_a_zip_of_the_cd_is_imported_like_the_folder(importer, patient, run_tasks, tmp_path, dicom_files):
    cd = cd_from_dicomdir_set(tmp_path / "CD")
    archive = zip_of(cd, tmp_path / "cd.zip")
    cd_import = importer.import_bytes({"cd.zip": archive.read_bytes()}, run_tasks)
    assert cd_import.used_dicomdir and (cd_import.imported_count, cd_import.skipped_count) == (31, 0)
    assert_quota_exact(patient)
    assert leftovers(dicom_files) == []


def test_the_same_cd_imported_twice_adds_nothing_the_second_time(importer, patient, run_tasks, tmp_path):
    cd = cd_from_dicomdir_set(tmp_path / "CD")
    importer.import_folder(cd, run_tasks)
    used = Box.objects.get(owner=patient).used_bytes
    again = importer.import_folder(cd, run_tasks)
    assert again.imported_count == 0 and again.skipped_by_reason == {"duplicate": 31}
    assert Box.objects.get(owner=patient).used_bytes == used and Instance.objects.count() == 31
    assert_quota_exact(patient)


def test_a_doctor_imports_into_a_patient_folder_of_the_medbox(doctor, patient, run_tasks, tmp_path):
    client = logged_in(doctor)
    importer = CdImporter(client)
    refused = importer.start()
    assert refused.status_code == 400 and "patient's folder" in refused.json()["error"]
    folder = box_services.folder_create(actor=doctor, name="Conti Anna")
    cd = cd_from_files(tmp_path / "CD", ["CT_small.dcm"])
    cd_import = importer.import_folder(cd, run_tasks, into=folder)
    study = Study.objects.get()
    assert cd_import.imported_count == 1 and study.folder == folder and study.box.owner == doctor
    assert_quota_exact(doctor)
    assert not Box.objects.filter(owner=patient, used_bytes__gt=0).exists()
