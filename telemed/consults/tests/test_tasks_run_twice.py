"""The consult's scheduled tasks, run twice, notify once."""

import pytest
from django_tasks_db.models import DBTaskResult

from telemed.consults.tests.test_services import ask
from telemed.notifications.models import Notification

pytestmark = pytest.mark.django_db


def test_the_deadline_reminder_is_sent_once(consult_doctor, make_patient, run_tasks_twice):
    doctor, patient = consult_doctor(), make_patient()
    ask(patient, doctor)
    # Due now, as if its time had come; the other scheduled tasks stay where they are.
    from django.utils import timezone

    DBTaskResult.objects.filter(task_path__endswith="remind_doctor").update(run_after=timezone.now())
    assert "remind_doctor" in run_tasks_twice()
    assert Notification.objects.filter(recipient=doctor, kind="consult_deadline").count() == 1
