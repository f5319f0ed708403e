import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from telemed.billing.tariffs import tariff_set
from telemed.visits import availability, services
from telemed.visits.slots import ROME


def doctor_with_agenda(make_doctor, *, email: str = "dottore@example.test"):
    """A doctor who offers 30-minute video visits every day from 08:00 to 20:00 (Rome), 60 EUR."""
    return offer_visits(make_doctor(email=email))


def offer_visits(doctor):
    """``doctor`` offers 30-minute video visits every day from 08:00 to 20:00 (Rome), 60 EUR."""
    tariff_set(actor=doctor, doctor=doctor.doctor_profile, kind="video", fee=Decimal("60.00"), duration_minutes=30)
    availability.agenda_update(
        actor=doctor,
        slot_minutes=30,
        horizon_days=30,
        min_notice_hours=2,
        cancel_notice_hours=24,
        reschedule_notice_hours=24,
    )
    for weekday in range(7):
        availability.availability_rule_add(actor=doctor, weekday=weekday, start=datetime.time(8), end=datetime.time(20))
    return doctor


@pytest.fixture
def visit_doctor(make_doctor):
    """`doctor_with_agenda`, working on national holidays too: the tests pick days relative to
    today, and any of them may be a holiday (test_holidays covers the default)."""
    from telemed.lib.italy import public_holidays

    doctor = doctor_with_agenda(make_doctor)
    today = timezone.now().astimezone(ROME).date()
    for day in sorted(public_holidays(today.year) | public_holidays(today.year + 1)):
        if today <= day <= today + datetime.timedelta(days=400):
            availability.agenda_holiday_open(actor=doctor, day=day)
    return doctor


@pytest.fixture
def holiday_doctor(make_doctor):
    """`doctor_with_agenda` with the default: no visits on national holidays."""
    return doctor_with_agenda(make_doctor, email="festivi@example.test")


@pytest.fixture
def visit_patient(make_patient):
    return make_patient(email="paziente@example.test")


def rome(days_ahead: int, hour: int, minute: int = 0) -> datetime.datetime:
    day = timezone.now().astimezone(ROME).date() + datetime.timedelta(days=days_ahead)
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=ROME)


def total_for(doctor) -> Decimal:
    return services.visit_quote(doctor=doctor).patient_total


@pytest.fixture(autouse=True)
def english_pages(english_client):
    """The page texts these tests read are the English msgids."""
