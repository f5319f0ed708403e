"""Every use case of the boxes that changes state (the resumable uploads are ``uploads.py``'s).
One transaction each; the actor is checked here.

Space: what is written into a box reserves its size with one conditional UPDATE on the box
row before any byte is written (``box_space_reserve``), so concurrent writers can never
exceed the quota; once stored the reservation moves to ``used_bytes``; a refusal,
a cancellation or an expiry releases it; a deletion frees the space at once. Files are not
transactional: a stored file whose row did not commit is deleted, and a deleted row's file goes
when the transaction commits.
"""

import datetime
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
from telemed.boxes import digests, sniffing, tasks
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
    document_storage_name,
)

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


def checked_category(value: str) -> Category:
    if value not in Category.values:
        raise ValidationError(_("Choose one of the categories."), code="category")
    return Category(value)


def scratch_dir() -> Path:
    """Where chunks and spooled files wait on the local disk (``VAR_DIR/uploads``), not in ``/tmp``,
    which may be a small memory-backed file system."""
    path = Path(settings.VAR_DIR) / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


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


def checked_folder(box: Box, folder: Folder | None) -> Folder | None:
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


# --- documents ------------------------------------------------------------------------------------


def document_patient(document: Document) -> User | None:
    """Whose clinical data this is: the Welbox's owner, or the patient linked to a Medbox folder."""
    box = document.box
    if box.kind == BoxKind.WELBOX:
        return box.owner
    folder = document.folder
    return folder.patient if folder is not None and folder.patient_id else None


def document_audit(actor: User | None, action: AuditAction, document: Document, request: HttpRequest | None) -> None:
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
    document_audit(actor, action, document, request)


@transaction.atomic
def document_rename(*, actor: User, document: Document, name: str, request: HttpRequest | None = None) -> Document:
    _own_box(actor, document.box)
    document.name = clean_name(name)
    document.save(update_fields=["name", "updated_at"])
    document_audit(actor, AuditAction.RENAME, document, request)
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
    document.folder = checked_folder(document.box, folder)
    if category is not None:
        document.category = checked_category(category)
    document.save(update_fields=["folder", "category", "updated_at"])
    document_audit(actor, AuditAction.MOVE, document, request)
    return document


@transaction.atomic
def document_delete(*, actor: User, document: Document, request: HttpRequest | None = None) -> None:
    """Delete the document; its space is free at once, its file goes when the transaction commits."""
    _own_box(actor, document.box)
    document_audit(actor, AuditAction.DELETE, document, request)
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
    category = checked_category(category)
    name = clean_name(name)
    folder = checked_folder(box, folder)
    if mime not in sniffing.ALLOWED:
        raise ValidationError(_("This type of file cannot be stored in a box."), code="type")
    counts = owner is not None
    digest, size = digests.new(), 0
    # An unnamed temporary file: the kernel removes it with the process, however it ends.
    with tempfile.SpooledTemporaryFile(
        max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, dir=os.fspath(scratch_dir())
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
            document_audit(document.uploaded_by, AuditAction.UPLOAD, document, None)
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
    document_audit(actor, AuditAction.SHARE, document, request)
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
        document_audit(actor, AuditAction.UNSHARE, share.document, request)


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
    """Delete every document and folder of the box, with the shares that granted them; the space is
    free at once and the files go when the transaction commits. Its open uploads are ended before
    (``uploads.uploads_cancel_of_box``), and so are the DICOM studies, the dicom app's
    (``studies_erase_of_box``). Returns how many
    documents went; run again, it finds nothing and changes nothing."""
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
