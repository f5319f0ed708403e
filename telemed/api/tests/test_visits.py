"""Video visits through the API: slots and cost as the booking page gives them, a booking at the
price seen, the negotiation of another date until it becomes a visit, and the room's join data
only while the room is open."""

import datetime

import pytest
from django.test import Client
from django.utils import timezone

from telemed.api.tests.conftest import bearer
from telemed.visits.models import Booking, BookingStatus, DateProposal
from telemed.visits.tests.conftest import visit_doctor  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db


def test_a_patient_books_a_free_slot_at_the_price_seen(visit_doctor, make_patient, token_for):  # noqa: F811
    patient = make_patient()
    app = Client(HTTP_ACCEPT_LANGUAGE="en")
    headers = bearer(token_for(patient))
    slug = visit_doctor.doctor_profile.slug
    listed = app.get(f"/api/v1/visit-slots?doctor={slug}", **headers)
    assert listed.status_code == 200, listed.content
    offer = listed.json()
    assert offer["minutes"] == 30 and offer["lengths"] == [
        {"minutes": 30, "patient_total": offer["cost"]["patient_total"]}
    ]
    assert offer["cost"]["lines"][0]["label"] == "Doctor's fee" and offer["cost"]["lines"][0]["amount"] == "60.00"
    slot = offer["slots"][0]
    assert slot["key"].endswith("Z") and slot["start"] < slot["end"]

    wrong = {"doctor": slug, "slot": slot["key"], "accepted_total": "1.00"}
    refused = app.post("/api/v1/visits", wrong, content_type="application/json", **headers)
    assert refused.status_code == 409 and refused.json()["detail"].startswith("The price changed to")
    body = {**wrong, "accepted_total": offer["cost"]["patient_total"]}
    booked = app.post("/api/v1/visits", body, content_type="application/json", **headers)
    assert booked.status_code == 201, booked.content
    visit = Booking.objects.get(pk=booked.json()["id"])
    assert (visit.patient, visit.doctor, visit.status) == (patient, visit_doctor, BookingStatus.BOOKED)
    taken = app.post("/api/v1/visits", body, content_type="application/json", **bearer(token_for(make_patient())))
    assert taken.status_code == 409
    assert taken.json()["detail"] == "This time is not free in the doctor's agenda. Please choose a free slot."
    not_a_slot = app.post("/api/v1/visits", {**body, "slot": "domani"}, content_type="application/json", **headers)
    assert not_a_slot.status_code == 400 and not_a_slot.json()["errors"][0]["field"] == "slot"

    upcoming = app.get("/api/v1/visits", **headers).json()["items"]
    assert [item["id"] for item in upcoming] == [visit.pk]
    assert app.get(f"/api/v1/visit-slots?doctor={slug}", **bearer(token_for(visit_doctor))).status_code == 403


def test_a_date_negotiated_becomes_a_visit(consult_world, token_for):
    doctor, patient, proposal = consult_world["doctor"], consult_world["patient"], consult_world["proposal"]
    app = Client(HTTP_ACCEPT_LANGUAGE="en")
    as_doctor, as_patient = bearer(token_for(doctor)), bearer(token_for(patient))
    url = f"/api/v1/visit-proposals/{proposal.pk}/reply"

    read = app.get(f"/api/v1/visit-proposals/{proposal.pk}", **as_doctor).json()
    assert read["my_turn"] is True and read["steps"][0]["message"] == "Posso il sabato?"
    not_yours = app.post(url, {"action": "accept"}, content_type="application/json", **as_patient)
    assert not_yours.status_code == 409 and not_yours.json()["detail"] == "It is the other side's turn to answer."
    missing = app.post(url, {"action": "propose"}, content_type="application/json", **as_doctor)
    assert missing.status_code == 400 and missing.json()["errors"][0]["field"] == "start"

    later = (proposal.start + datetime.timedelta(days=1)).isoformat()
    countered = app.post(
        url, {"action": "propose", "start": later, "message": "Domenica?"}, content_type="application/json", **as_doctor
    )
    assert countered.status_code == 200 and countered.json()["status"] == "waiting_patient"
    accepted = app.post(url, {"action": "accept"}, content_type="application/json", **as_patient)
    assert accepted.status_code == 200 and accepted.json()["status"] == "agreed"
    visit = Booking.objects.get(pk=accepted.json()["visit_id"])
    assert visit.start == proposal.start + datetime.timedelta(days=1) and visit.patient == patient
    assert app.get(f"/api/v1/visits/{visit.pk}", **as_doctor).json()["status"] == "booked"
    closed = app.post(url, {"action": "withdraw"}, content_type="application/json", **as_patient)
    assert closed.status_code == 409

    # The patient proposes through the API too.
    quote = app.get(f"/api/v1/visit-slots?doctor={doctor.doctor_profile.slug}", **as_patient).json()
    proposed = app.post(
        "/api/v1/visit-proposals",
        {
            "doctor": doctor.doctor_profile.slug, "start": (timezone.now() + datetime.timedelta(days=5)).isoformat(),
            "message": "Una sera?", "accepted_total": quote["cost"]["patient_total"],
        },
        content_type="application/json", **as_patient,
    )  # fmt: skip
    assert proposed.status_code == 201, proposed.content
    assert DateProposal.objects.get(pk=proposed.json()["id"]).status == "waiting_doctor"
    past = app.post(
        "/api/v1/visit-proposals",
        {"doctor": doctor.doctor_profile.slug, "start": "2020-01-01T10:00:00+01:00", "message": "Ieri?",
         "accepted_total": quote["cost"]["patient_total"]},
        content_type="application/json", **as_patient,
    )  # fmt: skip
    assert (
        past.status_code == 409 and past.json()["detail"] == "This time is in the past. Please propose a future date."
    )


def test_the_room_is_joined_only_while_open(consult_world, token_for):
    visit, patient = consult_world["visit"], consult_world["patient"]
    app = Client(HTTP_ACCEPT_LANGUAGE="en")
    joined = app.get(f"/api/v1/visits/{visit.pk}/room", **bearer(token_for(patient)))
    assert joined.status_code == 200, joined.content
    assert joined.json()["websocket_path"] == f"/ws/visits/{visit.pk}/" and joined.json()["is_doctor"] is False
    assert joined.json()["room_url"].endswith(f"/visits/{visit.pk}/room/")

    visit.start += datetime.timedelta(days=1)
    visit.end += datetime.timedelta(days=1)
    visit.save()
    early = app.get(f"/api/v1/visits/{visit.pk}/room", **bearer(token_for(patient)))
    assert early.status_code == 409 and early.json()["detail"].startswith("The room opens")
