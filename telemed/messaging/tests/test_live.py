"""The WebSocket consumer: frames go through the same rules as the pages."""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from conftest import session_cookie
from telemed.asgi import application
from telemed.messaging import services
from telemed.messaging.models import Message

pytestmark = pytest.mark.django_db(transaction=True)


async def socket_for(user, conversation_id):
    cookie = await database_sync_to_async(session_cookie)(user)
    headers = [(b"origin", b"http://127.0.0.1"), (b"cookie", cookie.encode())]
    return WebsocketCommunicator(application, f"/ws/conversations/{conversation_id}/", headers=headers)


def test_live_delivery_receipts_and_refused_frames(linked, make_doctor):
    doctor, patient = linked
    conversation = services.conversation_start_with_patient(actor=doctor, patient=patient, text="Ciao")
    outsider = make_doctor()

    async def scenario():
        intruder = await socket_for(outsider, conversation.pk)
        connected, code = await intruder.connect(timeout=10)
        assert not connected and code == 4403

        doctor_socket = await socket_for(doctor, conversation.pk)
        patient_socket = await socket_for(patient, conversation.pk)
        assert (await doctor_socket.connect(timeout=10))[0] and (await patient_socket.connect(timeout=10))[0]

        await doctor_socket.send_json_to({"type": "send", "text": "Come sta?"})
        for socket in (doctor_socket, patient_socket):
            event = await socket.receive_json_from(timeout=5)
            assert event["type"] == "message" and event["text"] == "Come sta?"

        await patient_socket.send_json_to({"type": "read", "up_to": event["id"]})
        receipt = await doctor_socket.receive_json_from(timeout=5)
        assert receipt == {"type": "read", "user": patient.pk, "up_to": event["id"]}
        await patient_socket.receive_json_from(timeout=5)  # their own receipt echo

        # The patient may not reply (replies are off): a clear error, the socket stays open.
        await patient_socket.send_json_to({"type": "send", "text": "Bene"})
        assert (await patient_socket.receive_json_from(timeout=5))["type"] == "error"
        for frame in [
            "{oops",
            "[1,2]",
            '{"type": "nonsense"}',
            '{"type": "send", "text": 42}',
            '{"type": "read", "up_to": "x"}',
        ]:
            await doctor_socket.send_to(text_data=frame)
            assert (await doctor_socket.receive_json_from(timeout=5))["type"] == "error"
        await doctor_socket.send_to(text_data='{"type": "send", "text": "' + "x" * 20_001 + '"}')
        assert (await doctor_socket.receive_json_from(timeout=5))["type"] == "error"
        await doctor_socket.send_json_to({"type": "send", "text": "Ancora qui"})
        assert (await doctor_socket.receive_json_from(timeout=5))["text"] == "Ancora qui"
        await doctor_socket.disconnect()
        await patient_socket.disconnect()

    async_to_sync(scenario)()
    assert list(Message.objects.values_list("text", flat=True)) == ["Ciao", "Come sta?", "Ancora qui"]


def test_a_page_that_connects_late_gets_what_it_missed(linked):
    doctor, patient = linked
    conversation = services.conversation_start_with_patient(actor=doctor, patient=patient, text="Ciao")
    drawn_up_to = conversation.messages.get().pk  # the doctor's page is drawn now, its socket not yet open
    second = services.message_send(actor=doctor, conversation=conversation, text="Risultati pronti")
    services.conversation_mark_read(actor=patient, conversation=conversation)

    async def scenario():
        doctor_socket = await socket_for(doctor, conversation.pk)
        assert (await doctor_socket.connect(timeout=10))[0]
        await doctor_socket.send_json_to({"type": "sync", "after": drawn_up_to})
        missed = await doctor_socket.receive_json_from(timeout=5)
        assert missed["type"] == "message" and missed["id"] == second.pk and missed["text"] == "Risultati pronti"
        assert await doctor_socket.receive_json_from(timeout=5) == {
            "type": "read",
            "user": patient.pk,
            "up_to": second.pk,
        }
        assert await doctor_socket.receive_nothing(timeout=0.2)
        for bad in ["x", None, True]:
            await doctor_socket.send_json_to({"type": "sync", "after": bad})
            assert (await doctor_socket.receive_json_from(timeout=5))["type"] == "error"
        await doctor_socket.disconnect()

    async_to_sync(scenario)()


