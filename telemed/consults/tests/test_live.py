"""A consult's page, live: the other party's messages and changes of state arrive on the open
socket; only the consult's two parties may listen; a page that was away catches up."""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from conftest import session_cookie
from telemed.asgi import application
from telemed.consults import services
from telemed.consults.tests.test_services import ask

pytestmark = pytest.mark.django_db(transaction=True)


async def socket_for(user, consult_id):
    headers = [(b"origin", b"http://127.0.0.1")]
    if user is not None:
        headers.append((b"cookie", (await database_sync_to_async(session_cookie)(user)).encode()))
    return WebsocketCommunicator(application, f"/ws/consults/{consult_id}/", headers=headers)


def test_messages_and_changes_reach_the_open_pages_of_both_parties(consult_doctor, make_patient, make_doctor):
    doctor, patient, stranger = consult_doctor(), make_patient(), make_doctor()
    consult = ask(patient, doctor)
    services.consult_message_send(actor=patient, consult=consult, text="Prima domanda")
    send = database_sync_to_async(services.consult_message_send, thread_sensitive=False)

    async def scenario():
        for outsider, code in ((None, 4401), (stranger, 4403)):
            socket = await socket_for(outsider, consult.pk)
            assert await socket.connect(timeout=10) == (False, code)

        doctor_page, patient_page = await socket_for(doctor, consult.pk), await socket_for(patient, consult.pk)
        assert (await doctor_page.connect(timeout=10))[0] and (await patient_page.connect(timeout=10))[0]

        # A page drawn before the first message catches up when it connects.
        await doctor_page.send_json_to({"type": "sync", "after": 0})
        caught_up = await doctor_page.receive_json_from(timeout=5)
        assert caught_up["type"] == "message" and "Prima domanda" in caught_up["html"]

        reply = await send(actor=doctor, consult=consult, text="Da quando? <script>alert(1)</script>")
        # Each page gets the message drawn for its reader: the doctor's own is marked as theirs.
        for page, own in ((doctor_page, True), (patient_page, False)):
            event = await page.receive_json_from(timeout=5)
            assert event["type"] == "message" and event["id"] == reply.pk
            assert (
                "Da quando?" in event["html"] and "<script>" not in event["html"] and "&lt;script&gt;" in event["html"]
            )
            assert ('class="mine"' in event["html"]) is own

        await database_sync_to_async(services.consult_start, thread_sensitive=False)(actor=doctor, consult=consult)
        for page in (doctor_page, patient_page):
            assert await page.receive_json_from(timeout=5) == {"type": "changed", "status": "in_progress"}

        # Anything but a well-formed sync is refused with a message; the socket stays open.
        for frame in ["{oops", "[1]", '{"type": "send", "text": "x"}', '{"type": "sync", "after": "1"}', "x" * 1000]:
            await patient_page.send_to(text_data=frame)
            assert (await patient_page.receive_json_from(timeout=5))["type"] == "error"
        await patient_page.send_json_to({"type": "sync", "after": reply.pk})
        assert await patient_page.receive_nothing(timeout=0.3)
        await doctor_page.disconnect()
        await patient_page.disconnect()

    async_to_sync(scenario)()
