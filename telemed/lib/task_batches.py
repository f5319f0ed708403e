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

Either way a worker waiting between two polls is woken (``wake_workers``): on PostgreSQL the
rows' transaction sends a NOTIFY on ``WAKE_CHANNEL``, which PostgreSQL delivers when, and only
if, it commits, and the workers LISTEN for it (telemed/workers/worker.py), so a task enqueued
by a request starts at once instead of at the worker's next poll. SQLite has no such thing:
there the workers poll.
"""

from collections.abc import Iterable

from django.db import connections
from django_tasks.signals import task_enqueued
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.compat import normalize_json

from telemed.lib.request_ids import args_kwargs_with_request_id


def task_row(backend, task, args, kwargs) -> dict:
    """The fields of the row django-tasks-db's ``enqueue`` writes for one run (0.13.0), with the
    current request id in its ``args_kwargs`` (telemed.lib.request_ids). "No time set" is stored
    as the backend's far future, as its pre_save handler does, which bulk_create does not send.
    The platform's backend (telemed/workers/backend.py) writes its rows with this too, which is
    why the models are imported here and below only when called: @task decorators build that
    backend at import time, before the models can load."""
    from django_tasks_db.models import get_date_max

    return {
        "id": backend._get_id(),  # the backend's own id function, as enqueue() uses
        "args_kwargs": args_kwargs_with_request_id(normalize_json({"args": args, "kwargs": kwargs})),
        "priority": task.priority,
        "task_path": task.module_path,
        "queue_name": task.queue_name,
        "run_after": task.run_after if task.run_after is not None else get_date_max(),
        "backend_name": backend.alias,
    }


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
    from django_tasks_db.models import DBTaskResult

    backend.validate_task(task)
    rows = DBTaskResult.objects.bulk_create(
        [DBTaskResult(**task_row(backend, task, (), kwargs)) for kwargs in kwargs_list]
    )
    wake_workers(DBTaskResult.objects.db)
    for row in rows:
        task_enqueued.send(type(backend), task_result=row.task_result)
    return len(rows)


WAKE_CHANNEL = "telemed_tasks"


def wake_workers(using: str) -> None:
    """Wake the waiting workers when the current transaction commits (at once outside one)."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"NOTIFY {WAKE_CHANNEL}")
