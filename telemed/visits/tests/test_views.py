"""The pages: agenda, booking from the doctor's profile, my visits; bad input gets a clear 400."""

import pytest

from conftest import log_in
from telemed.visits import slots
from telemed.visits.availability import agenda_of
from telemed.visits.models import Booking
from telemed.visits.tests.conftest import rome, total_for

pytestmark = pytest.mark.django_db


def test_patient_books_from_the_page_and_bad_slots_get_clear_errors(client, visit_doctor, visit_patient):
    client.force_login(visit_patient)
    url = f"/visits/book/{visit_doctor.doctor_profile.slug}/"
    page = client.get(url)
    assert page.status_code == 200 and b'name="slot"' in page.content and b"breakdown" in page.content
    total = str(total_for(visit_doctor))
    for slot in ["", "garbage", rome(-1, 10).strftime("%Y-%m-%dT%H:%MZ"), slots.Slot(rome(2, 22), rome(2, 22)).key]:
        response = client.post(url, {"form": "book", "slot": slot, "accepted_total": total})
        assert response.status_code == 400 and b"form-errors" in response.content
    assert not Booking.objects.exists()
    free = slots.free_slots(agenda_of(visit_doctor))[3]
    response = client.post(url, {"form": "book", "slot": free.key, "accepted_total": total})
    booking = Booking.objects.get()
    assert response.status_code == 302 and response.url == f"/visits/{booking.pk}/"
    assert client.get("/visits/").status_code == 200
    assert client.get(f"/visits/{booking.pk}/").status_code == 200
    # Someone else's visit does not exist for this patient.
    client.force_login(visit_doctor)  # without the second factor the doctor is sent to it
    assert client.get(f"/visits/{booking.pk}/").status_code == 302


def test_doctor_sets_agenda_and_overlaps_are_refused(client, visit_doctor, make_patient):
    client = log_in(client, visit_doctor)
    assert client.get("/visits/agenda/").status_code == 200
    response = client.post("/visits/agenda/", {"form": "rule", "weekday": "0", "start": "19:00", "end": "21:00"})
    assert response.status_code == 400 and b"overlaps" in response.content
    response = client.post("/visits/agenda/", {"form": "rule", "weekday": "9", "start": "x", "end": ""})
    assert response.status_code == 400
    response = client.post(
        "/visits/agenda/", {"form": "exception", "first_day": "2030-01-02", "last_day": "2030-01-01"}
    )
    assert response.status_code == 400
    response = client.post("/visits/agenda/", {"form": "remove_rule", "id": "nope"})
    assert response.status_code == 400
    assert agenda_of(visit_doctor).rules.count() == 7
    response = client.post(
        "/visits/agenda/",
        {
            "form": "settings",
            "slot_minutes": "30",
            "horizon_days": "10",
            "min_notice_hours": "1",
            "cancel_notice_hours": "2",
            "reschedule_notice_hours": "2",
        },
    )
    assert response.status_code == 302 and agenda_of(visit_doctor).horizon_days == 10
    # A patient's booking of another doctor is not found; the agenda page is for doctors only.
    other = make_patient()
    client.force_login(other)
    assert client.get("/visits/agenda/").status_code == 403


def test_profile_and_navigation_lead_to_video_visits(client, visit_doctor, visit_patient):
    from django.urls import reverse

    client.force_login(visit_patient)
    page = client.get(reverse("directory:profile", args=[visit_doctor.doctor_profile.slug]))
    assert f'href="/visits/book/{visit_doctor.doctor_profile.slug}/"'.encode() in page.content
    assert b'href="/visits/"' in page.content
