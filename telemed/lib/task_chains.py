"""A periodic task kept as one chain of runs, each scheduling the next.

The run that is waiting is named in a singleton state row (a model with ``task_id`` and
``next_run_at``; pk 1), read under a row lock, so that:
- starting the chain twice (each deploy, the demo loader) enqueues nothing the second time
  while a run is waiting or running (``chain_start``);
- a run executed again after its worker died, or an older run that already scheduled its
  successor, finds that it is not the current one and does nothing (``chain_is_current``).

The audit log's purge and the retention sweep run this way.
"""

import datetime

from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks.exceptions import TaskException


def chain_state(model):
    """The chain's state row, locked until the caller's transaction ends (created the first time)."""
    model.objects.get_or_create(pk=1)
    return model.objects.select_for_update().get(pk=1)


def chain_waiting(state, task) -> bool:
    """Whether the run the state names is still to run or running."""
    if not state.task_id:
        return False
    try:
        status = task.get_result(state.task_id).status
    except TaskException:  # pruned from the queue, or not ours
        return False
    return status in {TaskResultStatus.READY, TaskResultStatus.RUNNING}


def chain_next(state, task, run_at: datetime.datetime) -> None:
    """Enqueue the next run at ``run_at`` and name it in the state (the caller saves it)."""
    result = task.using(run_after=run_at).enqueue()
    state.task_id = str(result.id)
    state.next_run_at = run_at


def chain_start(model, task) -> bool:
    """Inside a transaction: start the chain now unless a run is waiting; True when one was enqueued."""
    state = chain_state(model)
    if chain_waiting(state, task):
        return False
    chain_next(state, task, timezone.now())
    state.save(update_fields=["task_id", "next_run_at"])
    return True


def chain_is_current(state, task_id: str | None) -> bool:
    """Whether the run ``task_id`` is the one the state names (None: called by hand, always)."""
    return task_id is None or not state.task_id or state.task_id == task_id
