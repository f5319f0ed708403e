"""Every use case of the DICOM app that changes state; the actor is checked here.

A CD import has one state machine (``_transition``): receiving → queued → running →
done, or failed / cancelled. While receiving, each file of the CD (or one ZIP of it)
arrives in chunks into the import's folder under the var dir; the whole size of a file
is reserved against the box's quota when its first chunk arrives, so staging can never
take more than the box has free. Then a task reads the CD (``_CdRun``): it unpacks a ZIP
after checking it, reads the DICOMDIR or scans the files, and stores every instance it
can, in batches: the file is moved into storage, its rows are written and its reserved
bytes become used bytes in one transaction. What was not stored is listed with its
reason, and whatever is still reserved is given back at the end — the quota counts
exactly what was stored.
"""

import datetime
import functools
import hashlib
import logging
import os
import shutil
import uuid
from collections import Counter
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Count, F, ProtectedError, Sum
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from telemed.accounts.models import User
from telemed.audit.models import AuditAction
from telemed.audit.services import audit_record
from telemed.boxes import selectors as box_selectors
from telemed.boxes import services as box_services
from telemed.boxes.models import Box, BoxKind, Folder
from telemed.dicom import deidentify, reading, staging, tasks
from telemed.dicom.models import (
    CdImport,
    DicomPatient,
    ImportedFile,
    ImportedStudy,
    ImportSkip,
    ImportState,
    Instance,
    Series,
    SkipReason,
    Study,
    StudyShare,
)
from telemed.outbox.services import message_claim

logger = logging.getLogger(__name__)

MAX_FILE_BYTES = 2 * 1024**3
MAX_CHUNK_BYTES = 64 * 1024**2
IDLE_LIMIT = datetime.timedelta(hours=24)
# The report lists this many files one by one; the totals per reason count them all.
MAX_SKIP_ROWS = 1000
BATCH = 200
VIEW_AUDIT_SECONDS = 600
HASH_BLOCK = 1024 * 1024
MAX_EXPORT_BYTES = 4 * 1024**3

QuotaExceeded = box_services.QuotaExceeded


class ImportConflict(ValidationError):
    """The chunk does not fit the import's state (wrong offset, finished, busy): the client resumes from ``received``."""

    def __init__(self, message: str, *, code: str, received: int = 0):
        super().__init__(message, code=code)
        self.received = received


# --- whose data --------------------------------------------------------------------------------


def study_patient(study: Study) -> User | None:
    """Whose clinical data this is: the Welbox's owner, or the patient linked to the Medbox folder."""
    if study.box.kind == BoxKind.WELBOX:
        return study.box.owner
    folder = study.folder
    return folder.patient if folder is not None and folder.patient_id else None


def _audit(actor: User | None, action: AuditAction, target, study: Study, request: HttpRequest | None) -> None:
    audit_record(actor=actor, action=action, target=target, patient=study_patient(study), request=request)


# --- the import's state machine -------------------------------------------------------------------

_MOVES = {
    ImportState.RECEIVING: {ImportState.QUEUED, ImportState.CANCELLED, ImportState.FAILED},
    ImportState.QUEUED: {ImportState.RUNNING, ImportState.FAILED},
    ImportState.RUNNING: {ImportState.DONE, ImportState.FAILED},
}


def _transition(cd_import: CdImport, to: ImportState, **fields) -> bool:
    """The import's one transition: only a legal move from the state it is in now, and only once."""
    sources = [state for state, targets in _MOVES.items() if to in targets]
    if not sources:
        raise ValueError(f"no move leads to {to}")
    if to in {ImportState.DONE, ImportState.FAILED, ImportState.CANCELLED}:
        fields.setdefault("finished_at", timezone.now())
    changed = CdImport.objects.filter(pk=cd_import.pk, state__in=sources).update(
        state=to, last_activity_at=timezone.now(), **fields
    )
    if changed:
        cd_import.state = to
        for name, value in fields.items():
            setattr(cd_import, name, value)
    return bool(changed)


def _folder_of(box: Box, folder: Folder | None) -> Folder | None:
    if folder is not None and folder.box_id != box.pk:
        raise ValidationError(_("This folder does not exist."), code="folder")
    return folder


