"""Background work that survives the process running it.

django-tasks-db (0.13.0, its newest release) marks a task RUNNING when a worker claims it and
never looks at it again: a worker killed mid-task leaves it RUNNING for ever. These rules add
what it lacks:

- Every long-running process (task worker, reminder dispatcher) writes a heartbeat every
  ``HEARTBEAT_INTERVAL`` seconds. A beat older than ``HEARTBEAT_STALE_AFTER`` means the process
  is dead (killed, its host lost) or hung. A process that stops cleanly removes its own beat.
- A task RUNNING under a worker whose beat is stale or gone was abandoned. The reaper puts it
  back to READY, so another worker runs it again, unless it has already been claimed
  ``TASK_MAX_ATTEMPTS`` times (django-tasks-db appends the worker's id at every claim, so that
  list counts the attempts); then it is FAILED and every active staff member is notified.
- Every task worker runs the reaper in its heartbeat thread: no extra process is needed. Each
  change is one conditional UPDATE on (id, RUNNING, started_at), so two reapers, or a reaper and
  a worker claiming the row again, never both win.
- A task that ran again must not do its work twice: every task is idempotent (DESIGN.md).
- Staff can put a failed task back (run again); it starts a fresh count of attempts.
"""

import datetime
import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from telemed.accounts.models import User
from telemed.notifications.services import Tell, notify_many
from telemed.workers.models import Heartbeat, Role

logger = logging.getLogger(__name__)

NOTIFICATION_KIND = "task_failed"
LOST_EXCEPTION = "telemed.workers.WorkerLost"
# Beats of processes gone this long are forgotten; their tasks were reaped long before.
FORGET_AFTER = datetime.timedelta(days=1)


def stale_before(now: datetime.datetime | None = None) -> datetime.datetime:
    """A heartbeat older than this instant belongs to a dead process."""
    return (now or timezone.now()) - datetime.timedelta(seconds=settings.HEARTBEAT_STALE_AFTER)


def heartbeat_beat(*, process_id: str, role: str) -> None:
    now = timezone.now()
    if not Heartbeat.objects.filter(process_id=process_id).update(beat_at=now):
        Heartbeat.objects.create(process_id=process_id, role=role, started_at=now, beat_at=now)


def heartbeat_end(*, process_id: str) -> None:
    """A clean stop: the process is gone, not dead, so it must not make /healthz answer 503."""
    Heartbeat.objects.filter(process_id=process_id).delete()


def _staff_tell(task: DBTaskResult) -> None:
    tells = []
    for staff in User.objects.filter(is_staff=True, is_active=True):
        with translation.override(staff.language):
            tells.append(
                Tell(
                    recipient=staff,
                    kind=NOTIFICATION_KIND,
                    title=_("A background task failed: %(name)s") % {"name": task.task_path.rsplit(".", 1)[-1]},
                    url=reverse("workers:tasks"),
                )
            )
    notify_many(tells)


def tasks_reap(*, now: datetime.datetime | None = None) -> tuple[int, int]:
    """Put back the tasks of dead workers, or fail those tried too often. Returns (requeued, failed)."""
    now = now or timezone.now()
    alive = set(
        Heartbeat.objects.filter(role=Role.TASK_WORKER, beat_at__gte=stale_before(now)).values_list(
            "process_id", flat=True
        )
    )
    abandoned = [
        (pk, started_at, len(worker_ids))
        for pk, started_at, worker_ids in DBTaskResult.objects.running().values_list("pk", "started_at", "worker_ids")
        if not worker_ids or worker_ids[-1] not in alive
    ]
    requeued = failed = 0
    for pk, started_at, attempts in abandoned:
        with transaction.atomic():
            held = DBTaskResult.objects.filter(pk=pk, status=TaskResultStatus.RUNNING, started_at=started_at)
            if attempts < settings.TASK_MAX_ATTEMPTS:
                if held.update(status=TaskResultStatus.READY):
                    requeued += 1
                    logger.warning("task %s: its worker died, running it again (attempt %d done)", pk, attempts)
                continue
            changed = held.update(
                status=TaskResultStatus.FAILED,
                finished_at=now,
                exception_class_path=LOST_EXCEPTION,
                traceback=f"The worker running this task died {attempts} times; it was not run again.",
            )
            if changed:
                failed += 1
                logger.error("task %s: its worker died %d times, marked failed", pk, attempts)
                _staff_tell(DBTaskResult.objects.get(pk=pk))
    Heartbeat.objects.filter(beat_at__lt=now - FORGET_AFTER).delete()
    return requeued, failed


def task_run_again(*, actor: User, task_id: str) -> DBTaskResult:
    """Staff put a failed or stuck task back in the queue, with a fresh count of attempts."""
    if not (actor.is_active and actor.is_staff):
        raise PermissionDenied
    with transaction.atomic():
        task = DBTaskResult.objects.select_for_update().filter(pk=task_id).first()
        stuck = task is not None and task.status == TaskResultStatus.RUNNING and not _alive(task)
        if task is None or not (task.status == TaskResultStatus.FAILED or stuck):
            raise ValidationError(_("This task is not failed nor stuck any more: nothing to run again."))
        DBTaskResult.objects.filter(pk=task.pk).update(
            status=TaskResultStatus.READY, worker_ids=[], finished_at=None, exception_class_path="", traceback=""
        )
        logger.warning("task %s: put back in the queue by %s", task.pk, actor.pk)
    task.refresh_from_db()
    return task


def _alive(task: DBTaskResult) -> bool:
    return (
        bool(task.worker_ids)
        and Heartbeat.objects.filter(process_id=task.worker_ids[-1], beat_at__gte=stale_before()).exists()
    )
