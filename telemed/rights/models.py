"""An account's data export (GDPR arts. 15 and 20): one ZIP built in the background."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class ExportState(models.TextChoices):
    QUEUED = "queued", _("waiting to start")
    RUNNING = "running", _("being prepared")
    READY = "ready", _("ready")
    FAILED = "failed", _("failed")


OPEN_STATES = (ExportState.QUEUED, ExportState.RUNNING)


class DataExport(models.Model):
    # Unguessable: the export's address.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="data_exports")
    state = models.CharField(_("state"), max_length=10, choices=ExportState.choices, default=ExportState.QUEUED)
    items_total = models.PositiveIntegerField(default=0)
    items_done = models.PositiveIntegerField(default=0)
    # The storage key of the ZIP, derived from the export (a run again overwrites it).
    file_name = models.CharField(max_length=200, blank=True)
    size = models.PositiveBigIntegerField(_("size"), default=0)
    created_at = models.DateTimeField(_("asked"), auto_now_add=True)
    finished_at = models.DateTimeField(_("ready since"), null=True, blank=True)

    class Meta:
        verbose_name = _("data export")
        verbose_name_plural = _("data exports")
        ordering = ["-created_at"]
        constraints = [
            # One export in preparation per account: asking twice shows the one under way.
            models.UniqueConstraint(
                fields=["user"], condition=Q(state__in=["queued", "running"]), name="rights_one_open_export"
            )
        ]

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.items_done / self.items_total)) if self.items_total else 0


class ErasureState(models.TextChoices):
    ASKED = "asked", _("waiting for the e-mail confirmation")
    SCHEDULED = "scheduled", _("confirmed, waiting for the grace period to end")
    CANCELLED = "cancelled", _("cancelled")
    ERASED = "erased", _("carried out")


OPEN_ERASURE_STATES = (ErasureState.ASKED, ErasureState.SCHEDULED)


class ErasureRequest(models.Model):
    """The owner's request to delete their account (GDPR art. 17), from asking to erasure
    (``telemed.rights.erasure``). The row stays once carried out: it is what the access log's
    entries about the erasure point to."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="erasure_requests")
    state = models.CharField(_("state"), max_length=10, choices=ErasureState.choices, default=ErasureState.ASKED)
    asked_at = models.DateTimeField(_("asked"), auto_now_add=True)
    confirmed_at = models.DateTimeField(_("confirmed"), null=True, blank=True)
    # When the account is erased: the confirmation plus the grace period.
    due_at = models.DateTimeField(_("to be deleted on"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)
    erased_at = models.DateTimeField(_("deleted"), null=True, blank=True)
    # What the erasure did and kept, as the access log's entry says it (counts, no content).
    outcome = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("account deletion request")
        verbose_name_plural = _("account deletion requests")
        ordering = ["-asked_at"]
        constraints = [
            # One request under way per account: asking again shows the one under way.
            models.UniqueConstraint(
                fields=["user"], condition=Q(state__in=["asked", "scheduled"]), name="rights_one_open_erasure"
            )
        ]
        indexes = [models.Index(fields=["state", "due_at"], name="rights_erasure_due")]

    def __str__(self) -> str:
        return f"erasure {self.pk} ({self.state})"


class RetentionRun(models.Model):
    """The one row that remembers the scheduled retention sweep (one chain at a time)."""

    task_id = models.CharField(max_length=64, blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    # What the last sweep removed, per kind of data (``retention.RULES``).
    last_removed = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("retention sweep")
        verbose_name_plural = _("retention sweeps")
