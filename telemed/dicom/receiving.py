"""Receiving a CD: the import starts, its files arrive (in chunks, one file per request, or
whole in batches: batches.py), and the import is finished, cancelled or expires.

The reservation comes first: a file's whole size (or a batch's whole length) is reserved
against the import's limits and the box's quota before its first byte is written, and a
refusal is written to the import's report with its reason.
"""

import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from telemed.accounts.models import User
from telemed.boxes import parts
from telemed.boxes import services as box_services
from telemed.boxes import uploads as box_uploads
from telemed.boxes.models import Box, BoxKind, Folder
from telemed.dicom import imports, staging, tasks
from telemed.dicom.imports import ImportConflict, QuotaExceeded
from telemed.dicom.models import (
    CdImport,
    ImportedFile,
    ImportState,
    SkipReason,
)
from telemed.observability import metrics
from telemed.outbox.services import message_claim

# A CD's file ends up in the box: it has a box file's limits, and its chunks the same bound
# as a box upload's (the body size the proxy lets through, deploy/nginx/telemed.conf).
MAX_FILE_BYTES, MAX_CHUNK_BYTES = box_uploads.MAX_FILE_BYTES, box_uploads.MAX_CHUNK_BYTES
IDLE_LIMIT = datetime.timedelta(hours=24)


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


def cd_import_receive(
    *, actor: User, cd_import: CdImport, path: str, offset: int, total: int, stream: staging.Readable, length: int
) -> ImportedFile:
    """Append one chunk of one file of the CD (``path`` relative to the CD's folder).

    The first chunk of a file (offset 0) reserves its whole ``total`` size. A chunk is
    all or nothing: when fewer bytes arrive than declared, the file is cut back and the
    chunk can be sent again.
    """
    imports.check_owner(actor, cd_import)
    if cd_import.state != ImportState.RECEIVING:
        raise not_receiving()
    relative = file_admitted(cd_import, path, total)
    if length is None or length <= 0 or length > MAX_CHUNK_BYTES:
        raise chunk_too_big()
    if offset < 0 or offset + length > total:
        raise ValidationError(_("This chunk goes beyond the declared size of the file."), code="beyond")
    entry = ImportedFile.objects.filter(cd_import=cd_import, path=relative).first()
    if entry is None:
        if offset != 0:
            raise ImportConflict(_("This file has not been started: send it from the beginning."), code="offset")
        entry = _file_begin(cd_import, relative, total)
    elif entry.size != total:
        raise ValidationError(_("This file was announced with another size."), code="size")
    try:
        area = staging.area()
        with area.chunk_target(cd_import.pk, relative) as target:
            # Read again (under the lock, on the var dir), in one query: another request may have
            # moved the file on, or the import may have stopped receiving, since they were read.
            entry.received, cd_import.state, entry.multipart_id, entry.parts = (
                ImportedFile.objects.filter(pk=entry.pk)
                .values_list("received", "cd_import__state", "multipart_id", "parts")
                .get()
            )
            if cd_import.state != ImportState.RECEIVING:
                raise not_receiving(entry.received)
            if offset != entry.received:
                raise offset_conflict(offset, entry.received)
            try:
                kept = target.append(entry, offset, stream, length)
            except staging.ChunkError as error:
                raise chunk_refused(error, length) from None
            moved = ImportedFile.objects.filter(
                pk=entry.pk, received=offset, cd_import__state=ImportState.RECEIVING
            ).update(received=offset + length, **kept)
            if not moved:
                target.undo(offset)
                if not CdImport.objects.filter(pk=cd_import.pk, state=ImportState.RECEIVING).exists():
                    # Cancelled or expired while the chunk was written, its staging removed
                    # meanwhile maybe: what this chunk staged goes too.
                    area.discard(cd_import.pk, relative)
                    raise not_receiving(offset)
                raise ImportConflict(_("This file changed meanwhile; ask where it stands."), code="offset")
    except staging.ChunkError:  # another request holds the file
        raise busy_conflict(entry.received) from None
    CdImport.objects.filter(pk=cd_import.pk).update(
        received_bytes=F("received_bytes") + length, last_activity_at=timezone.now()
    )
    entry.received = offset + length
    metrics.upload_bytes.labels(kind="cd").inc(length)
    return entry


