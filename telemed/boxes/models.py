"""Medbox (a doctor's clinical records, per patient) and Welbox (a patient's own history).

Space accounting lives on the box row so that one conditional UPDATE can reserve
it (see ``uploads.upload_start``): ``used_bytes`` are stored documents that count
against the quota, ``reserved_bytes`` are uploads in progress, ``system_bytes``
are documents the platform filed (signed reports) that never count.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

GIB = 1024**3


class BoxKind(models.TextChoices):
    MEDBOX = "medbox", _("Medbox")
    WELBOX = "welbox", _("Welbox")


class Category(models.TextChoices):
    REPORT = "report", _("Report")
    PRESCRIPTION = "prescription", _("Prescription")
    EXAM = "exam", _("Exam")
    IMAGING = "imaging", _("Imaging")
    OTHER = "other", _("Other")


class BoxSettings(models.Model):
    """The staff's settings for every box (one row, edited in the back office)."""

    free_quota_bytes = models.PositiveBigIntegerField(
        _("free space per box (bytes)"),
        default=GIB,
        help_text=_("Every box gets this much for free; 1 GB = 1073741824."),
    )
    upload_idle_hours = models.PositiveIntegerField(_("hours before an unfinished upload is removed"), default=24)

    class Meta:
        verbose_name = _("box settings")
        verbose_name_plural = _("box settings")

    def __str__(self) -> str:
        return str(_("Box settings"))


class Box(models.Model):
    owner = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="box")
    kind = models.CharField(_("kind"), max_length=10, choices=BoxKind.choices)
    # Bought on top of the free space (``BoxSettings.free_quota_bytes``): the quota
    # is their sum, so a change of the free space reaches every box at once.
    extra_quota_bytes = models.PositiveBigIntegerField(_("extra space bought (bytes)"), default=0)
    used_bytes = models.PositiveBigIntegerField(default=0)
    reserved_bytes = models.PositiveBigIntegerField(default=0)
    system_bytes = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("box")
        verbose_name_plural = _("boxes")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} — {self.owner.get_full_name()}"


class QuotaRaise(models.Model):
    """Every raise of a box's quota, with its reason (a storage purchase, a staff gift)."""

    box = models.ForeignKey(Box, on_delete=models.CASCADE, related_name="quota_raises")
    extra_bytes = models.PositiveBigIntegerField()
    reason = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("quota raise")
        verbose_name_plural = _("quota raises")


class Folder(models.Model):
    """A folder of a box. In a Medbox, one per patient (optionally linked to the patient's account)."""

    box = models.ForeignKey(Box, on_delete=models.CASCADE, related_name="folders")
    name = models.CharField(_("name"), max_length=120)
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="medbox_folders"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("folder")
        verbose_name_plural = _("folders")
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["box", "name"], name="boxes_folder_name_unique")]

    def __str__(self) -> str:
        return self.name


class DigestAlgorithm(models.TextChoices):
    SHA256 = "sha256", "SHA-256"
    BLAKE3 = "blake3", "BLAKE3"


def document_storage_name(instance: "Document", filename: str) -> str:
    # Never the user's file name: it is not trusted, and the storage key must not leak it.
    return f"private/boxes/{instance.box_id}/{uuid.uuid4().hex}"