def test_a_page_that_missed_more_than_a_page_of_messages_gets_them_all_or_is_told_to_reload(linked, monkeypatch):
    """A page whose socket dropped during a long exchange: everything it missed comes back on the
    reconnection (not only the first page of history), and past SYNC_LIMIT it is told to reload."""
    from telemed.messaging import consumers, selectors

    doctor, patient = linked
    conversation = services.conversation_start_with_patient(actor=doctor, patient=patient, text="Ciao")
    drawn_up_to = conversation.messages.get().pk
    sent = [
        services.message_send(actor=doctor, conversation=conversation, text=f"Messaggio {n}").pk
        for n in range(selectors.PAGE_SIZE + 5)
    ]

    async def missed_after(after: int) -> tuple[list[int], list[str]]:
        socket = await socket_for(doctor, conversation.pk)
        assert (await socket.connect(timeout=10))[0]
        await socket.send_json_to({"type": "sync", "after": after})
        ids, others = [], []
        while not await socket.receive_nothing(timeout=0.5):
            frame = await socket.receive_json_from(timeout=5)
            if frame["type"] == "message":
                ids.append(frame["id"])
            else:
                others.append(frame["type"])
        await socket.disconnect()
        return ids, others

    ids, others = async_to_sync(missed_after)(drawn_up_to)
    assert ids == sent and "stale" not in others
    monkeypatch.setattr(consumers, "SYNC_LIMIT", 10)
    ids, others = async_to_sync(missed_after)(drawn_up_to)
    assert ids == sent[:10] and "stale" in others


def test_a_doctor_past_the_password_only_cannot_open_a_socket(linked):
    from django.test import Client

    doctor, patient = linked
    conversation = services.conversation_start_with_patient(actor=doctor, patient=patient, text="Riservato")
    password_only = Client()
    password_only.force_login(doctor)  # no second factor in this session

    async def scenario():
        headers = [
            (b"origin", b"http://127.0.0.1"),
            (b"cookie", f"sessionid={password_only.cookies['sessionid'].value}".encode()),
        ]
        socket = WebsocketCommunicator(application, f"/ws/conversations/{conversation.pk}/", headers=headers)
        connected, code = await socket.connect(timeout=10)
        assert not connected and code == 4401
        # The same doctor past the second factor gets in.
        verified = await socket_for(doctor, conversation.pk)
        assert (await verified.connect(timeout=10))[0]
        await verified.disconnect()

    async_to_sync(scenario)()


def test_whoever_has_the_conversation_open_gets_no_notification_of_what_arrives_there(linked):
    """A person reading a conversation sees its messages arrive: a notification (and its badge)
    would only repeat them. Once the page is closed, messages are notified again."""
    from telemed.notifications.models import Notification

    doctor, patient = linked
    conversation = services.conversation_start_with_patient(actor=doctor, patient=patient, text="Ciao")
    Notification.objects.all().delete()

    async def scenario():
        patient_socket = await socket_for(patient, conversation.pk)
        assert (await patient_socket.connect(timeout=10))[0]
        await database_sync_to_async(services.message_send)(actor=doctor, conversation=conversation, text="Aperta")
        assert (await patient_socket.receive_json_from(timeout=5))["text"] == "Aperta"
        await patient_socket.disconnect()
        await database_sync_to_async(services.message_send)(actor=doctor, conversation=conversation, text="Chiusa")

    async_to_sync(scenario)()
    assert list(Notification.objects.filter(recipient=patient).values_list("kind", flat=True)) == ["message"]
    assert not Notification.objects.filter(recipient=doctor).exists()
