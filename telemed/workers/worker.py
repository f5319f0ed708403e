"""The task worker: django-tasks-db's worker, plus a heartbeat thread that also runs the reaper; each task
runs under the request id it carries (backend.py).

Its loop is django-tasks-db's (claim the next ready task under a lock, run it, again), except
between two empty polls: instead of sleeping ``interval`` it waits for a task's NOTIFY on
PostgreSQL (``Wakeups``; lib/task_batches.py sends it as the task's row commits), at most
``interval``, after which it polls anyway (a task whose ``run_after`` came, a lost connection).
A task enqueued by a request so starts at once, not up to a second later. On SQLite, or while
its listening connection is down, the worker sleeps and polls as before."""

import logging
import random
import threading
import time

import psycopg
from django.conf import settings
from django.db import close_old_connections, connection, connections
from django.db.utils import OperationalError
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

from telemed.lib.request_ids import request_id_bound, request_id_of_task
from telemed.lib.task_batches import WAKE_CHANNEL
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
            logger.info("Starting worker worker_id=%s queues=%s", self.worker_id, ",".join(self.queue_names))
            if self.startup_delay and self.interval:
                time.sleep(random.random())  # workers started together do not all poll together
            with Wakeups(DBTaskResult.objects.db) as wakeups:
                self._claim_and_run(wakeups)
        finally:
            stop.set()
            pulse.join(timeout=5)
            heartbeat_end(process_id=self.worker_id)

    def _claim_and_run(self, wakeups: "Wakeups") -> None:
        while self.running:
            close_old_connections()  # a stale connection is replaced, as after each wait
            task_result = self._claim_next()
            if task_result is not None:
                self.run_task(task_result)
                if self.max_tasks is not None and self._run_tasks >= self.max_tasks:
                    return
                continue
            if self.batch:
                return
            close_old_connections()
            if self.running:
                wakeups.wait(self.interval)

    def _claim_next(self) -> DBTaskResult | None:
        tasks = DBTaskResult.objects.ready().filter(backend_name=self.backend_name)
        if not self.process_all_queues:
            tasks = tasks.filter(queue_name__in=self.queue_names)
        if self.excluded_queue_names:
            tasks = tasks.exclude(queue_name__in=self.excluded_queue_names)
        with exclusive_transaction(tasks.db):
            try:
                task_result = tasks.get_locked()
                if task_result is not None:
                    task_result.claim(self.worker_id)  # so that no other worker runs it
            except OperationalError as error:
                if not is_locked_database_exception(error):
                    raise
                return None  # SQLite busy: tried again after the wait
        return task_result

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


class Wakeups:
    """Waits between two empty polls: for a NOTIFY on ``WAKE_CHANNEL`` over a connection of its own
    (PostgreSQL), or for the time given (SQLite, or that connection lost: tried again each wait)."""

    def __init__(self, using: str):
        self.using = using
        self.listening: psycopg.Connection | None = None

    def __enter__(self) -> "Wakeups":
        self._listen()
        return self

    def __exit__(self, *exc_info) -> None:
        if self.listening is not None:
            self.listening.close()
            self.listening = None

    def _listen(self) -> None:
        database = connections[self.using]
        if database.vendor != "postgresql":
            return
        params = {k: v for k, v in database.get_connection_params().items() if k not in ("cursor_factory", "context")}
        try:
            self.listening = psycopg.connect(**params, autocommit=True)
            self.listening.execute(f"LISTEN {WAKE_CHANNEL}")
        except psycopg.Error:
            logger.warning("task worker: cannot listen for new tasks; polling instead", exc_info=True)
            self.__exit__()

    def wait(self, seconds: float) -> None:
        if self.listening is None:
            time.sleep(seconds)
            self._listen()
            return
        try:
            # Every NOTIFY waiting is taken (psycopg yields all it has read, stop_after or not):
            # those sent while a task ran need only this one poll.
            for _notify in self.listening.notifies(timeout=seconds, stop_after=1):
                pass
        except psycopg.Error:
            logger.warning("task worker: lost the connection that listens for new tasks", exc_info=True)
            self.__exit__()
