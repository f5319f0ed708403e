"""A de-identified copy of a study for colleagues: DICOM PS3.15 Annex E, Basic Application
Level Confidentiality Profile, applied by dicom-anonymizer (its table of the 2026c edition
of the standard), written as a CD-like ZIP with its own DICOMDIR.

UIDs are replaced consistently within one copy (the series still belong to their study,
references still point to their images) with a mapping that lives only as long as the
copy is made: two copies of the same study share no UID, and nothing about the mapping
stays in the process. Instances whose pixels carry burned-in text (Burned In Annotation
YES) are left out: the basic profile does not clean pixels.
"""

import os
import shutil
import tempfile
import time
import warnings
import zipfile
from collections.abc import Iterable
from pathlib import Path

import pydicom
from dicomanonymizer import simpledicomanonymizer as profile
from pydicom.dataset import Dataset
from pydicom.fileset import FileSet
from pydicom.uid import generate_uid

PROFILE_TABLE = "dicomfields_2026c"
METHOD = "DICOM PS3.15 E.1-1 Basic Application Level Confidentiality Profile (dicom-anonymizer 2.1.0, 2026c)"
# CID 7050 code of the basic profile.
BASIC_PROFILE_CODE = ("113100", "DCM", "Basic Application Confidentiality Profile")


RECORD_KEYS = {
    "StudyID": "1",
    "StudyDate": "19000101",
    "StudyTime": "000000",
    "SeriesNumber": "1",
    "InstanceNumber": "1",
}


def _rules_with_uid_map(uid_map: dict[str, str]) -> dict:
    """The profile's actions, with the U (replace UID) actions bound to this copy's own mapping."""

    def new_uid(old: str) -> str:
        if old not in uid_map:
            uid_map[old] = generate_uid()
        return uid_map[old]

    def replace_uids(element) -> None:
        if element.VM > 1:
            element.value = [new_uid(str(value)) for value in element.value]
        elif element.value:
            element.value = new_uid(str(element.value))

    def replace_uid(dataset, tag):
        element = dataset.get(tag)
        if element is not None:
            replace_uids(element)

    def replace_uid_or_empty(dataset, tag):
        element = dataset.get(tag)
        if element is not None:
            if element.VR == "UI":
                replace_uids(element)
            else:
                profile.empty_element(element)

    actions = profile.initialize_actions(PROFILE_TABLE)
    for tag, action in list(actions.items()):
        if action is profile.replace_UID:
            actions[tag] = replace_uid
        elif action is profile.delete_or_empty_or_replace_UID:
            actions[tag] = replace_uid_or_empty
    return actions


def deidentify_dataset(ds: Dataset, rules: dict) -> None:
    profile.anonymize_dataset(ds, base_rules_gen=lambda: dict(rules), delete_private_tags=True)
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = METHOD
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = BASIC_PROFILE_CODE
    ds.DeidentificationMethodCodeSequence = [code]
    # The profile empties these (Z); a viewer shows something readable instead.
    ds.PatientName = "ANONYMOUS"
    ds.PatientID = "ANONYMOUS"
    if hasattr(ds, "file_meta"):
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    # The DICOMDIR's records need these (Type 1 there): the profile may have emptied them.
    for keyword, dummy in RECORD_KEYS.items():
        if not str(ds.get(keyword, "") or "").strip():
            setattr(ds, keyword, dummy)


def write_deidentified_zip(sources: Iterable[tuple[str, object]], out_path: Path, scratch: Path) -> tuple[int, int]:
    """De-identify each (label, open binary file) into a ZIP at ``out_path``: DICOMDIR + the files.

    Returns (written, left_out). One instance is in memory at a time; the ZIP is
    written to disk, never held in memory.
    """
    rules = _rules_with_uid_map({})
    written = left_out = 0
    unlisted: list[Path] = []  # objects a DICOMDIR has no record type for: in the ZIP all the same
    fileset = FileSet()
    fileset.ID = "TELEMED"
    staged = scratch / "in"
    staged.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for index, (_label, stream) in enumerate(sources):
            with stream:
                ds = pydicom.dcmread(stream)
            if str(ds.get("BurnedInAnnotation", "")).upper() == "YES":
                left_out += 1
                continue
            deidentify_dataset(ds, rules)
            path = staged / f"{index:06d}.dcm"
            ds.save_as(path, enforce_file_format=True)
            try:
                fileset.add(path)
            except ValueError:
                unlisted.append(path)
            written += 1
            del ds
        tree = scratch / "cd"
        if len(fileset):
            fileset.write(tree)
    with zipfile.ZipFile(out_path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1, allowZip64=True) as archive:
        for folder, _dirs, files in os.walk(tree):
            for name in sorted(files):
                path = Path(folder) / name
                archive.write(path, str(path.relative_to(tree)))
        for path in unlisted:
            archive.write(path, f"OTHER/{path.name}")
    return written, left_out


# What a process killed while copying or sending a copy left in the exports' directory: gone
# the next time a copy is made, once older than anything a live process could still be using
# (a 4 GB copy downloaded slowly takes hours).
STALE_AFTER_SECONDS = 24 * 3600


def scratch_dir(parent: Path) -> tempfile.TemporaryDirectory:
    parent.mkdir(parents=True, exist_ok=True)
    remove_stale(parent)
    return tempfile.TemporaryDirectory(prefix="deid-", dir=parent)


def remove_stale(parent: Path) -> int:
    """Remove the scratch directories and copies in ``parent`` older than a day; returns how many."""
    limit, removed = time.time() - STALE_AFTER_SECONDS, 0
    for entry in parent.iterdir():
        try:
            if entry.lstat().st_mtime >= limit:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed += 1
        except FileNotFoundError:
            pass  # another process removed it first
    return removed
