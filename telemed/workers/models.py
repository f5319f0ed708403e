from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    TASK_WORKER = "task_worker", _("task worker")
    REMINDERS = "reminders", _("reminder dispatcher")


class Heartbeat(models.Model):
    """The last sign of life of one long-running process. Its age says whether the process is
    alive: the reaper gives back the tasks of a worker whose beat is stale, and /healthz
    answers 503 when the newest beat of a role is stale."""

    process_id = models.CharField(max_length=64, unique=True)
    role = models.CharField(max_length=16, choices=Role.choices)
    started_at = models.DateTimeField()
    beat_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.role} {self.process_id}"

    class Meta:
        verbose_name = _("heartbeat")
        verbose_name_plural = _("heartbeats")