def cd_import_start(*, actor: User, folder: Folder | None = None) -> CdImport:
    """Open an import into the actor's box (a doctor's goes into one of their patient folders)."""
    box = box_services.box_for(actor)
    folder = _folder_of(box, folder)
    if box.kind == BoxKind.MEDBOX and folder is None:
        raise ValidationError(_("Choose the patient's folder the CD goes into."), code="folder")
    now = timezone.now()
    with transaction.atomic():
        cd_import = CdImport.objects.create(box=box, owner=actor, folder=folder, last_activity_at=now)
        # In the same transaction: an import that is never finished is always cleaned up.
        tasks.cd_import_expire.using(run_after=now + IDLE_LIMIT).enqueue(import_id=str(cd_import.pk))
    return cd_import


def _own(actor: User, cd_import: CdImport) -> None:
    if cd_import.owner_id != actor.pk:
        raise PermissionDenied


class _Skips:
    """The report's lines: counted all, listed up to MAX_SKIP_ROWS."""

    def __init__(self, cd_import: CdImport):
        self.cd_import = cd_import
        self.counts: Counter = Counter()
        self.rows: list[ImportSkip] = []
        self.listed = cd_import.skips.count()

    def add(self, path: str, reason: SkipReason | str) -> None:
        reason = SkipReason(reason)
        self.counts[reason.value] += 1
        if self.listed + len(self.rows) < MAX_SKIP_ROWS:
            self.rows.append(ImportSkip(cd_import=self.cd_import, path=str(path)[:255], reason=reason))

    def flush(self) -> None:
        """Write what was gathered (inside the caller's transaction)."""
        if self.rows:
            ImportSkip.objects.bulk_create(self.rows)
            self.listed += len(self.rows)
            self.rows = []
        if self.counts:
            cd_import = CdImport.objects.select_for_update().get(pk=self.cd_import.pk)
            merged = Counter(cd_import.skipped_by_reason) + self.counts
            CdImport.objects.filter(pk=cd_import.pk).update(
                skipped_by_reason=dict(merged), skipped_count=F("skipped_count") + sum(self.counts.values())
            )
            self.cd_import.skipped_by_reason = dict(merged)
            self.counts = Counter()


def _refuse_file(cd_import: CdImport, path: str, reason: SkipReason, message: str, code: str) -> ValidationError:
    with transaction.atomic():
        skips = _Skips(cd_import)
        skips.add(path, reason)
        skips.flush()
    return ValidationError(message, code=code)


