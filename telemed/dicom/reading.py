"""Reading a CD: which files to import (from the DICOMDIR when there is one, else a scan),
and the key attributes of each instance, read from its header without its pixels.

Real CDs are copied by many tools: names may come out lowercase, or with ``.dcm``
appended, so the DICOMDIR's references are resolved leniently before pydicom's
``FileSet`` loads it. A DICOMDIR that does not load is reported, and the files are
then scanned one by one, as for a folder without one.
"""

import dataclasses
import datetime
import io
import logging
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.fileset import FileSet

MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
PIXEL_DATA = 0x7FE00010
UNDEFINED_LENGTH = 0xFFFFFFFF
UID_PATTERN = re.compile(r"^[0-9]+(\.[0-9]+)*$")
# Values this long are left on disk while the header is read (pixel data, overlays, icons).
DEFER_BYTES = 4096
# The elements a Header is made of (and the pixel data, whose length tells a cut file).
HEADER_TAGS = [
    "SOPInstanceUID", "SOPClassUID", "StudyInstanceUID", "SeriesInstanceUID", "PatientID", "PatientName",
    "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime", "StudyDescription", "AccessionNumber",
    "InstitutionName", "ReferringPhysicianName", "Modality", "SeriesNumber", "SeriesDescription", "SeriesDate",
    "BodyPartExamined", "InstanceNumber", "ImagePositionPatient", "ImageOrientationPatient", "SliceLocation",
    "Rows", "Columns", "NumberOfFrames", "PhotometricInterpretation", "PixelData",
]  # fmt: skip

logger = logging.getLogger(__name__)


@dataclass
class Candidate:
    """A staged file to look at, in the order the import takes them."""

    path: Path
    relative: str
    listed_in_dicomdir: bool = False


@dataclass
class Plan:
    candidates: list[Candidate]
    used_dicomdir: bool
    # DICOMDIR files that could not be read (the import scanned instead).
    unreadable_dicomdirs: list[str]


def _is_dicomdir_name(path: Path) -> bool:
    return path.name.upper() in {"DICOMDIR", "DICOMDIR.DCM"}


def _walk(root: Path) -> list[Path]:
    found = []
    for folder, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(folder) / name
            if path.is_file() and not path.is_symlink():
                found.append(path)
    return found


def _resolve_leniently(base: Path, components: list[str], by_lower: dict[str, Path]) -> Path | None:
    """The staged file a DICOMDIR reference names: exact, any case, or with ``.dcm`` appended."""
    exact = base.joinpath(*components)
    if exact.is_file():
        return exact
    key = str(exact).lower()
    return by_lower.get(key) or by_lower.get(key + ".dcm")


def _load_fileset(dicomdir: Path, staged: list[Path]) -> list[Path]:
    """The instances a DICOMDIR lists, as staged paths (after lenient renaming); raises if unreadable."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(dicomdir)
        if ds.file_meta.get("MediaStorageSOPClassUID") != MEDIA_STORAGE_DIRECTORY:
            raise InvalidDicomError("not a DICOMDIR")
        base = dicomdir.parent
        by_lower = {str(path).lower(): path for path in staged}
        # Rename files copied as 'im000001' or 'IM000001.dcm' to the name the DICOMDIR gives,
        # so that FileSet finds them; the staging folder is ours, the CD is untouched.
        for record in ds.get("DirectoryRecordSequence", []):
            file_id = record.get("ReferencedFileID")
            if not file_id:
                continue
            components = [file_id] if isinstance(file_id, str) else list(file_id)
            if any(part in ("", ".", "..") or "/" in part or "\\" in part for part in components):
                continue
            found = _resolve_leniently(base, components, by_lower)
            wanted = base.joinpath(*components)
            if found is not None and found != wanted and not wanted.exists():
                wanted.parent.mkdir(parents=True, exist_ok=True)
                found.rename(wanted)
        fileset = FileSet(ds)
        root = base.resolve()
        listed = []
        for instance in fileset:
            path = Path(instance.path)
            if path.resolve().is_relative_to(root):
                listed.append(path)
        return listed


def plan_import(root: Path) -> Plan:
    """Decide what to read, in which order: the DICOMDIR's instances first, then every other file."""
    staged = _walk(root)
    dicomdirs = [path for path in staged if _is_dicomdir_name(path)]
    listed: list[Path] = []
    unreadable = []
    for dicomdir in dicomdirs:
        try:
            listed.extend(_load_fileset(dicomdir, staged))
        except Exception:  # a damaged DICOMDIR breaks pydicom in many ways; we scan instead
            logger.info("DICOMDIR %s unreadable, scanning", dicomdir, exc_info=True)
            unreadable.append(str(dicomdir.relative_to(root)))
    if listed:
        staged = _walk(root)  # renamed files have new names now
    seen = set()
    candidates = []
    for path in listed:
        if path not in seen and path.is_file():
            seen.add(path)
            candidates.append(Candidate(path, str(path.relative_to(root)), listed_in_dicomdir=True))
    for path in staged:
        if path not in seen and not _is_dicomdir_name(path):
            seen.add(path)
            candidates.append(Candidate(path, str(path.relative_to(root))))
    return Plan(candidates=candidates, used_dicomdir=bool(listed), unreadable_dicomdirs=unreadable)


