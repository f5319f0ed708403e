"""Every use case of the DICOM app's studies that changes state (views, shares, deletion, the
de-identified export); the actor is checked here. A CD's import lives in receiving.py (its
files arriving) and importing.py (the task that reads them), around imports.py (its state).
"""

import logging
import os
import shutil
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Count, ProtectedError, Sum
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from telemed.accounts.models import User
from telemed.audit.models import AuditAction
from telemed.audit.services import audit_record
from telemed.boxes import services as box_services
from telemed.boxes.models import BoxKind
from telemed.boxes.parts import in_object_storage
from telemed.dicom import deidentify
from telemed.dicom.models import (
    Instance,
    Series,
    Study,
    StudyShare,
)

logger = logging.getLogger(__name__)

VIEW_AUDIT_SECONDS = 600
MAX_EXPORT_BYTES = 4 * 1024**3


# --- whose data --------------------------------------------------------------------------------


def study_patient(study: Study) -> User | None:
    """Whose clinical data this is: the Welbox's owner, or the patient linked to the Medbox folder."""
    if study.box.kind == BoxKind.WELBOX:
        return study.box.owner
    folder = study.folder
    return folder.patient if folder is not None and folder.patient_id else None


def study_audit(actor: User | None, action: AuditAction, target, study: Study, request: HttpRequest | None) -> None:
    audit_record(actor=actor, action=action, target=target, patient=study_patient(study), request=request)


def study_recount(study: Study) -> None:
    """The counts shown in lists, from the instances themselves."""
    for series in study.series.all():
        totals = series.instances.aggregate(count=Count("id"), images=Sum("frames"))
        Series.objects.filter(pk=series.pk).update(instance_count=totals["count"], image_count=totals["images"] or 0)
    totals = Instance.objects.filter(series__study=study).aggregate(
        count=Count("id"), images=Sum("frames"), size=Sum("size")
    )
    modalities = sorted({m for m in study.series.values_list("modality", flat=True) if m})
    Study.objects.filter(pk=study.pk).update(
        series_count=study.series.count(), instance_count=totals["count"], image_count=totals["images"] or 0,
        size=totals["size"] or 0, modalities="/".join(modalities)[:100],
    )  # fmt: skip


# --- reading a study ------------------------------------------------------------------------------


def study_viewed(*, actor: User, study: Study, request: HttpRequest | None = None) -> None:
    """Record that ``actor`` opened the study page (the view already checked access)."""
    study_audit(actor, AuditAction.VIEW, study, study, request)


def series_view_mark(actor_id: int, series_id: int) -> str:
    """The cache key that marks a person's view of a series for VIEW_AUDIT_SECONDS."""
    return f"dicom:viewed:{actor_id}:{series_id}"


def series_viewed(*, actor: User, series: Series, request: HttpRequest | None = None) -> bool:
    """Record that ``actor`` looked at the images of a series.

    Scrolling a 500-slice CT fetches 500 images: one entry per person and series every
    ten minutes says the same, so the first image of a series in that span writes it.
    """
    if not cache.add(series_view_mark(actor.pk, series.pk), 1, VIEW_AUDIT_SECONDS):
        return False
    study_audit(actor, AuditAction.VIEW, series, series.study, request)
    return True


# --- sharing, deleting ------------------------------------------------------------------------------


@transaction.atomic
def study_share(*, actor: User, study: Study, doctor: User, request: HttpRequest | None = None) -> StudyShare:
    """The owner lets ``doctor`` read this study by reference (never a copy) until revoked: a
    patient a study of their Welbox, a doctor a study of their Medbox (a colleague, through Intramed)."""
    owns = study.box.owner_id == actor.pk
    if not owns or not (
        (actor.is_patient and study.box.kind == BoxKind.WELBOX)
        or (actor.is_doctor and study.box.kind == BoxKind.MEDBOX)
    ):
        raise PermissionDenied
    if not doctor.is_doctor or not doctor.is_active:
        raise ValidationError(_("A study can be shared only with a doctor."), code="doctor")
    if doctor.pk == actor.pk:
        raise ValidationError(_("This study is already yours."), code="doctor")
    share = StudyShare.objects.filter(study=study, doctor=doctor, revoked_at__isnull=True).first()
    if share is None:
        share = StudyShare.objects.create(study=study, doctor=doctor, granted_by=actor)
        study_audit(actor, AuditAction.SHARE, study, study, request)
    return share


