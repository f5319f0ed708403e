"""Radiology images inside the boxes: DICOM patients, studies, series and instances, CD imports.

Every instance file is stored by this app (not as a box Document: a CD of 2,000 files
would bury the box's document list) under ``private/dicom/<box>/``, and counts against
the box's quota exactly like a document, through boxes' space hooks. Access follows the
boxes' rules: the box's owner, or a doctor the patient shared the study with (by
reference, never a copy), or a doctor the study's Welbox folder is shared with.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from telemed.boxes.models import Box, DigestAlgorithm, Folder


class DicomPatient(models.Model):
    """The patient as the CD names them (a CD may hold several), inside one box."""

    box = models.ForeignKey(Box, on_delete=models.CASCADE, related_name="dicom_patients")
    patient_id = models.CharField(_("patient ID on the CD"), max_length=64, blank=True)
    name = models.CharField(_("name on the CD"), max_length=200, blank=True)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    sex = models.CharField(_("sex"), max_length=16, blank=True)

    class Meta:
        verbose_name = _("DICOM patient")
        verbose_name_plural = _("DICOM patients")
        constraints = [
            models.UniqueConstraint(fields=["box", "patient_id", "name"], name="dicom_patient_unique_in_box")
        ]

    def __str__(self) -> str:
        return self.name or self.patient_id or "—"


class Study(models.Model):
    box = models.ForeignKey(Box, on_delete=models.CASCADE, related_name="studies")
    # In a Medbox, the patient folder the doctor imported the CD into.
    folder = models.ForeignKey(Folder, null=True, blank=True, on_delete=models.SET_NULL, related_name="studies")
    dicom_patient = models.ForeignKey(DicomPatient, on_delete=models.PROTECT, related_name="studies")
    study_instance_uid = models.CharField(max_length=64)
    study_date = models.DateField(_("study date"), null=True, blank=True)
    study_time = models.CharField(max_length=16, blank=True)
    description = models.CharField(_("description"), max_length=200, blank=True)
    accession_number = models.CharField(_("accession number"), max_length=32, blank=True)
    institution = models.CharField(_("institution"), max_length=200, blank=True)
    referring_physician = models.CharField(_("referring physician"), max_length=200, blank=True)
    modalities = models.CharField(_("modalities"), max_length=100, blank=True)
    # Kept up to date by the import (one UPDATE per study), so that lists need no aggregation.
    series_count = models.PositiveIntegerField(default=0)
    instance_count = models.PositiveIntegerField(default=0)
    image_count = models.PositiveIntegerField(_("images"), default=0)
    size = models.PositiveBigIntegerField(_("size"), default=0)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("imported"), auto_now_add=True)
    # Oscuramento, as for a Welbox document: no doctor reads or lists the study until the patient
    # shows it again (its shares are kept).
    hidden_from_doctors_at = models.DateTimeField(_("hidden from doctors since"), null=True, blank=True)

    class Meta:
        ordering = ["-study_date", "-created_at", "-id"]
        verbose_name = _("study")
        verbose_name_plural = _("studies")
        constraints = [models.UniqueConstraint(fields=["box", "study_instance_uid"], name="dicom_study_unique_in_box")]

    def __str__(self) -> str:
        label = self.description or self.modalities or str(_("Study"))
        return f"{label} ({self.study_date:%d/%m/%Y})" if self.study_date else label


class Series(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="series")
    series_instance_uid = models.CharField(max_length=64)
    number = models.IntegerField(_("series number"), null=True, blank=True)
    modality = models.CharField(_("modality"), max_length=16, blank=True)
    description = models.CharField(_("description"), max_length=200, blank=True)
    body_part = models.CharField(_("body part"), max_length=64, blank=True)
    series_date = models.DateField(null=True, blank=True)
    instance_count = models.PositiveIntegerField(default=0)
    image_count = models.PositiveIntegerField(_("images"), default=0)

    class Meta:
        verbose_name = _("series")
        verbose_name_plural = _("series")
        ordering = ["number", "id"]
        constraints = [
            models.UniqueConstraint(fields=["study", "series_instance_uid"], name="dicom_series_unique_in_study")
        ]

    def __str__(self) -> str:
        return self.description or self.modality or str(_("Series"))


def instance_storage_name(instance: "Instance", filename: str) -> str:
    # Never the CD's file name: the storage key says nothing about the patient.
    return f"private/dicom/{instance.box_id}/{uuid.uuid4().hex}"


class Instance(models.Model):
    """One DICOM file of the CD (an image, a multi-frame image, or a non-image object such as a report)."""

    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="instances")
    # Denormalised from the study: the uniqueness of an instance is per box.
    box = models.ForeignKey(Box, on_delete=models.CASCADE, related_name="+")
    sop_instance_uid = models.CharField(max_length=64)
    sop_class_uid = models.CharField(max_length=64)
    transfer_syntax_uid = models.CharField(max_length=64)
    number = models.IntegerField(null=True, blank=True)
    # Position along the slice normal, for ordering a volume when the instance numbers are missing.
    slice_position = models.FloatField(null=True, blank=True)
    rows = models.PositiveIntegerField(null=True, blank=True)
    columns = models.PositiveIntegerField(null=True, blank=True)
    frames = models.PositiveIntegerField(default=0)
    photometric = models.CharField(max_length=20, blank=True)
    file = models.FileField(upload_to=instance_storage_name, max_length=200)
    size = models.PositiveBigIntegerField()
    # What guards the bytes (boxes/digests.py): BLAKE3, computed as the file arrived; instances
    # stored before it keep their SHA-256.
    digest = models.CharField(max_length=64)
    digest_algorithm = models.CharField(max_length=10, choices=DigestAlgorithm.choices, default=DigestAlgorithm.BLAKE3)
    path_on_cd = models.CharField(max_length=255, blank=True)
    # The import that stored it: a run of the import task that starts again after its worker
    # died knows what it already stored.
    cd_import = models.ForeignKey("CdImport", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name = _("DICOM instance")
        verbose_name_plural = _("DICOM instances")
        ordering = ["number", "slice_position", "id"]
        constraints = [models.UniqueConstraint(fields=["box", "sop_instance_uid"], name="dicom_instance_unique_in_box")]

    def __str__(self) -> str:
        return f"{self.series} #{self.number if self.number is not None else self.pk}"

    @property
    def is_image(self) -> bool:
        return self.frames > 0


class StudyShare(models.Model):
    """A patient lets a doctor read one study of their Welbox until revoked (by reference, never a copy)."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="shares")
    doctor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="study_shares_received")
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("study share")
        verbose_name_plural = _("study shares")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "doctor"], condition=models.Q(revoked_at__isnull=True), name="dicom_share_live"
            )
        ]


