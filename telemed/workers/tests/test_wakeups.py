"""A worker waiting between two polls starts a new task as the task's row commits (PostgreSQL's
LISTEN/NOTIFY, workers/worker.py), not at its next poll."""

import os
import time

import pytest
from django.db import connection
from django_tasks_db.models import DBTaskResult

from conftest import database_url_for_subprocesses, process_stop, task_worker_process
from telemed.audit.tasks import audit_retention_purge_task

pytestmark = pytest.mark.django_db(transaction=True)


def _wait_done(task_id: str, seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while (status := DBTaskResult.objects.get(pk=task_id).status) != "SUCCESSFUL" and time.monotonic() < deadline:
        time.sleep(0.1)
    return status


def test_a_task_enqueued_while_the_worker_waits_starts_without_waiting_for_its_next_poll(tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no LISTEN/NOTIFY: its workers poll")
    env = {
        **os.environ, "DATABASE_URL": database_url_for_subprocesses(), "DATABASE_POOL": "false",
        "TELEMED_VAR_DIR": str(tmp_path),
    }  # fmt: skip
    worker = task_worker_process(env, interval=3600)  # it polls once an hour: only the enqueue can wake it in time
    try:
        first = audit_retention_purge_task.enqueue()
        assert _wait_done(first.id, 60) == "SUCCESSFUL"  # taken by the poll it makes as it starts, or woken
        time.sleep(1)  # it went back to waiting, for an hour
        second = audit_retention_purge_task.enqueue()
        assert _wait_done(second.id, 60) == "SUCCESSFUL"
    finally:
        process_stop(worker)