@transaction.atomic
def study_share_revoke(*, actor: User, share: StudyShare, request: HttpRequest | None = None) -> None:
    study = share.study
    if study.box.owner_id != actor.pk:
        raise PermissionDenied
    if share.revoked_at is None:
        share.revoked_at = timezone.now()
        share.save(update_fields=["revoked_at"])
        study_audit(actor, AuditAction.UNSHARE, study, study, request)


@transaction.atomic
def study_delete(*, actor: User, study: Study, request: HttpRequest | None = None) -> None:
    """Delete the study with its images; their space is free at once, the files go when the transaction commits."""
    if study.box.owner_id != actor.pk:
        raise PermissionDenied
    study_audit(actor, AuditAction.DELETE, study, study, request)
    try:
        _study_remove(study)
    except ProtectedError:
        # A consult keeps the studies it was asked with (they are part of its clinical record);
        # raising rolls back the audit entry and the freed space above.
        raise ValidationError(
            _("This study went with a consult, which keeps it in its record: it cannot be deleted.")
        ) from None


def _study_remove(study: Study) -> None:
    """Delete the study's rows and free its space (ProtectedError, rolled back by the caller, when
    a consult keeps it); its files and rendered images go when the transaction commits."""
    instances = Instance.objects.filter(series__study=study)
    size = instances.aggregate(size=Sum("size"))["size"] or 0
    names = list(instances.values_list("file", flat=True))
    ids = list(instances.values_list("pk", flat=True))
    box_services.box_space_free(box=study.box, size=size)
    patient = study.dicom_patient
    study.delete()
    if not patient.studies.exists():
        patient.delete()

    def remove_files():
        for name in names:
            default_storage.delete(name)
        for pk in ids:
            rendered_cache_remove(pk)

    transaction.on_commit(remove_files)


def studies_erase_of_box(*, box) -> tuple[int, int]:
    """Erase every study of the box (its account is being erased): ``(erased, kept)``. A study a
    consult was asked with stays, part of the doctor's record of that consult; run again, only
    those kept are found, and kept again."""
    erased = kept = 0
    for study in Study.objects.filter(box=box).select_related("box", "dicom_patient"):
        try:
            with transaction.atomic():
                _study_remove(study)
        except ProtectedError:
            kept += 1
        else:
            erased += 1
    return erased, kept


# --- the rendered-image cache ---------------------------------------------------------------------
# Images rendered from an instance with its own window or a preset are kept, per instance, and go
# with their study. On the embedded default they are files of the var dir; with object storage they
# are objects of the bucket, beside the instances: a rendered image is the patient's data, and no
# web host keeps one on its disk (nor misses it when another host removes the study).

RENDERED_PREFIX = "private/dicom-rendered"


def rendered_cache_dir() -> Path:
    return Path(settings.VAR_DIR) / "dicom-rendered"


def rendered_cache_get(instance_id: int, key: str) -> Path | bytes | None:
    """The kept rendering ``key`` of the instance: a file (embedded default), its bytes (object
    storage), or None."""
    if in_object_storage():
        try:
            with default_storage.open(f"{RENDERED_PREFIX}/{instance_id}/{key}.png", "rb") as stored:
                return stored.read()
        except FileNotFoundError:
            return None
    path = rendered_cache_dir() / str(instance_id) / f"{key}.png"
    return path if path.is_file() else None


def rendered_cache_put(instance_id: int, key: str, png: bytes) -> None:
    if in_object_storage():
        default_storage.save(f"{RENDERED_PREFIX}/{instance_id}/{key}.png", ContentFile(png))
        return
    path = rendered_cache_dir() / str(instance_id) / f"{key}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{os.getpid()}-{path.name}")
    partial.write_bytes(png)
    partial.replace(path)  # never half a file for a reader


def rendered_cache_remove(instance_id: int) -> None:
    if in_object_storage():
        folder = f"{RENDERED_PREFIX}/{instance_id}"
        for name in default_storage.listdir(folder)[1]:
            default_storage.delete(f"{folder}/{name}")
        return
    shutil.rmtree(rendered_cache_dir() / str(instance_id), ignore_errors=True)


# --- the de-identified copy -------------------------------------------------------------------------


def study_export_deidentified(
    *, actor: User, study: Study, request: HttpRequest | None = None
) -> tuple[Path, int, int]:
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
    study_audit(actor, AuditAction.EXPORT, study, study, request)
    return final, written, left_out