class ImportState(models.TextChoices):
    RECEIVING = "receiving", _("receiving the files")
    QUEUED = "queued", _("waiting to be imported")
    RUNNING = "running", _("importing")
    DONE = "done", _("imported")
    FAILED = "failed", _("refused")
    CANCELLED = "cancelled", _("cancelled")


class CdImport(models.Model):
    """One CD on its way in: its files are staged (under the var dir, or in the bucket), then imported by a task."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    box = models.ForeignKey(Box, on_delete=models.CASCADE, related_name="cd_imports")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    folder = models.ForeignKey(Folder, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    state = models.CharField(max_length=10, choices=ImportState.choices, default=ImportState.RECEIVING)
    # Staged bytes are reserved against the quota while they wait (so staging cannot fill the disk).
    received_files = models.PositiveIntegerField(default=0)
    received_bytes = models.PositiveBigIntegerField(default=0)
    # What the box holds reserved for this import right now; given back when it ends.
    reserved_bytes = models.PositiveBigIntegerField(default=0)
    imported_count = models.PositiveIntegerField(default=0)
    imported_bytes = models.PositiveBigIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    # {reason code: count}: the report's totals even when only the first skips are listed one by one.
    skipped_by_reason = models.JSONField(default=dict)
    used_dicomdir = models.BooleanField(default=False)
    error = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_activity_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("CD import")
        verbose_name_plural = _("CD imports")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "last_activity_at"], name="dicom_import_idle")]


class ImportedFile(models.Model):
    """A file received for an import (its relative path on the CD, as cleaned), staged under the var
    dir or in the bucket (dicom/staging.py)."""

    cd_import = models.ForeignKey(CdImport, on_delete=models.CASCADE, related_name="files")
    path = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    received = models.PositiveBigIntegerField(default=0)
    # Read while the file arrived whole in a batch (dicom/batches.py): its header (reading.Header)
    # and its digest, so that the import neither reads nor hashes it again. Empty for a file
    # that came in chunks, or that is not a DICOM image: the import reads those itself.
    header = models.JSONField(null=True, blank=True)
    digest = models.CharField(max_length=64, blank=True)
    # With object storage, a file sent in several chunks is an S3 multipart upload into the
    # import's staging prefix (dicom/staging.py): its id and the parts received so far.
    multipart_id = models.CharField(max_length=1024, blank=True)
    parts = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name = _("imported file")
        verbose_name_plural = _("imported files")
        constraints = [models.UniqueConstraint(fields=["cd_import", "path"], name="dicom_imported_file_unique")]


class SkipReason(models.TextChoices):
    NOT_DICOM = "not_dicom", _("not a DICOM file")
    DAMAGED = "damaged", _("a damaged DICOM file that cannot be read")
    TRUNCATED = "truncated", _("cut short: the file is incomplete")
    NO_UIDS = "no_uids", _("it lacks the identifiers of its study, series or image")
    DUPLICATE = "duplicate", _("already in the box: the same image was imported before")
    DUPLICATE_IN_CD = "duplicate_in_cd", _("the same image appears twice on this CD")
    QUOTA = "quota", _("no space left in the box")
    EMPTY = "empty", _("an empty file")
    INCOMPLETE = "incomplete", _("it did not arrive whole")
    UNSAFE_PATH = "unsafe_path", _("its name points outside the CD (.. or an absolute path)")
    SYMLINK = "symlink", _("a link, not a file")
    ENCRYPTED = "encrypted", _("protected by a password")
    DUPLICATE_PATH = "duplicate_path", _("the same name appears twice")
    TOO_MANY_FILES = "too_many_files", _("more files than one import takes")
    TOO_BIG = "too_big", _("larger than one import takes")
    ZIP_DAMAGED = "zip_damaged", _("a damaged ZIP archive")
    ZIP_BOMB = "zip_bomb", _("a ZIP that expands far beyond any CD (a “ZIP bomb”): not opened")
    ZIP_TOO_MANY = "zip_too_many", _("a ZIP with more files than a CD holds: not opened")
    ZIP_TOO_BIG = "zip_too_big", _("a ZIP whose content is larger than the free space of the box: not opened")
    DICOMDIR = "dicomdir", _("the CD's DICOMDIR could not be read: its files were scanned one by one")


class ImportSkip(models.Model):
    """One line of the import report: a file that was not imported, and why (a reason code)."""

    cd_import = models.ForeignKey(CdImport, on_delete=models.CASCADE, related_name="skips")
    path = models.CharField(max_length=255)
    reason = models.CharField(max_length=20, choices=SkipReason.choices)

    class Meta:
        verbose_name = _("skipped file")
        verbose_name_plural = _("skipped files")
        ordering = ["id"]


class ImportedStudy(models.Model):
    """Which studies an import filled (a CD may hold several, and a study may grow over two CDs)."""

    cd_import = models.ForeignKey(CdImport, on_delete=models.CASCADE, related_name="studies")
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="+")
    instances = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("imported study")
        verbose_name_plural = _("imported studies")
        constraints = [models.UniqueConstraint(fields=["cd_import", "study"], name="dicom_imported_study_unique")]