def file_admitted(cd_import: CdImport, path: str, total: int) -> str:
    """The checks a file of the CD passes before its first byte is written; returns its cleaned
    relative path in the staging. A refusal is written to the report."""
    if not isinstance(total, int) or total <= 0:
        raise imports.refuse_file(cd_import, path, SkipReason.EMPTY, _("The file is empty."), "empty")
    if total > MAX_FILE_BYTES:
        raise imports.refuse_file(cd_import, path, SkipReason.TOO_BIG, _("A file can be at most 2 GB."), "size")
    try:
        relative = staging.clean_relative_path(path)
        staging.area().check(cd_import.pk, relative)
        return relative
    except staging.UnsafePath:
        raise imports.refuse_file(
            cd_import, path, SkipReason.UNSAFE_PATH,
            _("“%(path)s” points outside the CD's folder: it was not accepted.") % {"path": path[:200]}, "unsafe_path",
        ) from None  # fmt: skip


def not_receiving(received: int = 0) -> ImportConflict:
    """The import was finished, cancelled or expired: nothing more is taken."""
    return ImportConflict(_("This import is no longer receiving files."), code="state", received=received)


def busy_conflict(received: int = 0) -> ImportConflict:
    """Another request is writing this file now: the sender asks again later, from ``received``."""
    return ImportConflict(_("Another part of this file is being sent right now."), code="busy", received=received)


def offset_conflict(sent: int, received: int) -> ImportConflict:
    """A chunk that does not start where the file stands; the sender goes on from ``received``."""
    return ImportConflict(
        _("This chunk starts at byte %(sent)d, but the file is at byte %(expected)d.") % {"sent": sent, "expected": received},
        code="offset", received=received,
    )  # fmt: skip


def chunk_too_big() -> ValidationError:
    return ValidationError(_("A chunk must hold between 1 byte and 64 MB."), code="chunk")


