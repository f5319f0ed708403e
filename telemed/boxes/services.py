"""Every use case of the boxes that changes state. One transaction each; the actor is checked here.

Space: an upload reserves its declared size with one conditional UPDATE on the box
row before any byte is written (``_reserve``), so concurrent uploads can never
exceed the quota; completion moves the reservation to ``used_bytes``; a refusal,
a cancellation or the expiry of an idle upload releases it; a deletion frees the
space at once. Files are not transactional: a stored file whose row did not commit
is deleted, and a deleted row's file goes when the transaction commits.

Resumable uploads: with object storage (``STORAGE_URL``) each chunk is a part of an S3
multipart upload, recorded on the upload's row (parts.py): any web process on any host can
take the next chunk. On the embedded default chunks are appended to a part file under
``VAR_DIR/uploads``, locked (``flock``) while a chunk is written, so two requests for the same
upload never interleave. Either way the offset in the database moves only after the bytes are
stored.
"""

import datetime
import fcntl
import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F, Sum, Value
from django.db.models.lookups import LessThanOrEqual
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext as _

from telemed.accounts.models import User
from telemed.audit.models import AuditAction
from telemed.audit.selectors import audit_recorded_since
from telemed.audit.services import audit_record
from telemed.boxes import digests, parts, sniffing, tasks
from telemed.boxes.models import (
    Box,
    BoxKind,
    BoxSettings,
    Category,
    Document,
    Folder,
    QuotaRaise,
    Share,
    StagedFile,
    UploadSession,
    UploadState,
    document_storage_name,
)
from telemed.lib import durable
from telemed.observability import metrics
from telemed.outbox.services import message_claim

MAX_FILE_BYTES = 2 * 1024**3
# The page's first chunk, and the largest it may grow to on a fast link (upload.js). Every
# chunk but the last must also be a valid S3 part (at least 5 MiB) when files are in a bucket.
FIRST_CHUNK_BYTES = 8 * 1024**2
MAX_CHUNK_BYTES = 64 * 1024**2
NAME_MAX = 255
FOLDER_NAME_MAX = 120
COPY_BLOCK = 1024 * 1024

# Views of one document by one person within this many seconds are one viewing (see document_opened).
VIEW_COALESCE_SECONDS = 60


class QuotaExceeded(ValidationError):
    """The upload does not fit: the page offers the two ways out (delete files, buy space)."""

    def __init__(self, *, needed: int, free: int):
        self.needed, self.free = needed, max(free, 0)
        super().__init__(
            _(
                "There is not enough free space in your box for this file: it needs %(needed)s and %(free)s are free. "
                "Delete files you no longer need, or buy more space."
            )
            % {"needed": human_size(needed), "free": human_size(self.free)},
            code="quota",
        )


class UploadConflict(ValidationError):
    """The chunk does not fit the upload's state (wrong offset, finished, busy): the client asks HEAD and resumes."""

    upload: UploadSession | None = None


def human_size(size: int) -> str:
    return str(filesizeformat(size))


def box_settings() -> BoxSettings:
    return BoxSettings.objects.get_or_create(pk=1)[0]


def clean_name(name: str, *, max_length: int = NAME_MAX) -> str:
    """A file or folder name as shown to people: no path, no control characters, not empty, bounded."""
    if not isinstance(name, str):
        raise ValidationError(_("The name is missing."), code="name")
    name = name.strip()
    if not name or name in {".", ".."}:
        raise ValidationError(_("The name cannot be empty."), code="name")
    if len(name) > max_length:
        raise ValidationError(_("A name can have at most %(max)d characters.") % {"max": max_length}, code="name")
    if "/" in name or "\\" in name or any(not ch.isprintable() for ch in name):
        raise ValidationError(_("A name cannot contain / or \\ or control characters."), code="name")
    return name


def _category(value: str) -> Category:
    if value not in Category.values:
        raise ValidationError(_("Choose one of the categories."), code="category")
    return Category(value)


# --- boxes and space ----------------------------------------------------------------------------


def box_for(user: User) -> Box:
    """The user's box, created on first use: a Medbox for a doctor, a Welbox for a patient."""
    if user.is_doctor:
        kind = BoxKind.MEDBOX
    elif user.is_patient:
        kind = BoxKind.WELBOX
    else:
        raise PermissionDenied
    box = Box.objects.filter(owner=user).first()
    if box is not None:
        return box
    try:
        with transaction.atomic():
            return Box.objects.create(owner=user, kind=kind)
    except IntegrityError:  # created meanwhile by a concurrent request
        return Box.objects.get(owner=user)


