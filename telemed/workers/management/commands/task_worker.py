"""django-tasks-db's ``db_worker`` with a heartbeat and the reaper (telemed/workers/services.py);
``serve`` starts this one."""

from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand

from telemed.workers.worker import HeartbeatWorker


class Command(DbWorkerCommand):
    help = "Run background tasks; tasks left by a dead worker are run again."

    def handle(self, *, verbosity, queue_name, interval, batch, backend_name, startup_delay, max_tasks, worker_id,
               exclude_queues, **options) -> None:  # fmt: skip
        self.configure_logging(verbosity)
        worker = HeartbeatWorker(
            queue_names=queue_name.split(","),
            interval=interval,
            batch=batch,
            backend_name=backend_name,
            startup_delay=startup_delay,
            max_tasks=max_tasks,
            worker_id=worker_id,
            excluded_queue_names=exclude_queues.split(",") if exclude_queues else [],
        )
        worker.configure_signals()
        worker.run()
