"""The task worker: django-tasks-db's worker, plus a heartbeat thread that also runs the reaper; each task
runs under the request id it carries (backend.py)."""

import logging
import threading

from django.conf import settings
from django.db import connection
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from telemed.lib.request_ids import request_id_bound, request_id_of_task
from telemed.workers.models import Role
from telemed.workers.services import heartbeat_beat, heartbeat_end, tasks_reap

logger = logging.getLogger(__name__)


class HeartbeatWorker(Worker):
    def run(self) -> None:
        # The first beat is written before the first claim: a task is never held by a worker
        # the reaper cannot see alive.
        heartbeat_beat(process_id=self.worker_id, role=Role.TASK_WORKER)
        stop = threading.Event()
        pulse = threading.Thread(target=self._pulse, args=(stop,), name="heartbeat", daemon=True)
        pulse.start()
        try:
            super().run()
        finally:
            stop.set()
            pulse.join(timeout=5)
            heartbeat_end(process_id=self.worker_id)

    def run_task(self, db_task_result: DBTaskResult) -> None:
        # The task's log lines carry the id of the request that enqueued it.
        with request_id_bound(request_id_of_task(db_task_result.args_kwargs)):
            super().run_task(db_task_result)

    def _pulse(self, stop: threading.Event) -> None:
        # Its own thread, so that a long task (a CD import) does not stop the beat.
        try:
            while True:
                try:
                    heartbeat_beat(process_id=self.worker_id, role=Role.TASK_WORKER)
                    tasks_reap()
                except Exception:  # a database hiccup must not stop the beat for good
                    logger.exception("heartbeat: could not beat or reap")
                    connection.close()
                if stop.wait(settings.HEARTBEAT_INTERVAL):
                    break
        finally:
            connection.close()