def cd_import_receive(
    *, actor: User, cd_import: CdImport, path: str, offset: int, total: int, stream: BinaryIO, length: int
) -> ImportedFile:
    """Append one chunk of one file of the CD (``path`` relative to the CD's folder).

    The first chunk of a file (offset 0) reserves its whole ``total`` size. A chunk is
    all or nothing: when fewer bytes arrive than declared, the file is cut back and the
    chunk can be sent again.
    """
    _own(actor, cd_import)
    if cd_import.state != ImportState.RECEIVING:
        raise ImportConflict(_("This import is no longer receiving files."), code="state")
    if not isinstance(total, int) or total <= 0:
        raise _refuse_file(cd_import, path, SkipReason.EMPTY, _("The file is empty."), "empty")
    if total > MAX_FILE_BYTES:
        raise _refuse_file(cd_import, path, SkipReason.TOO_BIG, _("A file can be at most 2 GB."), "size")
    if length is None or length <= 0 or length > MAX_CHUNK_BYTES:
        raise ValidationError(_("A chunk must hold between 1 byte and 64 MB."), code="chunk")
    if offset < 0 or offset + length > total:
        raise ValidationError(_("This chunk goes beyond the declared size of the file."), code="beyond")
    try:
        relative = staging.clean_relative_path(path)
        target = staging.staged_path(cd_import.pk, relative)
    except staging.UnsafePath:
        raise _refuse_file(
            cd_import, path, SkipReason.UNSAFE_PATH,
            _("“%(path)s” points outside the CD's folder: it was not accepted.") % {"path": path[:200]}, "unsafe_path",
        ) from None  # fmt: skip
    entry = ImportedFile.objects.filter(cd_import=cd_import, path=relative).first()
    if entry is None:
        if offset != 0:
            raise ImportConflict(_("This file has not been started: send it from the beginning."), code="offset")
        entry = _file_begin(cd_import, relative, total)
    elif entry.size != total:
        raise ValidationError(_("This file was announced with another size."), code="size")
    try:
        fd = staging.open_for_append(target)
    except staging.ChunkError:
        raise ImportConflict(_("Another part of this file is being sent right now."), code="busy", received=entry.received) from None
    try:
        # Read again under the lock, in one query: another request may have moved the file on,
        # or the import may have stopped receiving, since they were read.
        entry.received, cd_import.state = (
            ImportedFile.objects.filter(pk=entry.pk).values_list("received", "cd_import__state").get()
        )
        if cd_import.state != ImportState.RECEIVING:
            raise ImportConflict(_("This import is no longer receiving files."), code="state", received=entry.received)
        if offset != entry.received:
            raise ImportConflict(
                _("This chunk starts at byte %(sent)d, but the file is at byte %(expected)d.")
                % {"sent": offset, "expected": entry.received},
                code="offset", received=entry.received,
            )  # fmt: skip
        try:
            staging.append_chunk(fd, stream, offset, length)
        except staging.ChunkError as error:
            raise _chunk_refused(error, length) from None
        moved = ImportedFile.objects.filter(pk=entry.pk, received=offset).update(received=offset + length)
        if not moved:
            os.ftruncate(fd, offset)
            raise ImportConflict(_("This file changed meanwhile; ask where it stands."), code="offset")
        CdImport.objects.filter(pk=cd_import.pk).update(
            received_bytes=F("received_bytes") + length, last_activity_at=timezone.now()
        )
        entry.received = offset + length
    finally:
        os.close(fd)
    return entry


def _chunk_refused(error: staging.ChunkError, length: int) -> ValidationError:
    """What the sender is told when a chunk did not arrive whole: it may send it again."""
    if error.code == "truncated":
        return ValidationError(
            _("The chunk arrived incomplete (%(received)d of %(length)d bytes); send it again.")
            % {"received": error.received, "length": length},
            code="truncated",
        )
    return ValidationError(_("The chunk could not be received; send it again."), code="chunk")


def _file_begin(cd_import: CdImport, relative: str, total: int) -> ImportedFile:
    """A new file of the CD: counted, and its whole size reserved in the box, in one transaction.

    The import's limits are checked by the counting UPDATE itself; only a refusal reads the
    import again, to say which limit it met.
    """
    try:
        with transaction.atomic():
            counted = CdImport.objects.filter(
                pk=cd_import.pk, state=ImportState.RECEIVING, received_files__lt=staging.MAX_FILES,
                reserved_bytes__lte=staging.MAX_IMPORT_BYTES - total,
            ).update(received_files=F("received_files") + 1, reserved_bytes=F("reserved_bytes") + total)  # fmt: skip
            if counted:
                box_services.box_space_reserve(box=cd_import.box, size=total)
                entry = ImportedFile.objects.create(cd_import=cd_import, path=relative, size=total)
    except QuotaExceeded:
        _refuse_file(cd_import, relative, SkipReason.QUOTA, "", "quota")
        raise
    except IntegrityError:  # the same file begun by a concurrent request
        return ImportedFile.objects.get(cd_import=cd_import, path=relative)
    if not counted:
        raise _begin_refused(cd_import, relative)
    return entry


def _begin_refused(cd_import: CdImport, relative: str) -> ValidationError:
    """Why a new file was not counted: the import stopped receiving, or one of its limits."""
    fresh = CdImport.objects.get(pk=cd_import.pk)
    if fresh.state != ImportState.RECEIVING:
        return ImportConflict(_("This import is no longer receiving files."), code="state")
    if fresh.received_files >= staging.MAX_FILES:
        return _refuse_file(
            cd_import, relative, SkipReason.TOO_MANY_FILES,
            _("One import takes at most %(max)d files: this one was not accepted.") % {"max": staging.MAX_FILES}, "too_many",
        )  # fmt: skip
    return _refuse_file(
        cd_import, relative, SkipReason.TOO_BIG, _("One import takes at most 8 GB: this file was not accepted."), "too_big"
    )