def chunk_refused(error: staging.ChunkError, length: int) -> ValidationError:
    """What the sender is told when a chunk did not arrive whole: it may send it again."""
    if error.code == "small":
        return ValidationError(
            _("Every chunk but the last must be at least %(min)d MB.") % {"min": parts.MIN_PART_BYTES // 1024**2},
            code="chunk",
        )
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
        imports.refuse_file(cd_import, relative, SkipReason.QUOTA, "", "quota")
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
        return not_receiving()
    if fresh.received_files >= staging.MAX_FILES:
        return imports.refuse_file(
            cd_import, relative, SkipReason.TOO_MANY_FILES,
            _("One import takes at most %(max)d files: this one was not accepted.") % {"max": staging.MAX_FILES}, "too_many",
        )  # fmt: skip
    return imports.refuse_file(
        cd_import,
        relative,
        SkipReason.TOO_BIG,
        _("One import takes at most 8 GB: this file was not accepted."),
        "too_big",
    )


def cd_import_batch_reserve(*, actor: User, cd_import: CdImport, length: int) -> bool:
    """Reserve a whole batch's ``length`` bytes at once, before its first byte is written.

    The batch's files are not known yet, but they are fewer bytes than the body that carries
    them, so the body's length bounds them: the import's limit and the box's quota are checked
    once for the batch (and ``cd_import_batch_settle`` gives back what was not kept). False
    when they do not fit: the batch is then received file by file (``cd_import_receive``),
    which takes what still fits and says which file met which limit.
    """
    imports.check_owner(actor, cd_import)
    if cd_import.state != ImportState.RECEIVING:
        raise not_receiving()
    try:
        with transaction.atomic():
            held = CdImport.objects.filter(
                pk=cd_import.pk, state=ImportState.RECEIVING, reserved_bytes__lte=staging.MAX_IMPORT_BYTES - length
            ).update(reserved_bytes=F("reserved_bytes") + length)
            if held:
                box_services.box_space_reserve(box=cd_import.box, size=length)
    except QuotaExceeded:
        return False
    return bool(held)


def cd_import_batch_settle(
    *, cd_import: CdImport, held: int, files: list[ImportedFile]
) -> list[ValidationError | None]:
    """The batch's received files counted, and what was reserved for the rest given back, in one
    transaction. Returns, for each file, None when it is kept, else why not: past the import's
    file limit (its staged copy is removed and the report lists it), begun meanwhile by another
    request (whose file stands), or the import stopped receiving meanwhile (its cancellation
    gave back everything it held, this batch's bytes too).
    """
    with transaction.atomic():
        fresh = CdImport.objects.select_for_update().get(pk=cd_import.pk)
        if fresh.state != ImportState.RECEIVING:
            stopped = not_receiving()
            outcome: dict[int, ValidationError | None] = {id(entry): stopped for entry in files}
            dropped = files
        else:
            room = max(staging.MAX_FILES - fresh.received_files, 0)
            dropped = files[room:]
            too_many = ValidationError(
                _("One import takes at most %(max)d files: this one was not accepted.") % {"max": staging.MAX_FILES},
                code="too_many",
            )
            outcome = {id(entry): too_many for entry in dropped}
            kept = _rows_for(cd_import, files[:room])
            busy = busy_conflict()
            outcome.update({id(entry): busy for entry in files[:room]})
            outcome.update({id(entry): None for entry in kept})
            size = sum(entry.size for entry in kept)
            CdImport.objects.filter(pk=cd_import.pk).update(
                received_files=F("received_files") + len(kept), received_bytes=F("received_bytes") + size,
                reserved_bytes=F("reserved_bytes") - (held - size), last_activity_at=timezone.now(),
            )  # fmt: skip
            box_services.box_space_release(box=cd_import.box, size=held - size)
            metrics.upload_bytes.labels(kind="cd").inc(size)
            if dropped:
                report = imports.ImportReport(cd_import)
                for entry in dropped:
                    report.add(entry.path, SkipReason.TOO_MANY_FILES)
                report.flush()
    area = staging.area()
    for entry in dropped:
        area.discard(cd_import.pk, entry.path)
    return [outcome[id(entry)] for entry in files]


def _rows_for(cd_import: CdImport, files: list[ImportedFile]) -> list[ImportedFile]:
    """The received files' rows in one insert; one by one if the same path was begun meanwhile
    by another request (then that request's row and file stand, and this entry is not kept)."""
    if not files:
        return []
    try:
        with transaction.atomic():
            return ImportedFile.objects.bulk_create(files)
    except IntegrityError:
        kept = []
        for entry in files:
            try:
                with transaction.atomic():
                    entry.save(force_insert=True)
                kept.append(entry)
            except IntegrityError:
                pass
        return kept


def imported_file_received(cd_import: CdImport, relative: str) -> int | None:
    """How many bytes of the file the import holds, or None when it has not begun it."""
    return ImportedFile.objects.filter(cd_import=cd_import, path=relative).values_list("received", flat=True).first()


def cd_import_finish(*, actor: User, cd_import: CdImport) -> CdImport:
    """Every file was sent: the import is queued for the task worker."""
    imports.check_owner(actor, cd_import)
    with transaction.atomic():
        if not imports.import_transition(cd_import, ImportState.QUEUED):
            raise not_receiving()
        tasks.cd_import_run.enqueue(import_id=str(cd_import.pk))
    return cd_import


def cd_import_cancel(*, actor: User, cd_import: CdImport) -> None:
    imports.check_owner(actor, cd_import)
    if not imports.import_transition(cd_import, ImportState.CANCELLED):
        raise not_receiving()
    imports.give_back(cd_import)


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
    if not imports.import_transition(cd_import, ImportState.CANCELLED, error="expired"):
        return False
    imports.give_back(cd_import)
    return True
