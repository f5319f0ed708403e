"""Visit lengths follow the doctor's video tariffs, whatever the agenda's slot length."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from conftest import verified_client
from telemed.billing.tariffs import tariff_set
from telemed.visits import availability, services, slots
from telemed.visits.tests.conftest import rome

pytestmark = pytest.mark.django_db


def test_15_minute_slots_without_a_15_minute_tariff_still_book_every_priced_length(visit_doctor, visit_patient):
    tariff_set(
        actor=visit_doctor, doctor=visit_doctor.doctor_profile, kind="video", fee=Decimal("100.00"), duration_minutes=60
    )
    availability.agenda_update(
        actor=visit_doctor,
        slot_minutes=15,
        horizon_days=30,
        min_notice_hours=2,
        cancel_notice_hours=24,
        reschedule_notice_hours=24,
    )
    assert services.visit_lengths(visit_doctor) == [30, 60]
    assert services.visit_length(visit_doctor) == 30  # 15 is not priced: the shortest priced length
    with pytest.raises(ValidationError, match="30, 60 minutes"):
        services.visit_quote(doctor=visit_doctor, minutes=15)
    agenda = availability.agenda_of(visit_doctor)
    hour = [
        s for s in slots.free_slots(agenda, minutes=60) if s.start.astimezone(slots.ROME).date() == rome(3, 8).date()
    ]
    # Hour-long visits start every 15 minutes and end inside the 08:00-20:00 window.
    assert hour[0].start == rome(3, 8) and hour[1].start == rome(3, 8, 15) and hour[-1].end == rome(3, 20)
    total = services.visit_quote(doctor=visit_doctor, minutes=60).patient_total
    booking = services.booking_create(
        actor=visit_patient, doctor=visit_doctor, start=rome(3, 10), accepted_total=total, minutes=60
    )
    assert (booking.duration_minutes, booking.end) == (60, rome(3, 11))
    assert Decimal(booking.breakdown["patient_total"]) == total
    # The hour is taken for every length: a 30-minute visit at 10:30 overlaps it.
    short_total = services.visit_quote(doctor=visit_doctor, minutes=30).patient_total
    with pytest.raises(ValidationError, match="not free"):
        services.booking_create(
            actor=visit_patient, doctor=visit_doctor, start=rome(3, 10, 30), accepted_total=short_total, minutes=30
        )
    services.booking_create(
        actor=visit_patient, doctor=visit_doctor, start=rome(3, 11), accepted_total=short_total, minutes=30
    )


def test_the_agenda_warns_and_the_booking_page_offers_every_priced_length(visit_doctor, visit_patient):
    tariff_set(
        actor=visit_doctor, doctor=visit_doctor.doctor_profile, kind="video", fee=Decimal("100.00"), duration_minutes=60
    )
    availability.agenda_update(
        actor=visit_doctor,
        slot_minutes=15,
        horizon_days=30,
        min_notice_hours=2,
        cancel_notice_hours=24,
        reschedule_notice_hours=24,
    )
    page = verified_client(visit_doctor, language="en").get(reverse("visits:agenda")).content.decode()
    assert 'data-testid="length-warning"' in page and "You price no 15-minute video visit" in page
    assert "30 minutes, 60 minutes" in page
    client = verified_client(visit_patient, language="en")
    book = reverse("visits:book", args=[visit_doctor.doctor_profile.slug])
    page = client.get(book + "?minutes=60").content.decode()
    assert "Free slots for a 60-minute visit" in page and 'href="?minutes=30"' in page
    assert client.get(book + "?minutes=15").status_code == 200  # an unpriced length falls back, no error
    total = services.visit_quote(doctor=visit_doctor, minutes=60).patient_total
    start = rome(5, 9).astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%MZ")
    response = client.post(book, {"form": "book", "minutes": "60", "slot": start, "accepted_total": str(total)})
    assert response.status_code == 302
    assert visit_patient.visits_as_patient.get().duration_minutes == 60
