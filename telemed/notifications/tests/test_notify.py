"""notify(): in-app, live over WebSocket, and by e-mail without clinical content."""

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import reverse

from telemed.notifications import kinds, presence, selectors, services
from telemed.notifications.models import Notification

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def a_kind():
    kinds.register("test_kind", "Test things")


def test_notify_records_and_emails_without_clinical_content(make_patient, run_tasks, smtp_settings):
    patient = make_patient(email="anna@example.test")
    run_tasks()  # the registration e-mail
    services.notify(recipient=patient, kind="test_kind", title="Referto: sospetta aritmia", url="/care/")
    assert selectors.unread_count(patient) == 1
    run_tasks()
    mail = smtp_settings.wait_for("anna@example.test", subject="Test things")
    body = mail.get_body(preferencelist=("plain",)).get_content()
    assert "aritmia" not in body and "aritmia" not in mail["Subject"]
    assert "/care/" in body
    assert Notification.objects.get(recipient=patient).emailed_at is not None


def test_preferences_and_presence_stop_emails(make_patient, run_tasks, smtp_settings):
    patient = make_patient()
    run_tasks()
    before = len(smtp_settings.messages)
    services.email_preferences_set(actor=patient, choices={"test_kind": False, "not-a-kind": True})
    services.notify(recipient=patient, kind="test_kind", title="x")
    presence.mark_online(patient.pk)
    services.email_preferences_set(actor=patient, choices={"test_kind": True})
    services.notify(recipient=patient, kind="test_kind", title="y")
    run_tasks()
    presence.mark_offline(patient.pk)
    assert len(smtp_settings.messages) == before  # muted, then online: no e-mail
    assert selectors.unread_count(patient) == 2


def test_notify_many_costs_the_same_queries_for_one_or_many_and_emails_whom_it_should(make_patient):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django_tasks_db.models import DBTaskResult

    patients = [make_patient() for _ in range(8)]
    for patient in patients:
        presence.mark_online(patient.pk)

    def queries_for(recipients) -> int:
        with CaptureQueriesContext(connection) as captured:
            services.notify_many([services.Tell(recipient=p, kind="test_kind", title="t") for p in recipients])
        return len(captured)

    assert queries_for(patients[:1]) == queries_for(patients) <= 4

    # Offline and wanting e-mails of the kind: one task each; muted or online: none.
    presence.mark_offline(patients[0].pk)
    presence.mark_offline(patients[1].pk)
    services.email_preferences_set(actor=patients[1], choices={"test_kind": False})
    emails = DBTaskResult.objects.filter(task_path__endswith="send_notification_emails")
    emails_before = set(emails.values_list("pk", flat=True))
    made = services.notify_many(
        [services.Tell(recipient=p, kind="test_kind", title="u", url="/x/") for p in patients[:3]]
    )
    assert [n.recipient_id for n in made] == [p.pk for p in patients[:3]] and all(n.pk for n in made)
    queued = [task.args_kwargs["kwargs"] for task in emails.exclude(pk__in=emails_before)]
    assert queued == [{"notification_ids": [made[0].pk]}]
    # patients[0] had one from each of the three calls, the others one from the last two.
    assert selectors.unread_counts([p.pk for p in patients[:3]]) == {
        patients[0].pk: 3,
        patients[1].pk: 2,
        patients[2].pk: 2,
    }
    for patient in patients:
        presence.mark_offline(patient.pk)


def test_notification_centre_pages(make_patient):
    patient, other = make_patient(), make_patient()
    mine = services.notify(recipient=patient, kind="test_kind", title="Hello", url="/care/")
    theirs = services.notify(recipient=other, kind="test_kind", title="Not yours", url="https://evil.example/")
    client = Client()
    client.force_login(patient)
    page = client.get(reverse("notifications:centre"))
    assert "Hello" in page.content.decode() and "Not yours" not in page.content.decode()
    assert client.get(reverse("notifications:open", args=[theirs.pk]))["Location"] == reverse("notifications:centre")
    assert client.get(reverse("notifications:open", args=[mine.pk]))["Location"] == "/care/"
    assert selectors.unread_count(patient) == 0 and selectors.unread_count(other) == 1
    client.force_login(other)
    assert client.get(reverse("notifications:open", args=[theirs.pk]))["Location"] == reverse("notifications:centre")


def test_live_push_over_websocket(make_patient):
    from telemed.asgi import application

    patient = make_patient()

    async def scenario():
        from channels.db import database_sync_to_async

        anonymous = WebsocketCommunicator(application, "/ws/notifications/", headers=[(b"origin", b"http://127.0.0.1")])
        connected, code = await anonymous.connect(timeout=10)
        assert not connected
        client = Client()
        await database_sync_to_async(client.force_login)(patient)
        cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
        socket = WebsocketCommunicator(
            application, "/ws/notifications/", headers=[(b"origin", b"http://127.0.0.1"), (b"cookie", cookie)]
        )
        connected, _ = await socket.connect(timeout=10)
        assert connected
        await socket.send_to(text_data="{not json")
        await socket.send_json_to({"type": "ping"})
        assert (await socket.receive_json_from(timeout=5))["type"] == "pong"
        await database_sync_to_async(services.notify)(recipient=patient, kind="test_kind", title="Live!", url="/x/")
        event = await socket.receive_json_from(timeout=5)
        assert event["type"] == "notification" and event["title"] == "Live!" and event["unread"] == 1
        await socket.disconnect()

    async_to_sync(scenario)()
