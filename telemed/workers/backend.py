"""django-tasks-db's backend, with the request id: a task enqueued while a request is handled (or
while a task that carries one runs) carries that request's id, and the worker runs it under the
same id (worker.py), so the task's log lines can be found from the request's and back.

The id rides in the row's ``args_kwargs`` JSON, next to ``args`` and ``kwargs`` (which
django-tasks-db reads by name and passes to the task): no column of its own, no migration of a
table this project does not own, and the task functions do not see it (telemed/lib/request_ids.py;
``lib.task_batches.enqueue_many`` writes it the same way)."""

from typing import TYPE_CHECKING

from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.compat import normalize_json

from telemed.lib.request_ids import args_kwargs_with_request_id

if TYPE_CHECKING:  # the models load after the backend, which @task decorators build at import
    from django_tasks_db.models import DBTaskResult


class RequestIdDatabaseBackend(DatabaseBackend):
    def _row(self, task, args, kwargs) -> dict:
        args_kwargs = args_kwargs_with_request_id(normalize_json({"args": args, "kwargs": kwargs}))
        # What django-tasks-db's own _task_to_db_task writes (0.13.0), plus the id above.
        return {
            "id": self._get_id(),
            "args_kwargs": args_kwargs,
            "priority": task.priority,
            "task_path": task.module_path,
            "queue_name": task.queue_name,
            "run_after": task.run_after,
            "backend_name": self.alias,
        }

    def _task_to_db_task(self, task, args, kwargs) -> "DBTaskResult":
        from django_tasks_db.models import DBTaskResult

        return DBTaskResult.objects.create(**self._row(task, args, kwargs))

    async def _atask_to_db_task(self, task, args, kwargs) -> "DBTaskResult":
        from django_tasks_db.models import DBTaskResult

        return await DBTaskResult.objects.acreate(**self._row(task, args, kwargs))
