"""A consistent backup of the platform (database dump + a copy of its stored files with their
manifest) and its restore into a new database and a new storage, with the checks that prove it.

A backup is one folder, written by ``backup_create``:

    manifest.json     format, engine, when; the dump's SHA-256; every copied file (path, size,
                      SHA-256); the figures of the snapshot the restore compares (verification.py)
    database.dump     pg_dump's custom format (PostgreSQL), or database.sqlite3 (SQLite)
    files/<key>       each stored file under its storage key

The stored files are read and written through Django's storage API only (``storages["default"]``
for the backup, a storage built from ``--storage-url`` or ``--media-root`` for the restore), so the
same commands serve a local media folder and an S3 bucket.
"""

import datetime
import json
from dataclasses import dataclass, field
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.core.files import File
from django.core.files.storage import storages

from telemed.backups import database, stored_files, verification

FORMAT = 1
MANIFEST = "manifest.json"
FILES = "files"
DUMP_NAMES = {"postgresql": "database.dump", "sqlite3": "database.sqlite3"}


class BackupError(Exception):
    """A backup or restore that cannot be done, with the reason for the operator."""


def _sha256_of(path: Path) -> str:
    with path.open("rb") as stream:
        return stored_files.copy_and_hash(stream, None, "sha256")[1]["sha256"]


@dataclass
class BackupSummary:
    directory: Path
    engine: str
    files: int
    bytes: int
    optional_missing: list[str] = field(default_factory=list)


def backup_create(*, directory: Path) -> BackupSummary:
    """Write a backup of the live database and storage into the new folder ``directory``."""
    from django.db import connections

    engine = database.engine(connections["default"].settings_dict)
    if directory.exists() and any(directory.iterdir()):
        raise BackupError(f"{directory} is not empty: a backup goes into a new folder")
    directory.mkdir(parents=True, exist_ok=True)
    dump = directory / DUMP_NAMES[engine]
    source = storages["default"]
    entries: list[dict] = []
    missing: list[str] = []
    optional_missing: list[str] = []
    total = 0
    try:
        # The snapshot's transaction ends before the files are copied: holding it longer would
        # hold back PostgreSQL's vacuum for the whole copy, and would not keep a file from being
        # deleted anyway.
        with database.snapshot(dump) as alias:
            figures = verification.figures(alias)
            references = stored_files.references(alias)
    except database.DatabaseError as error:
        raise BackupError(str(error)) from error
    for reference in references:
        if not stored_files.safe_name(reference.name):
            raise BackupError(f"{reference.model} {reference.pk}: storage key {reference.name!r} is not a safe path")
        if not source.exists(reference.name):
            (missing if reference.required else optional_missing).append(
                f"{reference.model} {reference.pk}: {reference.name}"
            )
            continue
        target = directory / FILES / reference.name
        target.parent.mkdir(parents=True, exist_ok=True)
        with source.open(reference.name, "rb") as stream, target.open("wb") as copy:
            size, digests = stored_files.copy_and_hash(stream, copy, "sha256")
        entries.append({"path": reference.name, "size": size, "sha256": digests["sha256"]})
        total += size
    if missing:
        raise BackupError(
            "files the database refers to are missing from the storage (a document deleted while the "
            "backup ran takes its file with it: run the backup again):\n  " + "\n  ".join(missing)
        )
    manifest = {
        "format": FORMAT,
        "created_at": datetime.datetime.now(datetime.UTC).isoformat(),
        "engine": engine,
        "database": {"path": dump.name, "size": dump.stat().st_size, "sha256": _sha256_of(dump)},
        "files": entries,
        "figures": figures,
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return BackupSummary(directory, engine, len(entries), total, optional_missing)


def manifest_read(directory: Path) -> dict:
    path = directory / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise BackupError(f"{path} cannot be read: {error}") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path}: not a backup manifest of format {FORMAT}")
    if manifest.get("engine") not in DUMP_NAMES or not {"database", "files", "figures"} <= manifest.keys():
        raise BackupError(f"{path}: incomplete manifest (engine, database, files and figures are needed)")
    return manifest


