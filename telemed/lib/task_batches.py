"""Enqueue many runs of one task in one statement.

A burst (ten thousand reminders due at 08:00, a message to a group) enqueues one e-mail task
per recipient. django-tasks' ``Task.enqueue`` inserts one row per call, a database round trip
each; on the database backend (django-tasks-db, what the platform runs) ``enqueue_many`` builds
the same rows and inserts them with one ``bulk_create``, in the caller's transaction like
``enqueue``. Any other backend (the immediate one of some tests) gets one ``enqueue`` per run.

The rows are exactly those ``enqueue`` would write (same id function, arguments normalised the
same way and carrying the request id (lib/request_ids.py), same priority, queue and run_after — "no time set" stored as the backend's far
future, as its pre_save handler does), so workers cannot tell them apart; the
``task_enqueued`` signal is sent for each, as ``enqueue`` does.
"""

from collections.abc import Iterable

from django_tasks.signals import task_enqueued
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.compat import normalize_json
from django_tasks_db.models import DBTaskResult, get_date_max

from telemed.lib.request_ids import args_kwargs_with_request_id


def enqueue_many(task, kwargs_list: Iterable[dict]) -> int:
    """Enqueue ``task`` once per keyword-argument dict of ``kwargs_list``; returns how many."""
    kwargs_list = list(kwargs_list)
    if not kwargs_list:
        return 0
    backend = task.get_backend()
    if not isinstance(backend, DatabaseBackend):
        for kwargs in kwargs_list:
            task.enqueue(**kwargs)
        return len(kwargs_list)
    backend.validate_task(task)
    rows = DBTaskResult.objects.bulk_create(
        [
            DBTaskResult(
                id=backend._get_id(),  # the backend's own id function, as enqueue() uses
                # with the request id, as the platform's backend writes it (telemed/workers/backend.py)
                args_kwargs=args_kwargs_with_request_id(normalize_json({"args": (), "kwargs": kwargs})),
                priority=task.priority,
                task_path=task.module_path,
                queue_name=task.queue_name,
                # what django-tasks-db's pre_save handler does, which bulk_create does not send
                run_after=task.run_after if task.run_after is not None else get_date_max(),
                backend_name=backend.alias,
            )
            for kwargs in kwargs_list
        ]
    )
    for row in rows:
        task_enqueued.send(type(backend), task_result=row.task_result)
    return len(rows)
