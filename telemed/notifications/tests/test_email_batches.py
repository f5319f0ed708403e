"""A burst of notifications is e-mailed in batches, each over one SMTP connection, and one
e-mail that fails does not stop the others of its batch."""

import pytest
from django_tasks.base import TaskResultStatus
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from telemed.accounts.models import User
from telemed.notifications import kinds, services, tasks
from telemed.notifications.models import Notification
from telemed.workers.services import task_run_again

pytestmark = pytest.mark.django_db(transaction=True)

EMAIL_TASK = "telemed.notifications.tasks.send_notification_emails"


@pytest.fixture(autouse=True)
def a_kind():
    kinds.register("test_kind", "Test things")


def run_email_tasks() -> list[DBTaskResult]:
    """Run the ready e-mail tasks with the database worker's runner; their rows, as they ended."""
    worker = Worker(
        queue_names=["*"], interval=0, batch=True, backend_name="default", startup_delay=False,
        max_tasks=None, worker_id="pytest", excluded_queue_names=[],
    )  # fmt: skip
    ran = []
    for result in DBTaskResult.objects.ready().filter(task_path=EMAIL_TASK).order_by("enqueued_at"):
        result.claim(worker.worker_id)
        worker.run_task(result)
        result.refresh_from_db()
        ran.append(result)
    return ran


def burst(patients) -> list[Notification]:
    return services.notify_many(
        [services.Tell(recipient=p, kind="test_kind", title="Promemoria", url="/agenda/") for p in patients]
    )


def test_a_burst_is_emailed_in_batches_each_over_one_connection(make_patient, run_tasks, smtp_settings, monkeypatch):
    patients = [make_patient(email=f"paziente{i}@example.test") for i in range(7)]
    run_tasks()  # the registration e-mails
    smtp_settings.messages.clear()
    smtp_settings.connections.clear()
    monkeypatch.setattr(tasks, "EMAILS_PER_TASK", 3)
    made = burst(patients)

    queued = DBTaskResult.objects.filter(task_path=EMAIL_TASK).order_by("args_kwargs")
    assert sorted(len(t.args_kwargs["kwargs"]["notification_ids"]) for t in queued) == [1, 3, 3]
    ran = run_email_tasks()
    assert [r.status for r in ran] == [TaskResultStatus.SUCCESSFUL] * 3
    assert sorted(m["To"] for m in smtp_settings.messages) == sorted(p.email for p in patients)
    assert len(smtp_settings.connections) == 3  # one SMTP conversation per batch, not per e-mail
    assert Notification.objects.filter(pk__in=[n.pk for n in made], emailed_at=None).count() == 0


def test_a_refused_email_fails_its_batch_without_stopping_the_others_and_only_it_goes_again(
    make_patient, run_tasks, smtp_settings
):
    patients = [make_patient(email=f"paziente{i}@example.test") for i in range(3)]
    run_tasks()
    smtp_settings.messages.clear()
    smtp_settings.refused_recipients = {"paziente1@example.test"}
    made = burst(patients)

    (ran,) = run_email_tasks()
    assert ran.status == TaskResultStatus.FAILED and f"{made[1].pk}: " in ran.traceback
    assert sorted(m["To"] for m in smtp_settings.messages) == ["paziente0@example.test", "paziente2@example.test"]
    assert Notification.objects.get(pk=made[1].pk).emailed_at is None

    # The mailbox works again; staff run the task again: only the refused e-mail is sent.
    smtp_settings.refused_recipients = set()
    staff = User.objects.create_superuser("ops@example.test", "x-Strong-pass-2026", first_name="O", last_name="S")
    task_run_again(actor=staff, task_id=ran.pk)
    (again,) = run_email_tasks()
    assert again.status == TaskResultStatus.SUCCESSFUL
    assert sorted(m["To"] for m in smtp_settings.messages) == [f"paziente{i}@example.test" for i in range(3)]
    assert Notification.objects.filter(pk__in=[n.pk for n in made], emailed_at=None).count() == 0