@dataclass
class Header:
    """The key attributes of one instance."""

    sop_instance_uid: str
    sop_class_uid: str
    study_instance_uid: str
    series_instance_uid: str
    transfer_syntax_uid: str
    patient_id: str
    patient_name: str
    patient_birth_date: datetime.date | None
    patient_sex: str
    study_date: datetime.date | None
    study_time: str
    study_description: str
    accession_number: str
    institution: str
    referring_physician: str
    modality: str
    series_number: int | None
    series_description: str
    series_date: datetime.date | None
    body_part: str
    instance_number: int | None
    slice_position: float | None
    rows: int | None
    columns: int | None
    frames: int
    photometric: str

    def as_json(self) -> dict:
        """Kept with a file read as it arrived, so that the import does not read it again."""
        return {
            name: value.isoformat() if isinstance(value, datetime.date) else value
            for name, value in dataclasses.asdict(self).items()
        }

    @classmethod
    def from_json(cls, data: dict) -> "Header":
        values = dict(data)
        for name in DATE_FIELDS:
            values[name] = datetime.date.fromisoformat(values[name]) if values.get(name) else None
        return cls(**values)


DATE_FIELDS = ("patient_birth_date", "study_date", "series_date")


class NotDicom(ValueError):
    pass


class Unusable(ValueError):
    """A DICOM file that cannot be imported; ``code`` is the report's reason."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def _text(ds, keyword: str, limit: int) -> str:
    try:
        value = ds.get(keyword)
    except Exception:  # noqa: BLE001 - a malformed value is treated as missing
        return ""
    if value is None:
        return ""
    text = str(value).replace("^", " ").strip() if keyword.endswith("Name") else str(value).strip()
    return "".join(ch for ch in text if ch.isprintable())[:limit]


def _date(ds, keyword: str) -> datetime.date | None:
    value = _text(ds, keyword, 16).replace(".", "")
    try:
        return datetime.datetime.strptime(value[:8], "%Y%m%d").date() if len(value) >= 8 else None  # noqa: DTZ007
    except ValueError:
        return None


def _int(ds, keyword: str) -> int | None:
    try:
        value = ds.get(keyword)
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError, OverflowError):
        return None


def _uid(ds, keyword: str) -> str:
    value = _text(ds, keyword, 80).rstrip("\x00 ")
    if not value or len(value) > 64 or not UID_PATTERN.match(value):
        raise Unusable("no_uids")
    return value


def _slice_position(ds) -> float | None:
    """Where the slice lies along its normal (image position · orientation normal)."""
    try:
        position = [float(v) for v in ds.ImagePositionPatient]
        row, col = (
            [float(v) for v in ds.ImageOrientationPatient[:3]],
            [float(v) for v in ds.ImageOrientationPatient[3:]],
        )
    except (AttributeError, TypeError, ValueError, IndexError, KeyError):
        location = ds.get("SliceLocation")
        try:
            return float(location) if location not in (None, "") else None
        except (TypeError, ValueError):
            return None
    normal = (row[1] * col[2] - row[2] * col[1], row[2] * col[0] - row[0] * col[2], row[0] * col[1] - row[1] * col[0])
    return sum(p * n for p, n in zip(position, normal, strict=True))


def read_header(path: Path) -> Header:
    """The instance's key attributes; NotDicom or Unusable when it cannot be imported."""
    with open(path, "rb") as stream:
        return _header_of(stream, path.stat().st_size, path.name)


