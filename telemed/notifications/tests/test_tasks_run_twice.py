"""The notification e-mail and push, run twice (or enqueued twice), are sent once."""

import pytest
from django.core import mail

from telemed.notifications import tasks
from telemed.notifications.models import Notification
from telemed.notifications.services import notify
from telemed.notifications.tests.test_webpush import Browser, FakePushService, subscribe

pytestmark = pytest.mark.django_db


def test_a_notification_is_emailed_once(make_patient, run_tasks_twice):
    patient = make_patient()
    run_tasks_twice()
    mail.outbox.clear()
    notification = notify(recipient=patient, kind="message", title="Hai un nuovo messaggio", url="/messages/")
    tasks.send_notification_emails.enqueue(notification_ids=[notification.pk])  # a copy of it, too
    assert run_tasks_twice().count("send_notification_emails") == 2
    assert [m.to for m in mail.outbox] == [[patient.email]]
    assert Notification.objects.get(pk=notification.pk).emailed_at is not None


def test_a_notification_is_pushed_once(make_patient, run_tasks_twice):
    """The push task, run twice (or enqueued twice), pushes once to each device."""
    patient = make_patient()
    run_tasks_twice()
    with FakePushService() as push_service:
        subscribe(patient, f"{push_service.url}/phone", Browser())
        subscribe(patient, f"{push_service.url}/laptop", Browser())
        notification = notify(recipient=patient, kind="message", title="t", url="/x/")
        tasks.send_notification_push.enqueue(notification_id=notification.pk)  # a copy of it, too
        assert run_tasks_twice().count("send_notification_push") == 2
    assert sorted(r["path"] for r in push_service.received) == ["/laptop", "/phone"]
