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
