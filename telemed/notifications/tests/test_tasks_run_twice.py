"""The notification e-mail, run twice (or enqueued twice), is sent once."""

import pytest
from django.core import mail

from telemed.notifications import tasks
from telemed.notifications.models import Notification
from telemed.notifications.services import notify

pytestmark = pytest.mark.django_db


def test_a_notification_is_emailed_once(make_patient, run_tasks_twice):
    patient = make_patient()
    run_tasks_twice()
    mail.outbox.clear()
    notification = notify(recipient=patient, kind="message", title="Hai un nuovo messaggio", url="/messages/")
    tasks.send_notification_email.enqueue(notification_id=notification.pk)  # a copy of it, too
    assert run_tasks_twice().count("send_notification_email") == 2
    assert [m.to for m in mail.outbox] == [[patient.email]]
    assert Notification.objects.get(pk=notification.pk).emailed_at is not None
