"""Resumable uploads into a box: the page declares a file (its whole size reserved at once, with
the box's conditional UPDATE, ``services.box_space_reserve``), sends it in chunks, and the last
chunk files it as a document; a refusal, a cancellation or the expiry of an idle upload gives
the space back.

With object storage (``STORAGE_URL``) each chunk is a part of an S3 multipart upload, recorded
on the upload's row (parts.py): any web process on any host can take the next chunk. On the
embedded default chunks are appended to a part file under ``services.scratch_dir()``, locked
(``flock``) while a chunk is written, so two requests for the same upload never interleave.
Either way the offset in the database moves only after the bytes are stored, and the digest is
computed as the bytes arrive (digests.py): no second pass at completion.
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
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from telemed.accounts.models import User
from telemed.audit.models import AuditAction
from telemed.boxes import digests, parts, sniffing, tasks
from telemed.boxes.models import Box, Category, Document, Folder, UploadSession, UploadState, document_storage_name
from telemed.boxes.services import (
    COPY_BLOCK,
    box_for,
    box_settings,
    box_space_release,
    box_space_reserve,
    checked_category,
    checked_folder,
    clean_name,
    document_audit,
    scratch_dir,
)
from telemed.lib import durable
from telemed.observability import metrics
from telemed.outbox.services import message_claim

MAX_FILE_BYTES = 2 * 1024**3
# The page's first chunk, and the largest it may grow to on a fast link (upload.js). Every
# chunk but the last must also be a valid S3 part (at least 5 MiB) when files are in a bucket.
FIRST_CHUNK_BYTES = 8 * 1024**2
MAX_CHUNK_BYTES = 64 * 1024**2


class UploadConflict(ValidationError):
    """The chunk does not fit the upload's state (wrong offset, finished, busy): the client asks HEAD and resumes."""

    upload: UploadSession | None = None


def part_path(upload: UploadSession) -> Path:
    return scratch_dir() / f"{upload.pk}.part"


def _idle_limit() -> datetime.timedelta:
    return datetime.timedelta(hours=box_settings().upload_idle_hours)


def upload_start(
    *, actor: User, name: str, size: int, category: str = Category.OTHER, folder: Folder | None = None
) -> UploadSession:
    """Declare an upload; its whole size is reserved now, before any byte is sent."""
    box = box_for(actor)
    name = clean_name(name)
    category = checked_category(category)
    folder = checked_folder(box, folder)
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
            box_space_reserve(box=box, size=size)
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
        max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, dir=os.fspath(scratch_dir())
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
        box_space_release(box=upload.box, size=upload.size)
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
            document_audit(upload.owner, AuditAction.UPLOAD, document, request)
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


def uploads_cancel_of_box(*, box: Box) -> int:
    """End the box's open uploads (its account is being erased): their space and part files go.
    Returns how many were ended."""
    open_uploads = UploadSession.objects.filter(box=box, state=UploadState.OPEN)
    return sum(_upload_end(upload, UploadState.CANCELLED) for upload in open_uploads)