@transaction.atomic
def box_quota_raise(*, box: Box, extra_bytes: int, reason: str) -> Box:
    """Add space to a box (billing calls this when a storage purchase is paid)."""
    if not isinstance(extra_bytes, int) or extra_bytes <= 0:
        raise ValidationError(_("The extra space must be a positive number of bytes."))
    Box.objects.filter(pk=box.pk).update(extra_quota_bytes=F("extra_quota_bytes") + extra_bytes)
    QuotaRaise.objects.create(box=box, extra_bytes=extra_bytes, reason=reason[:200])
    box.refresh_from_db()
    return box


def _reserve(box: Box, size: int) -> None:
    """Reserve ``size`` bytes with one conditional UPDATE: it matches only if they fit."""
    free_quota = box_settings().free_quota_bytes
    fits = LessThanOrEqual(
        F("used_bytes") + F("reserved_bytes") + Value(size), F("extra_quota_bytes") + Value(free_quota)
    )
    if not Box.objects.filter(fits, pk=box.pk).update(reserved_bytes=F("reserved_bytes") + size):
        box.refresh_from_db()
        raise QuotaExceeded(needed=size, free=free_quota + box.extra_quota_bytes - box.used_bytes - box.reserved_bytes)


def _release(box_id: int, size: int) -> None:
    Box.objects.filter(pk=box_id, reserved_bytes__gte=size).update(reserved_bytes=F("reserved_bytes") - size)


# --- folders ------------------------------------------------------------------------------------


def _own_box(actor: User, box: Box) -> None:
    if box.owner_id != actor.pk:
        raise PermissionDenied


def _folder_in(box: Box, folder: Folder | None) -> Folder | None:
    # Another box's folder is answered like a missing one: its existence is not revealed.
    if folder is not None and folder.box_id != box.pk:
        raise ValidationError(_("This folder does not exist."), code="folder")
    return folder


@transaction.atomic
def folder_create(*, actor: User, name: str, patient: User | None = None) -> Folder:
    """A new folder; in a Medbox it may be linked to a patient of the doctor's (care link or shared documents)."""
    box = box_for(actor)
    name = clean_name(name, max_length=FOLDER_NAME_MAX)
    if patient is not None:
        from telemed.boxes.selectors import patients_for_folders

        if box.kind != BoxKind.MEDBOX or not patients_for_folders(actor).filter(pk=patient.pk).exists():
            raise ValidationError(_("This patient cannot be linked to a folder."), code="patient")
    if Folder.objects.filter(box=box, name=name).exists():
        raise ValidationError(_("A folder with this name already exists."), code="name")
    return Folder.objects.create(box=box, name=name, patient=patient)


@transaction.atomic
def folder_rename(*, actor: User, folder: Folder, name: str) -> Folder:
    _own_box(actor, folder.box)
    name = clean_name(name, max_length=FOLDER_NAME_MAX)
    if Folder.objects.filter(box=folder.box, name=name).exclude(pk=folder.pk).exists():
        raise ValidationError(_("A folder with this name already exists."), code="name")
    folder.name = name
    folder.save(update_fields=["name"])
    return folder


@transaction.atomic
def folder_delete(*, actor: User, folder: Folder) -> None:
    _own_box(actor, folder.box)
    if folder.documents.exists():
        raise ValidationError(_("Only an empty folder can be deleted: move or delete its documents first."))
    folder.delete()


# --- uploads ------------------------------------------------------------------------------------


def _uploads_dir() -> Path:
    path = Path(settings.VAR_DIR) / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def part_path(upload: UploadSession) -> Path:
    return _uploads_dir() / f"{upload.pk}.part"


def _idle_limit() -> datetime.timedelta:
    return datetime.timedelta(hours=box_settings().upload_idle_hours)


def upload_start(
    *, actor: User, name: str, size: int, category: str = Category.OTHER, folder: Folder | None = None
) -> UploadSession:
    """Declare an upload; its whole size is reserved now, before any byte is sent."""
    box = box_for(actor)
    name = clean_name(name)
    category = _category(category)
    folder = _folder_in(box, folder)
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise ValidationError(_("The file is empty."), code="size")
    if size > MAX_FILE_BYTES:
        raise ValidationError(_("A file can be at most 2 GB."), code="size")
    now = timezone.now()
    upload = UploadSession(
        box=box, owner=actor, folder=folder, category=category, name=name, size=size, last_activity_at=now
    )
    if parts.in_object_storage():
        upload.storage_name = document_storage_name(Document(box=box), name)
        try:
            upload.multipart_id = parts.multipart_open(upload.storage_name)
        except parts.Unavailable as error:
            raise _storage_unavailable() from error
    try:
        with transaction.atomic():
            _reserve(box, size)
            upload.save(force_insert=True)
            # In the same transaction: an upload that is never finished is always cleaned up.
            tasks.upload_expire.using(run_after=now + _idle_limit()).enqueue(upload_id=str(upload.pk))
    except BaseException:
        if upload.multipart_id:
            parts.multipart_abort(upload.storage_name, upload.multipart_id)
        raise
    return upload