def backup_verify(*, directory: Path, manifest: dict) -> verification.Check:
    """The backup's own copy against its manifest: the dump and every file, size and SHA-256."""
    check = verification.Check("backup copy (manifest)")
    dump = directory / DUMP_NAMES[manifest["engine"]]
    check.checked += 1
    if not dump.is_file():
        check.problems.append(f"{dump.name}: missing")
    elif _sha256_of(dump) != manifest["database"]["sha256"]:
        check.problems.append(f"{dump.name}: SHA-256 differs from the manifest (the dump was changed or damaged)")
    for entry in manifest["files"]:
        check.checked += 1
        if not stored_files.safe_name(entry["path"]):
            check.problems.append(f"{entry['path']!r}: not a safe path")
            continue
        path = directory / FILES / entry["path"]
        if not path.is_file():
            check.problems.append(f"{entry['path']}: missing from the backup")
            continue
        with path.open("rb") as stream:
            size, digests = stored_files.copy_and_hash(stream, None, "sha256")
        if size != entry["size"]:
            check.problems.append(f"{entry['path']}: {size} bytes, the manifest says {entry['size']}")
        elif digests["sha256"] != entry["sha256"]:
            check.problems.append(
                f"{entry['path']}: SHA-256 differs from the manifest (the file was changed or damaged)"
            )
    return check


@dataclass
class RestoreReport:
    checks: list[verification.Check]
    restored: bool

    @property
    def ok(self) -> bool:
        return self.restored and all(check.ok for check in self.checks)


def backup_restore(*, directory: Path, database_url: str, storage) -> RestoreReport:
    """Restore the backup in ``directory`` into the new database at ``database_url`` and the empty
    ``storage``, then check the result. A backup whose copy does not match its manifest is not
    restored at all."""
    manifest = manifest_read(directory)
    copy_check = backup_verify(directory=directory, manifest=manifest)
    if not copy_check.ok:
        return RestoreReport([copy_check], restored=False)
    taken = [entry["path"] for entry in manifest["files"] if storage.exists(entry["path"])]
    if taken:
        raise BackupError(f"the target storage already holds {len(taken)} of the backup's files (e.g. {taken[0]}): "
                          "a restore goes into an empty bucket or media folder")  # fmt: skip
    try:
        database.restore(directory / DUMP_NAMES[manifest["engine"]], manifest["engine"], database_url)
    except database.DatabaseError as error:
        raise BackupError(str(error)) from error
    for entry in manifest["files"]:
        with (directory / FILES / entry["path"]).open("rb") as stream:
            saved = storage.save(entry["path"], File(stream, name=Path(entry["path"]).name))
        if saved != entry["path"]:
            raise BackupError(f"the storage stored {entry['path']} as {saved}: is the target storage empty?")
    figures = manifest["figures"]
    with database.opened(database_url) as alias:
        restored = verification.read_back(storage, manifest["files"])
        checks = [
            copy_check,
            verification.stored(alias, manifest["files"], restored),
            verification.documents(alias, restored),
            verification.ledger(alias, figures["ledger"]),
            verification.invoice_numbering(alias, figures["invoices"]),
            verification.audit_trail(alias, figures["audit"]),
        ]
    return RestoreReport(checks, restored=True)


def media_storage(*, media_root: str = "", storage_url: str = ""):
    """The storage a restore writes into: a local folder, or the bucket of an ``s3://`` URL."""
    from django.conf import settings

    from telemed.settings import storage_from_url

    if bool(media_root) == bool(storage_url):
        raise BackupError("give exactly one of --media-root and --storage-url")
    if storage_url:
        try:
            return storages.create_storage(storage_from_url(storage_url))
        except ImproperlyConfigured as error:
            raise BackupError(str(error)) from error
    return storages.create_storage({
        "BACKEND": "telemed.filestorage.DurableFileSystemStorage",
        "OPTIONS": {"location": media_root, "file_permissions_mode": settings.FILE_UPLOAD_PERMISSIONS,
                    "directory_permissions_mode": settings.FILE_UPLOAD_DIRECTORY_PERMISSIONS},
    })  # fmt: skip