def cd_import_finish(*, actor: User, cd_import: CdImport) -> CdImport:
    """Every file was sent: the import is queued for the task worker."""
    _own(actor, cd_import)
    with transaction.atomic():
        if not _transition(cd_import, ImportState.QUEUED):
            raise ImportConflict(_("This import is no longer receiving files."), code="state")
        tasks.cd_import_run.enqueue(import_id=str(cd_import.pk))
    return cd_import


def _give_back(cd_import: CdImport) -> None:
    """Release what the import still holds reserved, and remove its staged files."""
    with transaction.atomic():
        held = CdImport.objects.select_for_update().get(pk=cd_import.pk).reserved_bytes
        box_services.box_space_release(box=cd_import.box, size=held)
        CdImport.objects.filter(pk=cd_import.pk).update(reserved_bytes=0)
        cd_import.reserved_bytes = 0
    staging.remove_import_dir(cd_import.pk)


def cd_import_cancel(*, actor: User, cd_import: CdImport) -> None:
    _own(actor, cd_import)
    if not _transition(cd_import, ImportState.CANCELLED):
        raise ImportConflict(_("This import is no longer receiving files."), code="state")
    _give_back(cd_import)


def cd_import_expire_if_idle(*, import_id: str) -> bool:
    """Run by the scheduled task: an import left receiving past the limit is cancelled, else looked at later."""
    cd_import = CdImport.objects.filter(pk=import_id).select_related("box").first()
    if cd_import is None or cd_import.state != ImportState.RECEIVING:
        return False
    due = cd_import.last_activity_at + IDLE_LIMIT
    if due > timezone.now():
        # Looked at again once: a run again (its worker died after this) finds the look for
        # this due time claimed, and does not start a second chain of looks (telemed/outbox).
        with transaction.atomic():
            if message_claim(key=f"cd_import_expire:{cd_import.pk}:{due.isoformat()}"):
                tasks.cd_import_expire.using(run_after=due).enqueue(import_id=str(cd_import.pk))
        return False
    if not _transition(cd_import, ImportState.CANCELLED, error="expired"):
        return False
    _give_back(cd_import)
    return True


class _Interrupted(Exception):
    """A run that died where it cannot be resumed: the import fails cleanly instead."""


def cd_import_run(*, import_id: str, attempt: int = 1) -> CdImport | None:
    """Run by the task worker: read the staged CD and store its instances.

    An import found RUNNING was started by a run whose worker died (kill -9, host lost) and the
    task was given back (telemed/workers). It resumes: what that run stored (its rows and files
    committed together, batch by batch) stays and is not stored again, the report's skips are
    counted afresh, and a stored file left without its row is overwritten. It fails cleanly
    instead — reservation given back, staged files removed, the patient told on the import's
    page — when the run died while unpacking a ZIP, or when this is the task's last attempt
    (``TASK_MAX_ATTEMPTS``: the runs before it all died, maybe because of this very CD)."""
    cd_import = CdImport.objects.filter(pk=import_id).select_related("box__owner", "folder__patient", "owner").first()
    if cd_import is None:
        return None
    resuming = cd_import.state == ImportState.RUNNING
    if not resuming and not _transition(cd_import, ImportState.RUNNING):
        return None
    run = _CdRun(cd_import, resuming=resuming)
    try:
        if resuming and attempt >= settings.TASK_MAX_ATTEMPTS:
            raise _Interrupted("its last attempt")
        if resuming:
            run.restart()
        run.execute()
    except Exception as error:  # noqa: BLE001 - whatever breaks the import, it fails cleanly and says so
        logger.exception("CD import %s failed", cd_import.pk) if not isinstance(error, _Interrupted) else logger.error(
            "CD import %s stopped: interrupted (%s)", cd_import.pk, error
        )
        run.discard_moved()
        with transaction.atomic():
            run.skips.flush()
            _transition(cd_import, ImportState.FAILED, error="internal")
    finally:
        _give_back(cd_import)
    return cd_import


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


