"""Tasks survive their worker: a task held by a dead worker runs again, a bounded number of
times, then it is failed, staff are told, and staff can run it again."""

import datetime
import os
import signal
import subprocess
import sys
import time

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from conftest import ROOT, database_url_for_subprocesses, process_stop, verified_client
from telemed.accounts.models import User
from telemed.audit.tasks import audit_retention_purge_task
from telemed.notifications.models import Notification
from telemed.workers import services
from telemed.workers.models import Heartbeat, Role


@pytest.fixture
def staff(db):
    return User.objects.create_superuser("ops@example.test", "x-Strong-pass-2026", first_name="Ops", last_name="Staff")


def _held_by(worker_id: str, *, attempts: int = 1) -> DBTaskResult:
    result = audit_retention_purge_task.enqueue()
    row = DBTaskResult.objects.get(pk=result.id)
    for n in range(attempts - 1):
        row.claim(f"{worker_id}-earlier-{n}")
    row.claim(worker_id)
    return row


def _beat(process_id: str, *, seconds_ago: float) -> None:
    at = timezone.now() - datetime.timedelta(seconds=seconds_ago)
    Heartbeat.objects.create(process_id=process_id, role=Role.TASK_WORKER, started_at=at, beat_at=at)


@pytest.mark.django_db
def test_a_task_of_a_dead_worker_runs_again_and_one_of_a_live_worker_is_left_alone(settings):
    settings.HEARTBEAT_STALE_AFTER = 30
    _beat("alive", seconds_ago=1)
    _beat("dead", seconds_ago=120)
    alive, dead, vanished = _held_by("alive"), _held_by("dead"), _held_by("never-beat")
    assert services.tasks_reap() == (2, 0)
    statuses = dict(DBTaskResult.objects.values_list("pk", "status"))
    assert statuses[alive.pk] == "RUNNING"
    assert statuses[dead.pk] == statuses[vanished.pk] == "READY"
    assert services.tasks_reap() == (0, 0)  # nothing twice


@pytest.mark.django_db
def test_after_max_attempts_the_task_fails_and_staff_are_told(settings, staff):
    settings.TASK_MAX_ATTEMPTS = 3
    row = _held_by("dead", attempts=3)
    assert services.tasks_reap() == (0, 1)
    row.refresh_from_db()
    assert row.status == "FAILED" and row.exception_class_path == services.LOST_EXCEPTION
    assert Notification.objects.filter(recipient=staff, kind=services.NOTIFICATION_KIND).count() == 1
    services.tasks_reap()
    assert Notification.objects.filter(recipient=staff, kind=services.NOTIFICATION_KIND).count() == 1


@pytest.mark.django_db
def test_staff_see_failed_tasks_and_run_them_again(settings, staff, make_patient):
    settings.TASK_MAX_ATTEMPTS = 1
    row = _held_by("dead")
    services.tasks_reap()
    client = verified_client(staff)
    page = client.get("/workers/tasks/")
    assert page.status_code == 200 and "audit_retention_purge_task" in page.content.decode()
    response = client.post(f"/workers/tasks/{row.pk}/run-again/")
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.status == "READY" and row.worker_ids == []
    # Twice, or a task that is not failed: a clear refusal, nothing changes.
    again = client.post(f"/workers/tasks/{row.pk}/run-again/", follow=True)
    assert again.status_code == 200 and "niente da rieseguire" in again.content.decode()
    assert client.post("/workers/tasks/not-a-uuid/run-again/").status_code == 302
    # Not staff: no page, no action.
    patient = verified_client(make_patient())
    assert patient.get("/workers/tasks/").status_code == 403
    assert patient.post(f"/workers/tasks/{row.pk}/run-again/").status_code == 403


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_task_has_its_task_run_again_by_another(tmp_path, settings):
    """Real processes: a worker killed with SIGKILL while it holds a task; a new worker reaps it."""
    result = audit_retention_purge_task.enqueue()
    row = DBTaskResult.objects.get(pk=result.id)
    row.claim("killed-worker")  # as if that worker had taken it and died
    env = {
        **os.environ, "DATABASE_URL": database_url_for_subprocesses(), "DATABASE_POOL": "false",
        "TELEMED_VAR_DIR": str(tmp_path), "TELEMED_HEARTBEAT_INTERVAL": "0.3", "TELEMED_HEARTBEAT_STALE_AFTER": "2",
    }  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "task_worker", "--interval", "0.2", "--no-startup-delay", "--no-reload"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 40
        while DBTaskResult.objects.get(pk=row.pk).status != "SUCCESSFUL":
            assert time.monotonic() < deadline, DBTaskResult.objects.get(pk=row.pk).status
            time.sleep(0.2)
        row.refresh_from_db()
        assert row.worker_ids[0] == "killed-worker" and len(row.worker_ids) == 2
        assert Heartbeat.objects.filter(role=Role.TASK_WORKER).count() == 1
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=20) == 0
        assert not Heartbeat.objects.filter(role=Role.TASK_WORKER).exists()  # a clean stop is not a death
    finally:
        process_stop(worker)
