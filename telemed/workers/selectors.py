"""Reads about the background processes: their heartbeats, and the tasks staff must look at."""

from django.core.exceptions import PermissionDenied
from django.db.models import Max
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from telemed.workers.models import Heartbeat, Role
from telemed.workers.services import stale_before

LISTED = 100


def heartbeat_age(role: str) -> float | None:
    """Seconds since the newest beat of any process of this role; None when none is running."""
    newest = Heartbeat.objects.filter(role=role).aggregate(at=Max("beat_at"))["at"]
    return None if newest is None else (timezone.now() - newest).total_seconds()


def tasks_needing_staff(user) -> dict:
    """Failed tasks (newest first) and tasks RUNNING under a worker that is no longer alive."""
    if not (user.is_active and user.is_staff):
        raise PermissionDenied
    alive = set(
        Heartbeat.objects.filter(role=Role.TASK_WORKER, beat_at__gte=stale_before()).values_list(
            "process_id", flat=True
        )
    )
    stuck = [
        task
        for task in DBTaskResult.objects.running().order_by("started_at")
        if not task.worker_ids or task.worker_ids[-1] not in alive
    ]
    return {"failed": list(DBTaskResult.objects.failed().order_by("-finished_at")[:LISTED]), "stuck": stuck[:LISTED]}
