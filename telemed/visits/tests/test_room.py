"""The room: only the two participants, only in its window; forged frames refused without
disturbing the pair; chat, notes and quality samples stored; the report signed, delivered, billable."""

import datetime

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.exceptions import ValidationError
from django.utils import timezone

from conftest import session_cookie
from telemed.asgi import application
from telemed.billing.models import BillableService
from telemed.boxes.models import Document
from telemed.signatures.tests.conftest import clock, code_for, next_code, signing_ca, signing_doctor  # noqa: F401
from telemed.visits import ice, reporting, rooms, services
from telemed.visits.models import Booking, BookingStatus, RoomMessage
from telemed.visits.selectors import RoomClosed, room_get_for_user


def book_now(doctor, patient, *, minutes_from_now: int = 5) -> Booking:
    """A visit starting in a few minutes: created directly, as the agenda's notice would refuse it."""
    start = timezone.now() + datetime.timedelta(minutes=minutes_from_now)
    breakdown = services.visit_quote(doctor=doctor)
    return Booking.objects.create(
        doctor=doctor, patient=patient, start=start, end=start + datetime.timedelta(minutes=30), duration_minutes=30,
        breakdown=breakdown.to_dict(), accepted_at=timezone.now(),
    )  # fmt: skip


async def socket_for(user, booking_id):
    cookie = await database_sync_to_async(session_cookie)(user)
    headers = [(b"origin", b"http://127.0.0.1"), (b"cookie", cookie.encode())]
    return WebsocketCommunicator(application, f"/ws/visits/{booking_id}/", headers=headers)


async def next_of(socket, kind):
    while True:
        frame = await socket.receive_json_from(timeout=5)
        if frame["type"] == kind:
            return frame


@pytest.mark.django_db(transaction=True)
def test_signaling_only_for_the_pair_forged_frames_refused(visit_doctor, visit_patient, make_patient):
    booking = book_now(visit_doctor, visit_patient)
    early = book_now(visit_doctor, visit_patient, minutes_from_now=24 * 60)
    outsider = make_patient()

    async def scenario():
        intruder = await socket_for(outsider, booking.pk)
        assert await intruder.connect(timeout=10) == (False, 4403)
        too_early = await socket_for(visit_patient, early.pk)
        assert await too_early.connect(timeout=10) == (False, 4410)

        doctor = await socket_for(visit_doctor, booking.pk)
        patient = await socket_for(visit_patient, booking.pk)
        assert (await doctor.connect(timeout=10))[0]
        assert (await doctor.receive_json_from(timeout=5))["type"] == "hello"
        assert (await patient.connect(timeout=10))[0]
        assert (await patient.receive_json_from(timeout=5)) == {
            "type": "hello",
            "role": "patient",
            "visit": booking.pk,
            "admitted": False,
        }
        assert (await doctor.receive_json_from(timeout=5)) == {"type": "presence", "role": "patient", "reply": False}

        # Before admission no signal passes; the patient cannot admit themself. (With Redis, the
        # doctor's presence, published just before the patient joined, may still reach the
        # patient: a harmless extra frame that the room's page answers, skipped here.)
        await patient.send_json_to({"type": "signal", "description": {"type": "offer", "sdp": "v=0"}})
        assert await next_of(patient, "error")
        await patient.send_json_to({"type": "admit"})
        assert (await patient.receive_json_from(timeout=5))["type"] == "error"
        await patient.send_json_to({"type": "waiting"})
        assert (await doctor.receive_json_from(timeout=5)) == {"type": "waiting"}
        await doctor.send_json_to({"type": "admit"})
        assert (await next_of(patient, "admitted")) and (await next_of(doctor, "admitted"))

        # Forged frames: errors to the sender only; nothing relayed.
        for frame in [
            {"type": "signal", "description": {"type": "offer", "sdp": "x" * 40_000}},
            {"type": "signal", "description": {"type": "pranswer-evil", "sdp": ""}},
            {"type": "signal", "visit": booking.pk + 1000, "description": {"type": "offer", "sdp": "v=0"}},
            {"type": "signal", "candidate": {"candidate": 42}},
            {"type": "nonsense"},
            {"type": "stats", "rtt_ms": "fast", "packet_loss": 0, "width": 1, "height": 1},
            {"type": "notes", "notes": "private"},  # the patient has no notes
        ]:
            await patient.send_json_to(frame)
            assert (await patient.receive_json_from(timeout=5))["type"] == "error", frame
        for raw in ["{oops", "[1]", "x" * 70_000]:
            await patient.send_to(text_data=raw)
            assert (await patient.receive_json_from(timeout=5))["type"] == "error"
        assert await doctor.receive_nothing(timeout=0.3)

        # The legitimate exchange still flows both ways, rebuilt from checked fields only.
        await patient.send_json_to(
            {"type": "signal", "visit": booking.pk, "description": {"type": "offer", "sdp": "v=0", "evil": 1}}
        )
        assert (await doctor.receive_json_from(timeout=5)) == {
            "type": "signal",
            "description": {"type": "offer", "sdp": "v=0"},
        }
        await doctor.send_json_to(
            {
                "type": "signal",
                "candidate": {
                    "candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host",
                    "sdpMid": "0",
                    "sdpMLineIndex": 0,
                },
            }
        )
        assert (await patient.receive_json_from(timeout=5))["candidate"]["sdpMid"] == "0"

        await patient.send_json_to({"type": "chat", "text": "Ecco la foto"})
        for socket in (doctor, patient):
            assert (await next_of(socket, "chat"))["text"] == "Ecco la foto"
        await doctor.send_json_to({"type": "notes", "notes": "Sospetta dermatite"})
        assert await next_of(doctor, "notes.saved")
        await patient.send_json_to({"type": "stats", "rtt_ms": 12.5, "packet_loss": 0.01, "width": 640, "height": 480})
        await doctor.send_json_to({"type": "stats", "rtt_ms": 20, "packet_loss": 0, "width": 640, "height": 480})
        await patient.disconnect()
        assert (await next_of(doctor, "left")) == {"type": "left", "role": "patient"}
        await doctor.disconnect()

    async_to_sync(scenario)()
    booking.refresh_from_db()
    assert booking.status == BookingStatus.IN_PROGRESS and booking.admitted_at
    assert booking.doctor_notes == "Sospetta dermatite"
    assert booking.quality["patient"]["samples"] == 1 and booking.quality["doctor"]["rtt_max"] == 20
    assert list(RoomMessage.objects.values_list("text", flat=True)) == ["Ecco la foto"]


