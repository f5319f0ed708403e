"""The stored files a database snapshot refers to: which rows name which storage keys, and what
each row records about its bytes (size, digest), so that a backup copies exactly those files and a
restore can prove every one of them is the file the database describes.

Rules and decisions:
- The files to copy are read from the snapshot itself, never from a listing of the storage: a file
  written after the snapshot is not referenced by it and is left out; a file it references is
  copied, and one missing from the storage fails the backup (a document deleted after the snapshot
  took its file with it: run the backup again).
- Every ``FileField`` of every installed model is a reference, found through the app registry, so a
  new model with a file is backed up without a change here. Storage keys kept in plain columns
  (``KEY_COLUMNS``: staged files, data-rights exports) are copied when present and not required:
  both are transient and their own expiry tasks remove rows and files alike.
- What a row records about its bytes (``RECORDED``) is what the restore checks: documents and DICOM
  instances their BLAKE3 digest (SHA-256 for those stored before BLAKE3), signed report PDFs their
  SHA-256, each with its size.
"""

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

import blake3
from django.apps import apps
from django.db import models

BLOCK = 1024 * 1024

# Storage keys that live in plain columns, not FileFields: (model label, column).
KEY_COLUMNS = (("boxes.StagedFile", "storage_name"), ("rights.DataExport", "file_name"))


@dataclass(frozen=True)
class Recorded:
    """Where a model keeps what it knows of a file's bytes."""

    file_field: str
    size_field: str
    digest_field: str
    # The column naming the algorithm, or the algorithm itself when the model has one only.
    algorithm_field: str = ""
    algorithm: str = "sha256"


# Models whose rows record a digest of their file (the checks of the restore).
RECORDED = {
    "boxes.Document": Recorded("file", "size", "digest", algorithm_field="digest_algorithm"),
    "dicom.Instance": Recorded("file", "size", "digest", algorithm_field="digest_algorithm"),
    "reports.Report": Recorded("pdf", "pdf_size", "pdf_sha256"),
}


@dataclass(frozen=True)
class Reference:
    name: str  # the storage key
    model: str  # "app_label.Model", for messages
    pk: str
    required: bool


@dataclass(frozen=True)
class Expected:
    """A file whose row records its size and digest."""

    name: str
    model: str
    pk: str
    size: int
    algorithm: str
    digest: str


def safe_name(name: str) -> bool:
    """A storage key that can be a relative path under the backup's folder (no ``..``, no root)."""
    path = PurePosixPath(name)
    return bool(name) and not path.is_absolute() and ".." not in path.parts and "\\" not in name


def _file_fields() -> Iterator[tuple[type[models.Model], str]]:
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, models.FileField):
                yield model, field.attname


def references(using: str) -> list[Reference]:
    """Every storage key the database ``using`` refers to, required ones first."""
    found: dict[str, Reference] = {}
    for model, column in _file_fields():
        rows = model._default_manager.using(using).exclude(**{column: ""}).exclude(**{f"{column}__isnull": True})
        for pk, name in rows.values_list("pk", column).order_by("pk").iterator():
            found.setdefault(name, Reference(name, model._meta.label, str(pk), required=True))
    for label, column in KEY_COLUMNS:
        model = apps.get_model(label)
        for pk, name in model._default_manager.using(using).exclude(**{column: ""}).values_list("pk", column):
            found.setdefault(name, Reference(name, label, str(pk), required=False))
    return sorted(found.values(), key=lambda ref: (not ref.required, ref.name))


def expected(using: str) -> Iterator[Expected]:
    """The files whose rows record their digest, as the database ``using`` records them."""
    for label, recorded in RECORDED.items():
        model = apps.get_model(label)
        columns = [recorded.file_field, recorded.size_field, recorded.digest_field]
        if recorded.algorithm_field:
            columns.append(recorded.algorithm_field)
        rows = model._default_manager.using(using).exclude(**{recorded.file_field: ""})
        for pk, *values in rows.values_list("pk", *columns).order_by("pk").iterator():
            algorithm = values[3] if recorded.algorithm_field else recorded.algorithm
            yield Expected(values[0], label, str(pk), values[1], algorithm, values[2])


# Every algorithm a row may record its digest with (boxes.models.DigestAlgorithm).
ALGORITHMS = ("sha256", "blake3")


def hasher(algorithm: str):
    if algorithm == "blake3":
        return blake3.blake3()
    if algorithm == "sha256":
        return hashlib.sha256()
    raise ValueError(f"unknown digest algorithm {algorithm!r}")


def copy_and_hash(source, target, *algorithms: str) -> tuple[int, dict[str, str]]:
    """Copy the stream ``source`` into ``target`` (None: only read it); its size and digests."""
    digests = {algorithm: hasher(algorithm) for algorithm in algorithms}
    size = 0
    while block := source.read(BLOCK):
        for digest in digests.values():
            digest.update(block)
        if target is not None:
            target.write(block)
        size += len(block)
    return size, {algorithm: digest.hexdigest() for algorithm, digest in digests.items()}
