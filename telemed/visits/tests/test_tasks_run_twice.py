"""The visit's tasks, run twice: one confirmation e-mail and one reminder notification each."""

import pytest
from django.core import mail
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from telemed.notifications.models import Notification
from telemed.visits import services
from telemed.visits.tests.conftest import rome, total_for

pytestmark = pytest.mark.django_db


def test_the_confirmation_and_the_reminder_reach_each_person_once(visit_doctor, visit_patient, run_tasks_twice):
    run_tasks_twice()
    mail.outbox.clear()
    services.booking_create(
        actor=visit_patient, doctor=visit_doctor, start=rome(3, 11), accepted_total=total_for(visit_doctor)
    )
    assert "send_booking_confirmation" in run_tasks_twice()
    assert sorted(m.to[0] for m in mail.outbox if m.attachments) == sorted([visit_patient.email, visit_doctor.email])
    # The hour-before reminder falls due (the day-before one is left for later).
    last = DBTaskResult.objects.filter(task_path__endswith="send_visit_reminder").order_by("run_after").last()
    DBTaskResult.objects.filter(pk=last.pk).update(run_after=timezone.now())
    assert "send_visit_reminder" in run_tasks_twice()
    for person in (visit_patient, visit_doctor):
        assert Notification.objects.filter(recipient=person, kind="visit_reminder").count() == 1