def _refuse(message: str, code: str, upload: UploadSession) -> UploadConflict:
    error = UploadConflict(message, code=code)
    error.upload = upload
    return error


def upload_append(
    *,
    actor: User,
    upload: UploadSession,
    offset: int,
    stream: BinaryIO,
    length: int,
    sha256: str | None = None,
    request: HttpRequest | None = None,
) -> UploadSession:
    """Append one chunk of ``length`` bytes at ``offset``; the last chunk completes the upload.

    A chunk is all or nothing: if fewer bytes arrive than declared, or its checksum
    is wrong, the part file is cut back to where it was and the offset does not move.
    """
    if upload.owner_id != actor.pk:
        raise PermissionDenied
    if length <= 0:
        raise ValidationError(_("The chunk is empty."), code="chunk")
    if length > MAX_CHUNK_BYTES:
        raise ValidationError(
            _("A chunk can be at most %(max)d MB.") % {"max": MAX_CHUNK_BYTES // 1024**2}, code="chunk"
        )
    if upload.multipart_id:
        return _append_part(upload, offset, stream, length, sha256, request)
    path = part_path(upload)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _refuse(_("Another part of this upload is being sent right now."), "busy", upload) from None
        upload.refresh_from_db()
        if upload.state != UploadState.OPEN:
            raise _refuse(_("This upload is no longer in progress."), "state", upload)
        # After a crash the disk may hold less than the database says: trust the disk.
        on_disk = os.fstat(fd).st_size
        if on_disk < upload.offset:
            UploadSession.objects.filter(pk=upload.pk).update(offset=on_disk)
            upload.offset = on_disk
        _check_chunk_place(upload, offset, length)
        running = digests.running_at(upload.pk, offset, fd)
        received = _write_chunk(fd, stream, offset, length, sha256, running)
        durable.start_writeback(fd, offset, received)  # the disk writes while the next chunk arrives
        new_offset = offset + received
        moved = UploadSession.objects.filter(pk=upload.pk, state=UploadState.OPEN, offset=offset).update(
            offset=new_offset, last_activity_at=timezone.now()
        )
        if not moved:
            os.ftruncate(fd, offset)
            raise _refuse(_("This upload is no longer in progress."), "state", upload)
        upload.offset = new_offset
        metrics.upload_bytes.labels(kind="box").inc(received)
        if new_offset < upload.size:
            digests.keep(upload.pk, new_offset, running)
    finally:
        os.close(fd)  # also releases the lock
    if upload.offset == upload.size:
        _upload_complete(upload, request, digest=running.hexdigest())
    return upload


def _write_chunk(fd: int, stream: BinaryIO, offset: int, length: int, sha256: str | None, running) -> int:
    """Write the chunk once, at ``offset``, feeding the upload's ``running`` digest on the way."""
    os.ftruncate(fd, offset)  # whatever a failed earlier attempt left beyond the offset goes
    os.lseek(fd, offset, os.SEEK_SET)

    def write(block: bytes) -> None:
        view = memoryview(block)
        while view:
            view = view[os.write(fd, view) :]

    try:
        return _copy_chunk(stream, length, write, sha256, running)
    except ValidationError:
        os.ftruncate(fd, offset)
        raise


def _copy_chunk(stream: BinaryIO, length: int, write, sha256: str | None, running) -> int:
    """Copy the chunk's ``length`` bytes from ``stream`` to ``write``, feeding the ``running``
    digest (if any) on the way; a chunk that breaks off or fails its checksum is refused."""
    digest = hashlib.sha256() if sha256 else None
    received = 0
    try:
        while received < length:
            block = stream.read(min(COPY_BLOCK, length - received))
            if not block:
                break
            if running is not None:
                running.update(block)
            if digest is not None:
                digest.update(block)
            write(block)
            received += len(block)
    except OSError as error:
        raise ValidationError(_("The chunk could not be received; send it again."), code="chunk") from error
    if received != length:
        raise ValidationError(
            _("The chunk arrived incomplete (%(received)d of %(length)d bytes); send it again.")
            % {"received": received, "length": length},
            code="truncated",
        )
    if digest is not None and sha256 is not None and digest.hexdigest() != sha256.lower():
        raise ValidationError(
            _("The chunk was damaged on the way (its checksum does not match); send it again."), code="checksum"
        )
    return received


def _storage_unavailable() -> ValidationError:
    return ValidationError(
        _("The file storage cannot be reached right now; nothing was lost, try again in a few minutes."),
        code="storage",
    )


def _check_chunk_place(upload: UploadSession, offset: int, length: int) -> None:
    """A chunk must start where the upload is and end within its declared size (both paths)."""
    if offset != upload.offset:
        raise _refuse(
            _("This chunk starts at byte %(sent)d, but the upload is at byte %(expected)d.")
            % {"sent": offset, "expected": upload.offset},
            "offset",
            upload,
        )
    if offset + length > upload.size:
        raise ValidationError(_("This chunk goes beyond the declared size of the file."), code="beyond")


def _append_part(
    upload: UploadSession, offset: int, stream: BinaryIO, length: int, sha256: str | None, request
) -> UploadSession:
    """``upload_append`` with object storage: the chunk becomes the next part of the upload's
    S3 multipart upload (parts.py), whichever web process takes it."""
    upload.refresh_from_db()
    if upload.state != UploadState.OPEN:
        raise _refuse(_("This upload is no longer in progress."), "state", upload)
    _check_chunk_place(upload, offset, length)
    if offset + length < upload.size and length < parts.MIN_PART_BYTES:
        raise ValidationError(
            _("Every chunk but the last must be at least %(min)d MB.") % {"min": parts.MIN_PART_BYTES // 1024**2},
            code="chunk",
        )
    running = digests.kept_at(upload.pk, offset)
    number = len(upload.parts) + 1
    # A temporary file while the chunk arrives: only a whole, intact chunk becomes a part.
    with tempfile.SpooledTemporaryFile(
        max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, dir=os.fspath(_uploads_dir())
    ) as spool:
        received = _copy_chunk(stream, length, spool.write, sha256, running)
        spool.seek(0)
        try:
            etag = parts.part_put(upload.storage_name, upload.multipart_id, number, spool, received)
        except parts.Unavailable as error:
            raise _storage_unavailable() from error
    received_parts = [*upload.parts, {"number": number, "size": received, "etag": etag}]
    moved = UploadSession.objects.filter(pk=upload.pk, state=UploadState.OPEN, offset=offset).update(
        offset=offset + received, parts=received_parts, last_activity_at=timezone.now()
    )
    if not moved:
        raise _refuse(_("This upload is no longer in progress."), "state", upload)
    upload.offset, upload.parts = offset + received, received_parts
    metrics.upload_bytes.labels(kind="box").inc(received)
    if upload.offset < upload.size:
        if running is not None:
            digests.keep(upload.pk, upload.offset, running)
        return upload
    _upload_complete_parts(upload, request, digest=running.hexdigest() if running is not None else None)
    return upload


class _PartFile(File):
    """The assembled part file; FileSystemStorage moves it into place instead of copying it."""

    def __init__(self, file, path: Path):
        super().__init__(file, name=path.name)
        self._path = path

    def temporary_file_path(self) -> str:
        return str(self._path)


def _upload_transition(
    upload: UploadSession, to: UploadState, *, error: str = "", document: Document | None = None
) -> bool:
    """The upload's one state transition: only an open upload moves, and only once."""
    if to == UploadState.OPEN:
        raise ValueError("an upload never goes back to open")
    changed = UploadSession.objects.filter(pk=upload.pk, state=UploadState.OPEN).update(
        state=to, error=error[:300], document=document, last_activity_at=timezone.now()
    )
    if changed:
        upload.state, upload.error, upload.document = to, error[:300], document
    return bool(changed)


def _discard_part(upload: UploadSession) -> None:
    if upload.multipart_id:
        parts.multipart_abort(upload.storage_name, upload.multipart_id)
        return
    try:
        part_path(upload).unlink()
    except FileNotFoundError:
        pass


def _upload_end(upload: UploadSession, to: UploadState, error: str = "") -> bool:
    with transaction.atomic():
        if not _upload_transition(upload, to, error=error):
            return False
        _release(upload.box_id, upload.size)
    digests.forget(upload.pk)
    # A scratch file: removed at once. Were the transition rolled back by an outer
    # transaction, the next chunk would find less on disk and restart from there.
    _discard_part(upload)
    return True


def _upload_complete(upload: UploadSession, request: HttpRequest | None, *, digest: str) -> Document:
    path = part_path(upload)
    with open(path, "rb") as part:
        if os.fstat(part.fileno()).st_size != upload.size:
            _upload_end(upload, UploadState.FAILED, "size")
            raise ValidationError(_("The file on the server is incomplete; upload it again."), code="incomplete")
        mime = sniffing.identify(part)
        if mime is None:
            message = _(
                "“%(name)s” is not a type of file a box accepts (PDF, images, DICOM, office documents, text, ZIP)."
            ) % {"name": upload.name}
            _upload_end(upload, UploadState.FAILED, "type")
            raise ValidationError(message, code="type")
        document = Document(
            box_id=upload.box_id, folder=upload.folder, category=upload.category, name=upload.name,
            size=upload.size, mime=mime, digest=digest, digest_algorithm=digests.ALGORITHM, uploaded_by_id=upload.owner_id,
        )  # fmt: skip
        # (On the local disk the storage returns once the file is on the disk: filestorage.py.)
        stored = default_storage.save(document_storage_name(document, upload.name), _PartFile(part, path))
    _upload_file_document(upload, document, stored, request)
    _discard_part(upload)  # gone already when the storage moved it
    return document


def _upload_complete_parts(upload: UploadSession, request: HttpRequest | None, *, digest: str | None) -> Document:
    """The last part is in: S3 assembles the object under its key, which is then checked like a
    part file (size, type) and, when no process saw every chunk, read back once for its digest."""
    name = upload.storage_name
    try:
        parts.multipart_complete(name, upload.multipart_id, upload.parts)
        size = parts.object_size(name)
    except parts.Refused as error:
        _upload_end(upload, UploadState.FAILED, "parts")
        raise ValidationError(_("The file on the server is incomplete; upload it again."), code="incomplete") from error
    if size != upload.size:
        default_storage.delete(name)
        _upload_end(upload, UploadState.FAILED, "size")
        raise ValidationError(_("The file on the server is incomplete; upload it again."), code="incomplete")
    with parts.object_reader(name, size) as stored:
        if digest is None:
            digest = digests.of_stream(stored)
        mime = sniffing.identify(stored)
    if mime is None:
        default_storage.delete(name)
        _upload_end(upload, UploadState.FAILED, "type")
        raise ValidationError(
            _("“%(name)s” is not a type of file a box accepts (PDF, images, DICOM, office documents, text, ZIP).")
            % {"name": upload.name},
            code="type",
        )
    document = Document(
        box_id=upload.box_id, folder=upload.folder, category=upload.category, name=upload.name,
        size=upload.size, mime=mime, digest=digest, digest_algorithm=digests.ALGORITHM, uploaded_by_id=upload.owner_id,
    )  # fmt: skip
    _upload_file_document(upload, document, name, request)
    return document


def _upload_file_document(upload: UploadSession, document: Document, stored: str, request: HttpRequest | None) -> None:
    """File the completed upload's stored bytes as its document; were that refused, they go."""
    try:
        with transaction.atomic():
            document.file.name = stored
            document.save()
            if not _upload_transition(upload, UploadState.COMPLETE, document=document):
                raise ValidationError(_("This upload is no longer in progress."), code="state")
            Box.objects.filter(pk=upload.box_id, reserved_bytes__gte=upload.size).update(
                reserved_bytes=F("reserved_bytes") - upload.size, used_bytes=F("used_bytes") + upload.size
            )
            _audit(upload.owner, AuditAction.UPLOAD, document, request)
    except BaseException:
        default_storage.delete(stored)
        raise


def upload_cancel(*, actor: User, upload: UploadSession) -> None:
    if upload.owner_id != actor.pk:
        raise PermissionDenied
    if not _upload_end(upload, UploadState.CANCELLED):
        raise _refuse(_("This upload is no longer in progress."), "state", upload)


def upload_expire_if_idle(*, upload_id: str) -> bool:
    """Run by the scheduled task: expire the upload if idle past the limit, else look again later."""
    upload = UploadSession.objects.filter(pk=upload_id).first()
    if upload is None or upload.state != UploadState.OPEN:
        return False
    due = upload.last_activity_at + _idle_limit()
    if due > timezone.now():
        # Looked at again once: a run again (its worker died after this) finds the look for
        # this due time claimed, and does not start a second chain of looks (telemed/outbox).
        with transaction.atomic():
            if message_claim(key=f"upload_expire:{upload.pk}:{due.isoformat()}"):
                tasks.upload_expire.using(run_after=due).enqueue(upload_id=str(upload.pk))
        return False
    return _upload_end(upload, UploadState.EXPIRED)


# --- documents ------------------------------------------------------------------------------------


def document_patient(document: Document) -> User | None:
    """Whose clinical data this is: the Welbox's owner, or the patient linked to a Medbox folder."""
    box = document.box
    if box.kind == BoxKind.WELBOX:
        return box.owner
    folder = document.folder
    return folder.patient if folder is not None and folder.patient_id else None


def _audit(actor: User | None, action: AuditAction, document: Document, request: HttpRequest | None) -> None:
    audit_record(actor=actor, action=action, target=document, patient=document_patient(document), request=request)


def document_opened(*, actor: User, document: Document, action: AuditAction, request: HttpRequest | None) -> None:
    """Record that ``actor`` viewed or downloaded the document (the view already checked access).

    A browser's PDF viewer may fetch the same preview several times in a row, more so when the
    server is slow, and a reload fetches it again: views by the same person within
    VIEW_COALESCE_SECONDS are one viewing, one entry, so that the patient's page stays
    readable. Every download is recorded.
    """
    if action not in {AuditAction.VIEW, AuditAction.DOWNLOAD}:
        raise ValueError(action)
    if action == AuditAction.VIEW and audit_recorded_since(
        actor=actor,
        action=action,
        target=document,
        since=timezone.now() - datetime.timedelta(seconds=VIEW_COALESCE_SECONDS),
    ):
        return
    _audit(actor, action, document, request)


@transaction.atomic
def document_rename(*, actor: User, document: Document, name: str, request: HttpRequest | None = None) -> Document:
    _own_box(actor, document.box)
    document.name = clean_name(name)
    document.save(update_fields=["name", "updated_at"])
    _audit(actor, AuditAction.RENAME, document, request)
    return document


@transaction.atomic
def document_move(
    *,
    actor: User,
    document: Document,
    folder: Folder | None,
    category: str | None = None,
    request: HttpRequest | None = None,
) -> Document:
    """Move to another folder of the same box (None: the box's top level), and/or change the category."""
    _own_box(actor, document.box)
    document.folder = _folder_in(document.box, folder)
    if category is not None:
        document.category = _category(category)
    document.save(update_fields=["folder", "category", "updated_at"])
    _audit(actor, AuditAction.MOVE, document, request)
    return document


@transaction.atomic
def document_delete(*, actor: User, document: Document, request: HttpRequest | None = None) -> None:
    """Delete the document; its space is free at once, its file goes when the transaction commits."""
    _own_box(actor, document.box)
    _audit(actor, AuditAction.DELETE, document, request)
    counter = "used_bytes" if document.counts_against_quota else "system_bytes"
    Box.objects.filter(pk=document.box_id, **{f"{counter}__gte": document.size}).update(
        **{counter: F(counter) - document.size}
    )
    name = document.file.name
    document.delete()
    if name:
        transaction.on_commit(lambda: default_storage.delete(name))


def document_store_system(
    *, box: Box, category: str, name: str, stream: BinaryIO, mime: str, folder: Folder | None = None
) -> Document:
    """File a platform-issued document (a signed report) into a box, outside the quota."""
    staged = _stage_stream(box=box, category=category, name=name, stream=stream, mime=mime, folder=folder, owner=None)
    return document_file_staged(staged=staged)


def document_store(
    *, actor: User, box: Box, category: str, name: str, stream: BinaryIO, mime: str, folder: Folder | None = None
) -> Document:
    """File a document the platform made for the box's owner at their request (a de-identified
    copy of a study): theirs like an upload, so it counts against their quota."""
    return document_file_staged(
        staged=document_stage(
            actor=actor, box=box, category=category, name=name, stream=stream, mime=mime, folder=folder
        )
    )


# --- staged documents: written first, filed in the caller's transaction -------------------------
#
# A document is written to the storage before the transaction that files it, and a process can
# die in between. So the space and the storage key are held by a StagedFile row committed before
# the first byte is written; the transaction that creates the Document deletes that row. A row
# left behind (its process died, or its caller was refused) is expired by a task scheduled with
# it: the space is given back and the file removed. Nothing is left visible, held or on disk.

STAGING_LIFETIME = datetime.timedelta(hours=1)


class StagedDocument:
    """A document whose bytes are in the storage and whose space is held, not yet in its box."""

    def __init__(self, row: StagedFile, document: Document):
        self.row, self.document = row, document


def document_stage(
    *, actor: User, box: Box, category: str, name: str, stream: BinaryIO, mime: str, folder: Folder | None = None
) -> StagedDocument:
    """Write a document the box's owner asked for (it counts against their quota) without filing
    it yet: ``document_file_staged`` files it inside the caller's transaction (a message that
    carries it), ``document_stage_discard`` gives it up."""
    _own_box(actor, box)
    return _stage_stream(box=box, category=category, name=name, stream=stream, mime=mime, folder=folder, owner=actor)


def _stage_stream(
    *, box: Box, category: str, name: str, stream: BinaryIO, mime: str, folder: Folder | None, owner: User | None
) -> StagedDocument:
    """``stream`` is read once, in blocks, into a spooled file (memory stays bounded) while its
    digest (digests.py) and size are computed; the storage then takes it from there. With an ``owner`` the
    bytes are reserved in the quota first (QuotaExceeded stores nothing), else they are the
    platform's (``system_bytes``)."""
    category = _category(category)
    name = clean_name(name)
    folder = _folder_in(box, folder)
    if mime not in sniffing.ALLOWED:
        raise ValidationError(_("This type of file cannot be stored in a box."), code="type")
    counts = owner is not None
    digest, size = digests.new(), 0
    # An unnamed temporary file: the kernel removes it with the process, however it ends.
    with tempfile.SpooledTemporaryFile(
        max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, dir=os.fspath(_uploads_dir())
    ) as spool:
        while block := stream.read(COPY_BLOCK):
            digest.update(block)
            spool.write(block)
            size += len(block)
        if size == 0:
            raise ValidationError(_("The file is empty."), code="size")
        document = Document(
            box=box, folder=folder, category=category, name=name, size=size, mime=mime,
            digest=digest.hexdigest(), digest_algorithm=digests.ALGORITHM, counts_against_quota=counts, uploaded_by=owner,
        )  # fmt: skip
        with transaction.atomic():
            if counts:
                _reserve(box, size)
            row = StagedFile.objects.create(
                box=box, reserved_bytes=size if counts else 0, storage_name=document_storage_name(document, name),
                expires_at=timezone.now() + STAGING_LIFETIME,
            )  # fmt: skip
            tasks.staged_file_expire.using(run_after=row.expires_at).enqueue(staged_id=str(row.pk))
        spool.seek(0)
        try:
            stored = default_storage.save(row.storage_name, File(spool, name="system"))
        except BaseException:
            staged_file_expire(staged_id=row.pk)
            raise
    if stored != row.storage_name:  # the storage chose another key: hold that one
        StagedFile.objects.filter(pk=row.pk).update(storage_name=stored)
        row.storage_name = stored
    document.file.name = stored
    return StagedDocument(row, document)


def document_file_staged(*, staged: StagedDocument) -> Document:
    """File a staged document in its box: in the caller's transaction when there is one, so
    that it becomes visible only with what carries it."""
    document = staged.document
    try:
        with transaction.atomic():
            if not StagedFile.objects.filter(pk=staged.row.pk).delete()[0]:
                raise ValidationError(_("The file took too long to prepare. Please try again."), code="expired")
            document.save()
            if document.counts_against_quota:
                box_space_commit(box=document.box, size=document.size)
            else:
                Box.objects.filter(pk=document.box_id).update(system_bytes=F("system_bytes") + document.size)
            _audit(document.uploaded_by, AuditAction.UPLOAD, document, None)
    except BaseException:
        if not transaction.get_connection().in_atomic_block:
            staged_file_expire(staged_id=staged.row.pk)
        raise
    return document


def document_stage_discard(*, staged: StagedDocument) -> None:
    """Give up a staged document: its space back, its file removed (a no-op once filed)."""
    staged_file_expire(staged_id=staged.row.pk)


def staged_file_expire(*, staged_id) -> bool:
    """Release what a staged file holds, if it is still staged; run by the task scheduled with it."""
    with transaction.atomic():
        row = StagedFile.objects.select_for_update().filter(pk=staged_id).first()
        if row is None:
            return False  # filed, or already expired
        if row.reserved_bytes:
            _release(row.box_id, row.reserved_bytes)
        row.delete()
        name = row.storage_name
        transaction.on_commit(lambda: default_storage.delete(name))
    return True


# --- sharing ------------------------------------------------------------------------------------


def _check_share(actor: User, box: Box, doctor: User) -> None:
    if not actor.is_patient or box.owner_id != actor.pk or box.kind != BoxKind.WELBOX:
        raise PermissionDenied
    if not doctor.is_doctor or not doctor.is_active:
        raise ValidationError(_("Documents can be shared only with a doctor."), code="doctor")


def _share(*, actor: User, doctor: User, document: Document | None = None, folder: Folder | None = None) -> Share:
    target = {"document": document} if document is not None else {"folder": folder}
    existing = Share.objects.filter(doctor=doctor, revoked_at__isnull=True, **target).first()
    if existing is not None:
        return existing  # sharing twice changes nothing
    return Share.objects.create(doctor=doctor, granted_by=actor, **target)


@transaction.atomic
def document_share(*, actor: User, document: Document, doctor: User, request: HttpRequest | None = None) -> Share:
    """The patient lets ``doctor`` read this Welbox document (by reference, never a copy) until revoked."""
    _check_share(actor, document.box, doctor)
    share = _share(actor=actor, doctor=doctor, document=document)
    _audit(actor, AuditAction.SHARE, document, request)
    return share


@transaction.atomic
def folder_share(*, actor: User, folder: Folder, doctor: User) -> Share:
    """The patient lets ``doctor`` read every document that is (or will be) in this folder, until revoked."""
    _check_share(actor, folder.box, doctor)
    return _share(actor=actor, doctor=doctor, folder=folder)


@transaction.atomic
def share_revoke(*, actor: User, share: Share, request: HttpRequest | None = None) -> None:
    shared = share.document or share.folder
    if shared is None:
        raise PermissionDenied
    box = shared.box
    if box.owner_id != actor.pk:
        raise PermissionDenied
    if share.revoked_at is not None:
        return
    share.revoked_at = timezone.now()
    share.save(update_fields=["revoked_at"])
    if share.document is not None:
        _audit(actor, AuditAction.UNSHARE, share.document, request)


# --- space taken by files that another app keeps -----------------------------------------------
# The DICOM instances of an imported CD are stored by the dicom app, not as Documents, but they
# count against the box's quota like any document: reserved with the same conditional UPDATE
# before their bytes are written, moved to ``used_bytes`` once stored, released when refused,
# and freed when deleted. The caller keeps its own tally of what it reserved and stored.


def _bytes(size: int) -> int:
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValueError(f"a number of bytes, not {size!r}")
    return size


def box_space_reserve(*, box: Box, size: int) -> None:
    """Reserve ``size`` bytes before writing them; QuotaExceeded (nothing reserved) when they do not fit."""
    if _bytes(size):
        _reserve(box, size)


def box_space_release(*, box: Box, size: int) -> None:
    """Give back reserved bytes that were not stored after all."""
    if _bytes(size):
        _release(box.pk, size)


def box_space_commit(*, box: Box, size: int) -> None:
    """Reserved bytes that are now stored: they move from ``reserved_bytes`` to ``used_bytes``."""
    if not _bytes(size):
        return
    moved = Box.objects.filter(pk=box.pk, reserved_bytes__gte=size).update(
        reserved_bytes=F("reserved_bytes") - size, used_bytes=F("used_bytes") + size
    )
    if not moved:
        raise ValueError("committing bytes that were never reserved")


def box_space_free(*, box: Box, size: int) -> None:
    """Stored bytes that were deleted: their space is free at once."""
    if _bytes(size):
        Box.objects.filter(pk=box.pk, used_bytes__gte=size).update(used_bytes=F("used_bytes") - size)


# --- the erasure of a box (the rights app erases an account) ----------------------------------------


def box_erase(*, box: Box) -> int:
    """Delete every document and folder of the box, with the shares that granted them, and end its
    open uploads; the space is free at once and the files go when the transaction commits. The
    DICOM studies are the dicom app's (``studies_erase_of_box``), erased before. Returns how many
    documents went; run again, it finds nothing and changes nothing."""
    for upload in UploadSession.objects.filter(box=box, state=UploadState.OPEN):
        _upload_end(upload, UploadState.CANCELLED)
    with transaction.atomic():
        documents = Document.objects.filter(box=box)
        counted = documents.filter(counts_against_quota=True).aggregate(size=Sum("size"))["size"] or 0
        system = documents.filter(counts_against_quota=False).aggregate(size=Sum("size"))["size"] or 0
        names = list(documents.values_list("file", flat=True))
        documents.delete()
        Folder.objects.filter(box=box).delete()
        box_space_free(box=box, size=counted)
        if system:
            Box.objects.filter(pk=box.pk, system_bytes__gte=system).update(system_bytes=F("system_bytes") - system)

        def remove_files():
            for name in names:
                if name:
                    default_storage.delete(name)

        transaction.on_commit(remove_files)
    return len(names)
