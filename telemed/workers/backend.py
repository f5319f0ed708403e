"""django-tasks-db's backend, with the request id: a task enqueued while a request is handled (or
while a task that carries one runs) carries that request's id, and the worker runs it under the
same id (worker.py), so the task's log lines can be found from the request's and back.

The id rides in the row's ``args_kwargs`` JSON, next to ``args`` and ``kwargs`` (which
django-tasks-db reads by name and passes to the task): no column of its own, no migration of a
table this project does not own, and the task functions do not see it (telemed/lib/request_ids.py;
``lib.task_batches.enqueue_many`` writes it the same way). The row's transaction wakes the waiting
workers when it commits (``lib.task_batches.wake_workers``)."""

from typing import TYPE_CHECKING

from django_tasks_db.backend import DatabaseBackend

from telemed.lib.task_batches import task_row, wake_workers

if TYPE_CHECKING:  # the models load after the backend, which @task decorators build at import
    from django_tasks_db.models import DBTaskResult


class RequestIdDatabaseBackend(DatabaseBackend):
    def _task_to_db_task(self, task, args, kwargs) -> "DBTaskResult":
        from django_tasks_db.models import DBTaskResult

        row = DBTaskResult.objects.create(**task_row(self, task, args, kwargs))
        wake_workers(DBTaskResult.objects.db)
        return row

    async def _atask_to_db_task(self, task, args, kwargs) -> "DBTaskResult":
        from asgiref.sync import sync_to_async

        return await sync_to_async(self._task_to_db_task)(task, args, kwargs)
