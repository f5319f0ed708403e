"""The audit trail: who read or changed which clinical record, when and from where.

Entries are append-only. The row refuses to be saved twice or deleted one by one,
and the queryset refuses bulk updates: the only way rows leave the table is the
retention purge (``services.audit_retention_purge``), which removes nothing younger
than ``AUDIT_RETENTION_FLOOR_MONTHS``.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AuditAction(models.TextChoices):
    # Generic verbs: the target's type says what was read or changed (a document, a
    # DICOM study, a report…), so every app records with the same few words.
    VIEW = "view", _("viewed")
    DOWNLOAD = "download", _("downloaded")
    UPLOAD = "upload", _("uploaded")
    RENAME = "rename", _("renamed")
    MOVE = "move", _("moved")
    DELETE = "delete", _("deleted")
    SHARE = "share", _("shared")
    UNSHARE = "unshare", _("stopped sharing")
    EXPORT = "export", _("exported")
    SIGN = "sign", _("signed")
    # Oscuramento: the patient hid a record from the doctors it is shared with, or showed it again.
    HIDE = "hide", _("hidden from doctors")
    UNHIDE = "unhide", _("shown to doctors again")
    # The erasure of an account (rights): asked, confirmed by e-mail, cancelled, carried out.
    ERASURE_ASKED = "erasure_asked", _("deletion of the account asked")
    ERASURE_CONFIRMED = "erasure_confirmed", _("deletion of the account confirmed")
    ERASURE_CANCELLED = "erasure_cancelled", _("deletion of the account cancelled")
    ERASED = "erased", _("account deleted")


class AuditEntryQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("audit entries cannot be changed")


class AuditEntry(models.Model):
    at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)
    # Labels are copied at the time of the access: the entry must keep saying who
    # and what even after the account or the document is gone.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(_("who"), max_length=300)
    action = models.CharField(_("action"), max_length=20, choices=AuditAction.choices)
    target_type = models.CharField(_("object type"), max_length=100)
    target_id = models.CharField(_("object id"), max_length=64)
    target_label = models.CharField(_("object"), max_length=255, blank=True)
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ip_address = models.GenericIPAddressField(_("from address"), null=True, blank=True)
    user_agent = models.CharField(_("browser"), max_length=300, blank=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")
        indexes = [
            models.Index(fields=["patient", "-at"], name="audit_patient_at"),
            models.Index(fields=["target_type", "target_id"], name="audit_target"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.target_type}#{self.target_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("audit entries cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("audit entries are removed only by the retention purge")


class AuditRetention(models.Model):
    """The one row that remembers the scheduled retention purge (one chain at a time)."""

    task_id = models.CharField(max_length=64, blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_purged_at = models.DateTimeField(null=True, blank=True)
    last_purged_count = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("audit retention run")
        verbose_name_plural = _("audit retention runs")