def header_of_bytes(data: bytes, name: str) -> Header:
    """The same, from a file held in memory (a CD's file as it arrives in a batch)."""
    return _header_of(io.BytesIO(data), len(data), name)


def _header_of(stream: BinaryIO, size: int, name: str) -> Header:
    head = stream.read(132)
    if len(head) < 132 or head[128:132] != b"DICM":
        raise NotDicom(name)
    stream.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # Only the elements the Header takes are converted; the others are skipped unread,
            # which makes reading a header two to three times faster.
            ds = pydicom.dcmread(stream, defer_size=DEFER_BYTES, specific_tags=HEADER_TAGS)
    except Exception:  # noqa: BLE001 - a hostile or damaged file may break the parser in any way
        raise Unusable("damaged") from None
    try:
        if ds.file_meta.get("MediaStorageSOPClassUID") == MEDIA_STORAGE_DIRECTORY:
            raise Unusable("dicomdir")
        transfer_syntax = str(ds.file_meta.get("TransferSyntaxUID") or "")
        # pydicom reads garbage leniently: a header that swallowed the rest of the file leaves a
        # nonsense transfer syntax and no data set at all. That file is damaged; "no_uids" is
        # for a readable image that lacks its identifiers.
        if len(ds) == 0 or (transfer_syntax and not UID_PATTERN.match(transfer_syntax.rstrip("\x00 "))):
            raise Unusable("damaged")
        pixels = ds._dict.get(PIXEL_DATA)
        if pixels is not None:
            length = getattr(pixels, "length", None)
            tell = getattr(pixels, "value_tell", None)
            if length is not None and tell is not None and length != UNDEFINED_LENGTH and tell + length > size:
                raise Unusable("truncated")
        rows, columns = _int(ds, "Rows"), _int(ds, "Columns")
        frames = 0
        if pixels is not None and rows and columns:
            frames = max(_int(ds, "NumberOfFrames") or 1, 1)
        return Header(
            sop_instance_uid=_uid(ds, "SOPInstanceUID"),
            sop_class_uid=_text(ds, "SOPClassUID", 64),
            study_instance_uid=_uid(ds, "StudyInstanceUID"),
            series_instance_uid=_uid(ds, "SeriesInstanceUID"),
            transfer_syntax_uid=transfer_syntax[:64],
            patient_id=_text(ds, "PatientID", 64),
            patient_name=_text(ds, "PatientName", 200),
            patient_birth_date=_date(ds, "PatientBirthDate"),
            patient_sex=_text(ds, "PatientSex", 16),
            study_date=_date(ds, "StudyDate"),
            study_time=_text(ds, "StudyTime", 16),
            study_description=_text(ds, "StudyDescription", 200),
            accession_number=_text(ds, "AccessionNumber", 32),
            institution=_text(ds, "InstitutionName", 200),
            referring_physician=_text(ds, "ReferringPhysicianName", 200),
            modality=_text(ds, "Modality", 16),
            series_number=_int(ds, "SeriesNumber"),
            series_description=_text(ds, "SeriesDescription", 200),
            series_date=_date(ds, "SeriesDate"),
            body_part=_text(ds, "BodyPartExamined", 64),
            instance_number=_int(ds, "InstanceNumber"),
            slice_position=_slice_position(ds),
            rows=rows,
            columns=columns,
            frames=frames,
            photometric=_text(ds, "PhotometricInterpretation", 20),
        )
    except Unusable:
        raise
    except Exception:  # noqa: BLE001 - malformed elements surface lazily, when first touched
        raise Unusable("damaged") from None