@pytest.mark.django_db
def test_room_window(visit_doctor, visit_patient, make_patient):
    booking = book_now(visit_doctor, visit_patient)
    assert room_get_for_user(visit_patient, booking.pk) == booking
    with pytest.raises(RoomClosed, match="opens"):
        room_get_for_user(visit_patient, booking.pk, now=booking.start - datetime.timedelta(minutes=30))
    with pytest.raises(RoomClosed, match="ended"):
        room_get_for_user(visit_patient, booking.pk, now=booking.end + datetime.timedelta(hours=2))
    from django.http import Http404

    with pytest.raises(Http404):
        room_get_for_user(make_patient(), booking.pk)


def test_turn_credentials_in_the_coturn_rest_style():
    username, credential = ice.turn_credential(user_id=7, secret="s3cret", ttl_seconds=600, now=1_000_000)
    assert username == "1000600:7"
    import base64
    import hashlib
    import hmac

    assert credential == base64.b64encode(hmac.new(b"s3cret", b"1000600:7", hashlib.sha1).digest()).decode()


@pytest.mark.django_db
def test_report_signed_delivered_and_billable(
    make_patient,
    signing_doctor,  # noqa: F811 - the fixture imported above
    next_code,  # noqa: F811 - the fixture imported above
    run_tasks,
    settings,
):
    from decimal import Decimal

    from telemed.billing.tariffs import tariff_set

    doctor = signing_doctor(email="firma@example.test")
    tariff_set(actor=doctor, doctor=doctor.doctor_profile, kind="video", fee=Decimal("50.00"), duration_minutes=30)
    patient = make_patient()
    booking = book_now(doctor, patient)
    with pytest.raises(ValidationError):
        reporting.visit_report_save(actor=doctor, booking=booking, diagnosis="x", findings="", statement="adequate")
    rooms.visit_admit(actor=doctor, booking=booking)
    rooms.visit_stats_record(actor=patient, booking=booking, rtt_ms=30, packet_loss=0.02, width=1280, height=720)
    with pytest.raises(ValidationError):
        reporting.visit_report_save(actor=doctor, booking=booking, diagnosis="x", findings="", statement="maybe")
    reporting.visit_report_save(actor=doctor, booking=booking, diagnosis="Dermatite", findings="Eritema", statement="")
    booking.refresh_from_db()
    with pytest.raises(ValidationError, match="adequate"):
        reporting.visit_report_sign(actor=doctor, booking=booking, code=next_code(doctor))
    reporting.visit_report_save(
        actor=doctor, booking=booking, diagnosis="Dermatite", findings="Eritema", statement="in_person"
    )
    booking.refresh_from_db()
    with pytest.raises(ValidationError):
        reporting.visit_report_sign(actor=doctor, booking=booking, code="000000")
    assert not BillableService.objects.exists()
    reporting.visit_report_sign(actor=doctor, booking=booking, code=next_code(doctor))
    booking.refresh_from_db()
    assert booking.status == BookingStatus.DELIVERED and booking.report.is_signed
    notes = booking.report.notes
    assert patient.get_full_name() in notes and "1280" in notes and "30 ms" in notes
    service = BillableService.objects.get()
    assert service.source_key == f"visit:{booking.pk}" and service.duration_minutes == 30
    run_tasks()
    assert Document.objects.filter(box__owner=patient, category="report").exists()


@pytest.mark.django_db
def test_a_file_sent_in_the_room_lands_in_the_welbox_shared_with_the_doctor(
    client, visit_doctor, visit_patient, make_patient
):
    import io

    from conftest import image_bytes
    from telemed.boxes.models import Box, Share

    booking = book_now(visit_doctor, visit_patient)
    url = f"/visits/{booking.pk}/room/file/"
    client.force_login(make_patient())
    assert client.post(url, {"file": image_bytes()}).status_code == 404  # not their visit
    client.force_login(visit_patient)
    assert client.post(url, {}).status_code == 400
    fake = io.BytesIO(b"MZ\x90\x00 not a picture at all")
    fake.name = "foto.png"
    response = client.post(url, {"file": fake})
    assert response.status_code == 400 and response.json()["error"]
    box = Box.objects.get(owner=visit_patient)
    assert box.reserved_bytes == 0 and not box.documents.exists()
    photo = image_bytes()
    photo.name = "braccio.png"
    assert client.post(url, {"file": photo}).json() == {"ok": True}
    document = box.documents.get()
    assert document.name == "braccio.png" and document.counts_against_quota
    assert Share.objects.filter(document=document, doctor=visit_doctor).exists()
    assert RoomMessage.objects.get().document_name == "braccio.png"
