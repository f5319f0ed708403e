"""National public holidays give no slots unless the doctor opens them."""

import datetime

import pytest
from django.core.exceptions import ValidationError

from telemed.billing.deadlines import is_working_day
from telemed.visits import availability, selectors, slots
from telemed.visits.slots import ROME

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 12, 5, 10, 0, tzinfo=ROME)


def days_with_slots(agenda) -> set[datetime.date]:
    return {slot.start.astimezone(ROME).date() for slot in slots.free_slots(agenda, now=NOW)}


def test_default_availability_skips_italian_public_holidays(holiday_doctor):
    agenda = availability.agenda_of(holiday_doctor)
    offered = days_with_slots(agenda)
    for holiday in (
        datetime.date(2026, 12, 8),
        datetime.date(2026, 12, 25),
        datetime.date(2026, 12, 26),
        datetime.date(2027, 1, 1),
    ):
        assert holiday not in offered
    assert {datetime.date(2026, 12, 7), datetime.date(2026, 12, 9), datetime.date(2026, 12, 24)} <= offered
    on_the_8th = datetime.datetime(2026, 12, 8, 9, 0, tzinfo=ROME)
    assert not slots.is_free_slot(agenda, on_the_8th, now=NOW)
    # The same calendar stops response deadlines.
    assert not is_working_day(datetime.date(2026, 12, 8))


def test_a_doctor_opens_a_holiday_explicitly_and_can_close_it_again(holiday_doctor, make_doctor):
    agenda = availability.agenda_of(holiday_doctor)
    christmas = datetime.date(2026, 12, 25)
    availability.agenda_holiday_open(actor=holiday_doctor, day=christmas)
    availability.agenda_holiday_open(actor=holiday_doctor, day=christmas)  # twice is once
    assert christmas in days_with_slots(agenda)
    assert slots.is_free_slot(agenda, datetime.datetime(2026, 12, 25, 9, 0, tzinfo=ROME), now=NOW)
    listed = {row["day"]: row for row in selectors.holidays_ahead(agenda, language="it", now=NOW)}
    assert listed[christmas]["open"] and listed[christmas]["name"] == "Natale"
    assert not listed[datetime.date(2026, 12, 8)]["open"]
    # Another doctor's agenda is untouched; a working day is not a holiday to open.
    assert christmas not in days_with_slots(availability.agenda_of(make_doctor()))
    with pytest.raises(ValidationError, match="not a national public holiday"):
        availability.agenda_holiday_open(actor=holiday_doctor, day=datetime.date(2026, 12, 9))
    availability.agenda_holiday_close(actor=holiday_doctor, day=christmas)
    assert christmas not in days_with_slots(agenda)


def test_an_absence_closes_an_opened_holiday(holiday_doctor):
    agenda = availability.agenda_of(holiday_doctor)
    availability.agenda_holiday_open(actor=holiday_doctor, day=datetime.date(2026, 12, 8))
    availability.agenda_exception_add(
        actor=holiday_doctor, first_day=datetime.date(2026, 12, 7), last_day=datetime.date(2026, 12, 9)
    )
    assert datetime.date(2026, 12, 8) not in days_with_slots(agenda)