class _CdRun:
    """One run of the import task over the staged CD."""

    def __init__(self, cd_import: CdImport, *, resuming: bool = False):
        self.cd_import = cd_import
        self.resuming = resuming
        self.box = cd_import.box
        self.root = staging.files_dir(cd_import.pk)
        self.skips = _Skips(cd_import)
        self.seen_uids: set[str] = set()
        self.patients: dict[tuple, DicomPatient] = {}
        self.studies: dict[str, Study] = {}
        self.series: dict[tuple, Series] = {}
        self.moved: list[str] = []

    # -- reservations: the import's tally and the box move together, in one transaction each --

    def _reserve(self, size: int) -> None:
        with transaction.atomic():
            box_services.box_space_reserve(box=self.box, size=size)
            CdImport.objects.filter(pk=self.cd_import.pk).update(reserved_bytes=F("reserved_bytes") + size)

    def _release(self, size: int) -> None:
        with transaction.atomic():
            box_services.box_space_release(box=self.box, size=size)
            CdImport.objects.filter(pk=self.cd_import.pk).update(reserved_bytes=F("reserved_bytes") - size)

    def restart(self) -> None:
        """Before a resumed run: the scan starts over, so the skips it reported are forgotten."""
        with transaction.atomic():
            ImportSkip.objects.filter(cd_import=self.cd_import).delete()
            CdImport.objects.filter(pk=self.cd_import.pk).update(skipped_count=0, skipped_by_reason={})
        self.skips = _Skips(self.cd_import)

    def execute(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        for entry in self.cd_import.files.all().order_by("path"):
            path = self.root.joinpath(*entry.path.split("/"))
            if self.resuming and path.with_name(path.name + ".unzipped").exists() and path.exists():
                raise _Interrupted("it died while unpacking a ZIP")  # its reservations moved half-way
            if entry.received < entry.size:
                self.skips.add(entry.path, SkipReason.INCOMPLETE)
                path.unlink(missing_ok=True)
            elif staging.looks_like_zip(path):
                self._unpack(entry, path)
        plan = reading.plan_import(self.root)
        for dicomdir in plan.unreadable_dicomdirs:
            self.skips.add(staging.name_on_cd(dicomdir), SkipReason.DICOMDIR)
        for candidate in plan.candidates:
            candidate.relative = staging.name_on_cd(candidate.relative)
        if plan.used_dicomdir:
            CdImport.objects.filter(pk=self.cd_import.pk).update(used_dicomdir=True)
        batch: list[tuple[reading.Candidate, reading.Header, int]] = []
        for candidate in plan.candidates:
            item = self._read(candidate)
            if item is not None:
                batch.append(item)
            if len(batch) >= BATCH:
                self._store(batch)
                batch = []
        self._store(batch)
        self._finish()

    def _unpack(self, entry: ImportedFile, path: Path) -> None:
        room = box_selectors.box_usage(self.box).free + entry.size
        target = staging.unpacked_dir(path)
        try:
            members, declared = staging.check_zip(path, room=room)
            # The ZIP itself is not kept: its reservation makes room for what it holds.
            self._release(entry.size)
            try:
                self._reserve(declared)
            except QuotaExceeded:
                raise staging.ZipRefused("zip_too_big") from None
            try:
                unpacked = staging.unpack_zip(path, target, members, declared)
            except staging.ZipRefused:
                self._release(declared)
                raise
            self._release(declared - unpacked.written)
            for name, reason in unpacked.skipped:
                self.skips.add(f"{entry.path}/{name}", reason)
        except staging.ZipRefused as refused:
            self.skips.add(entry.path, refused.code)
            shutil.rmtree(target, ignore_errors=True)
        finally:
            path.unlink(missing_ok=True)

    def _read(self, candidate: reading.Candidate):
        try:
            size = candidate.path.stat().st_size
        except OSError:
            return None
        if size == 0:
            self.skips.add(candidate.relative, SkipReason.EMPTY)
            return None
        try:
            header = reading.read_header(candidate.path)
        except reading.NotDicom:
            self.skips.add(candidate.relative, SkipReason.NOT_DICOM)
            return None
        except reading.Unusable as unusable:
            if unusable.code != "dicomdir":
                self.skips.add(candidate.relative, unusable.code)
            return None
        if header.sop_instance_uid in self.seen_uids:
            self.skips.add(candidate.relative, SkipReason.DUPLICATE_IN_CD)
            return None
        self.seen_uids.add(header.sop_instance_uid)
        return candidate, header, size

    def _store(self, batch) -> None:
        if not batch:
            with transaction.atomic():
                self.skips.flush()
            return
        uids = [header.sop_instance_uid for _c, header, _s in batch]
        existing = dict(
            Instance.objects.filter(box=self.box, sop_instance_uid__in=uids).values_list("sop_instance_uid", "cd_import_id")
        )
        ready: list[tuple[Instance, reading.Header]] = []
        for candidate, header, size in batch:
            if existing.get(header.sop_instance_uid, "") == self.cd_import.pk:
                continue  # stored by this import's run that died: already counted
            if header.sop_instance_uid in existing:
                self.skips.add(candidate.relative, SkipReason.DUPLICATE)
                continue
            instance = Instance(
                box=self.box, sop_instance_uid=header.sop_instance_uid, sop_class_uid=header.sop_class_uid,
                transfer_syntax_uid=header.transfer_syntax_uid, number=header.instance_number,
                slice_position=header.slice_position, rows=header.rows, columns=header.columns, frames=header.frames,
                photometric=header.photometric, size=size, sha256=_sha256(candidate.path),
                path_on_cd=candidate.relative[:255], cd_import=self.cd_import,
            )  # fmt: skip
            with open(candidate.path, "rb") as stream:
                instance.file.name = default_storage.save(self._storage_name(header), self._stored(stream, candidate.path))
            self.moved.append(instance.file.name)
            ready.append((instance, header))
        try:
            with transaction.atomic():
                stored = self._write_rows(ready)
                self.skips.flush()
        except BaseException:
            self.discard_moved()
            raise
        self.moved = []
        del stored

    def _storage_name(self, header: reading.Header) -> str:
        # One name per (import, instance), derived so that a resumed run finds the file a dead
        # run stored without its row, and replaces it instead of leaving it behind. Like every
        # storage key it says nothing about the patient.
        name = f"private/dicom/{self.box.pk}/{uuid.uuid5(self.cd_import.pk, header.sop_instance_uid).hex}"
        if self.resuming and default_storage.exists(name):
            default_storage.delete(name)
        return name

    def _stored(self, stream, path: Path) -> File:
        # Copied, not moved: a staged file moved into place whose rows were not committed yet
        # would be lost to a kill, as the resumed run reads the staging again. The staging is
        # removed when the import ends.
        return File(stream, name=path.name)

    def _write_rows(self, ready) -> list[Instance]:
        for instance, header in ready:
            instance.series = self._series_for(header)
        try:
            with transaction.atomic():
                Instance.objects.bulk_create([instance for instance, _h in ready])
                stored = [instance for instance, _h in ready]
        except IntegrityError:
            # Another import of the same CD got there first: one by one, keeping what is new.
            stored = []
            for instance, _header in ready:
                try:
                    with transaction.atomic():
                        instance.pk = None
                        instance.save(force_insert=True)
                    stored.append(instance)
                except IntegrityError:
                    self.skips.add(instance.path_on_cd, SkipReason.DUPLICATE)
                    if instance.file.name:
                        transaction.on_commit(functools.partial(default_storage.delete, instance.file.name))
        size = sum(instance.size for instance in stored)
        box_services.box_space_commit(box=self.box, size=size)
        CdImport.objects.filter(pk=self.cd_import.pk).update(
            reserved_bytes=F("reserved_bytes") - size, imported_count=F("imported_count") + len(stored),
            imported_bytes=F("imported_bytes") + size, last_activity_at=timezone.now(),
        )  # fmt: skip
        return stored

    def discard_moved(self) -> None:
        for name in self.moved:
            default_storage.delete(name)
        self.moved = []

    def _patient_for(self, header: reading.Header) -> DicomPatient:
        key = (header.patient_id, header.patient_name)
        if key not in self.patients:
            self.patients[key], _created = DicomPatient.objects.get_or_create(
                box=self.box, patient_id=header.patient_id, name=header.patient_name,
                defaults={"birth_date": header.patient_birth_date, "sex": header.patient_sex},
            )  # fmt: skip
        return self.patients[key]

    def _study_for(self, header: reading.Header) -> Study:
        uid = header.study_instance_uid
        if uid not in self.studies:
            study = Study.objects.filter(box=self.box, study_instance_uid=uid).first()
            if study is None:
                study = Study.objects.create(
                    box=self.box, folder=self.cd_import.folder, dicom_patient=self._patient_for(header),
                    study_instance_uid=uid, study_date=header.study_date, study_time=header.study_time,
                    description=header.study_description, accession_number=header.accession_number,
                    institution=header.institution, referring_physician=header.referring_physician,
                    imported_by=self.cd_import.owner,
                )  # fmt: skip
            self.studies[uid] = study
        return self.studies[uid]

    def _series_for(self, header: reading.Header) -> Series:
        study = self._study_for(header)
        key = (study.pk, header.series_instance_uid)
        if key not in self.series:
            self.series[key], _created = Series.objects.get_or_create(
                study=study, series_instance_uid=header.series_instance_uid,
                defaults={
                    "number": header.series_number, "modality": header.modality, "description": header.series_description,
                    "body_part": header.body_part, "series_date": header.series_date,
                },
            )  # fmt: skip
        return self.series[key]

    def _finish(self) -> None:
        # Counted from the rows, not from this run's tally: a resumed run counts what the run
        # before it stored too.
        per_study = (
            Instance.objects.filter(cd_import=self.cd_import).order_by().values_list("series__study").annotate(n=Count("pk"))
        )
        with transaction.atomic():
            for study_id, count in per_study:
                study = Study.objects.select_related("box", "folder").get(pk=study_id)
                study_recount(study)
                ImportedStudy.objects.create(cd_import=self.cd_import, study=study, instances=count)
                _audit(self.cd_import.owner, AuditAction.UPLOAD, study, study, None)
            self.skips.flush()
            _transition(self.cd_import, ImportState.DONE)


def study_recount(study: Study) -> None:
    """The counts shown in lists, from the instances themselves."""
    for series in study.series.all():
        totals = series.instances.aggregate(count=Count("id"), images=Sum("frames"))
        Series.objects.filter(pk=series.pk).update(instance_count=totals["count"], image_count=totals["images"] or 0)
    totals = Instance.objects.filter(series__study=study).aggregate(count=Count("id"), images=Sum("frames"), size=Sum("size"))
    modalities = sorted({m for m in study.series.values_list("modality", flat=True) if m})
    Study.objects.filter(pk=study.pk).update(
        series_count=study.series.count(), instance_count=totals["count"], image_count=totals["images"] or 0,
        size=totals["size"] or 0, modalities="/".join(modalities)[:100],
    )  # fmt: skip


# --- reading a study ------------------------------------------------------------------------------


def study_viewed(*, actor: User, study: Study, request: HttpRequest | None = None) -> None:
    """Record that ``actor`` opened the study page (the view already checked access)."""
    _audit(actor, AuditAction.VIEW, study, study, request)


def series_viewed(*, actor: User, series: Series, request: HttpRequest | None = None) -> bool:
    """Record that ``actor`` looked at the images of a series.

    Scrolling a 500-slice CT fetches 500 images: one entry per person and series every
    ten minutes says the same, so the first image of a series in that span writes it.
    """
    key = f"dicom:viewed:{actor.pk}:{series.pk}"
    if not cache.add(key, 1, VIEW_AUDIT_SECONDS):
        return False
    _audit(actor, AuditAction.VIEW, series, series.study, request)
    return True


# --- sharing, deleting ------------------------------------------------------------------------------


@transaction.atomic
def study_share(*, actor: User, study: Study, doctor: User, request: HttpRequest | None = None) -> StudyShare:
    """The owner lets ``doctor`` read this study by reference (never a copy) until revoked: a
    patient a study of their Welbox, a doctor a study of their Medbox (a colleague, through Intramed)."""
    owns = study.box.owner_id == actor.pk
    if not owns or not (
        (actor.is_patient and study.box.kind == BoxKind.WELBOX) or (actor.is_doctor and study.box.kind == BoxKind.MEDBOX)
    ):
        raise PermissionDenied
    if not doctor.is_doctor or not doctor.is_active:
        raise ValidationError(_("A study can be shared only with a doctor."), code="doctor")
    if doctor.pk == actor.pk:
        raise ValidationError(_("This study is already yours."), code="doctor")
    share = StudyShare.objects.filter(study=study, doctor=doctor, revoked_at__isnull=True).first()
    if share is None:
        share = StudyShare.objects.create(study=study, doctor=doctor, granted_by=actor)
        _audit(actor, AuditAction.SHARE, study, study, request)
    return share


@transaction.atomic
def study_share_revoke(*, actor: User, share: StudyShare, request: HttpRequest | None = None) -> None:
    study = share.study
    if study.box.owner_id != actor.pk:
        raise PermissionDenied
    if share.revoked_at is None:
        share.revoked_at = timezone.now()
        share.save(update_fields=["revoked_at"])
        _audit(actor, AuditAction.UNSHARE, study, study, request)


@transaction.atomic
def study_delete(*, actor: User, study: Study, request: HttpRequest | None = None) -> None:
    """Delete the study with its images; their space is free at once, the files go when the transaction commits."""
    if study.box.owner_id != actor.pk:
        raise PermissionDenied
    _audit(actor, AuditAction.DELETE, study, study, request)
    instances = Instance.objects.filter(series__study=study)
    size = instances.aggregate(size=Sum("size"))["size"] or 0
    names = list(instances.values_list("file", flat=True))
    ids = list(instances.values_list("pk", flat=True))
    box_services.box_space_free(box=study.box, size=size)
    patient = study.dicom_patient
    try:
        study.delete()
    except ProtectedError:
        # A consult keeps the studies it was asked with (they are part of its clinical record);
        # raising rolls back the audit entry and the freed space above.
        raise ValidationError(
            _("This study went with a consult, which keeps it in its record: it cannot be deleted.")
        ) from None
    if not patient.studies.exists():
        patient.delete()

    def remove_files():
        for name in names:
            default_storage.delete(name)
        for pk in ids:
            rendered_cache_remove(pk)

    transaction.on_commit(remove_files)


# --- the rendered-image cache ---------------------------------------------------------------------


def rendered_cache_dir() -> Path:
    return Path(settings.VAR_DIR) / "dicom-rendered"


def rendered_cache_remove(instance_id: int) -> None:
    shutil.rmtree(rendered_cache_dir() / str(instance_id), ignore_errors=True)


# --- the de-identified copy -------------------------------------------------------------------------


def study_export_deidentified(*, actor: User, study: Study, request: HttpRequest | None = None) -> tuple[Path, int, int]:
    """A de-identified copy of the study as a ZIP file (the caller streams it and removes it).

    Returns (path, instances written, instances left out because of burned-in text).
    """
    if study.size > MAX_EXPORT_BYTES:
        raise ValidationError(_("This study is too large for a de-identified copy (at most 4 GB)."), code="too_big")
    instances = Instance.objects.filter(series__study=study).order_by("series__number", "series_id", "number", "id")
    parent = Path(settings.VAR_DIR) / "dicom-exports"
    with deidentify.scratch_dir(parent) as scratch:
        out = Path(scratch) / "copy.zip"
        written, left_out = deidentify.write_deidentified_zip(
            ((str(instance.pk), instance.file.open("rb")) for instance in instances.iterator()), out, Path(scratch)
        )
        final = parent / f"{os.urandom(12).hex()}.zip"
        out.rename(final)
    _audit(actor, AuditAction.EXPORT, study, study, request)
    return final, written, left_out