class Document(models.Model):
    box = models.ForeignKey(Box, on_delete=models.CASCADE, related_name="documents")
    folder = models.ForeignKey(Folder, null=True, blank=True, on_delete=models.PROTECT, related_name="documents")
    category = models.CharField(_("category"), max_length=20, choices=Category.choices, default=Category.OTHER)
    name = models.CharField(_("name"), max_length=255)
    file = models.FileField(upload_to=document_storage_name, max_length=200)
    size = models.PositiveBigIntegerField(_("size"))
    mime = models.CharField(_("type"), max_length=100)
    # What guards the bytes (digests.py): BLAKE3, computed as they were written; documents stored
    # before BLAKE3 keep their SHA-256.
    digest = models.CharField(max_length=64)
    digest_algorithm = models.CharField(max_length=10, choices=DigestAlgorithm.choices, default=DigestAlgorithm.BLAKE3)
    # Platform-issued documents (signed reports) do not count against the quota.
    counts_against_quota = models.BooleanField(default=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("added"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Oscuramento: the patient blanked this Welbox document out. No doctor reads or even lists it,
    # whatever it is shared through, until the patient shows it again (the shares are kept).
    hidden_from_doctors_at = models.DateTimeField(_("hidden from doctors since"), null=True, blank=True)

    class Meta:
        verbose_name = _("document")
        verbose_name_plural = _("documents")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class Share(models.Model):
    """A patient lets a doctor read one Welbox document, or a whole folder, until revoked.

    Sharing is by reference: the doctor reads the patient's own copy.
    """

    document = models.ForeignKey(Document, null=True, blank=True, on_delete=models.CASCADE, related_name="shares")
    folder = models.ForeignKey(Folder, null=True, blank=True, on_delete=models.CASCADE, related_name="shares")
    doctor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="box_shares_received")
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("share")
        verbose_name_plural = _("shares")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(document__isnull=False, folder__isnull=True)
                | models.Q(document__isnull=True, folder__isnull=False),
                name="boxes_share_one_target",
            ),
            # At most one live share per (target, doctor): sharing twice is a no-op.
            models.UniqueConstraint(
                fields=["document", "doctor"],
                condition=models.Q(revoked_at__isnull=True),
                name="boxes_share_document_live",
            ),
            models.UniqueConstraint(
                fields=["folder", "doctor"], condition=models.Q(revoked_at__isnull=True), name="boxes_share_folder_live"
            ),
        ]


class UploadState(models.TextChoices):
    OPEN = "open", _("in progress")
    COMPLETE = "complete", _("complete")
    FAILED = "failed", _("refused")
    CANCELLED = "cancelled", _("cancelled")
    EXPIRED = "expired", _("expired")


class UploadSession(models.Model):
    """A resumable upload: space is reserved when it starts, chunks are appended to a part file
    on the embedded default, or become the parts of an S3 multipart upload (parts.py)."""

    # Unguessable: the id is the upload's address.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    box = models.ForeignKey(Box, on_delete=models.CASCADE, related_name="uploads")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    folder = models.ForeignKey(Folder, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    category = models.CharField(max_length=20, choices=Category.choices, default=Category.OTHER)
    name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    offset = models.PositiveBigIntegerField(default=0)
    state = models.CharField(max_length=10, choices=UploadState.choices, default=UploadState.OPEN)
    error = models.CharField(max_length=300, blank=True)
    document = models.OneToOneField(Document, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Object storage only (parts.py): the document's storage name, the S3 multipart upload's id
    # and the parts received so far ({"number", "size", "etag"}), moved with the offset.
    storage_name = models.CharField(max_length=200, blank=True)
    multipart_id = models.CharField(max_length=1024, blank=True)
    parts = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_activity_at = models.DateTimeField()

    class Meta:
        verbose_name = _("upload session")
        verbose_name_plural = _("upload sessions")
        indexes = [models.Index(fields=["state", "last_activity_at"], name="boxes_upload_idle")]
        constraints = [
            models.CheckConstraint(condition=models.Q(offset__lte=models.F("size")), name="boxes_upload_offset_in_size")
        ]


class StagedFile(models.Model):
    """A file written to the storage before the transaction that files it as a Document.

    Its row is committed with the space it holds, before the first byte is written, and deleted
    in the transaction that creates the Document. A row still here after ``expires_at`` belongs
    to a process that died (or a caller that changed its mind): the expiry task gives the space
    back and removes the file (services.staged_file_expire)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    box = models.ForeignKey(Box, on_delete=models.CASCADE, related_name="+")
    # Bytes reserved in the box's quota (0 for a platform-issued document, outside the quota).
    reserved_bytes = models.PositiveBigIntegerField(default=0)
    storage_name = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        verbose_name = _("staged file")
        verbose_name_plural = _("staged files")
