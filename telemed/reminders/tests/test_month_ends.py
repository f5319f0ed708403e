"""Monthly reminders on the last day or the last weekday of the month reach every month; a date
that some months lack is said and warned about. The feed and the dispatcher agree."""

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from icalendar import Calendar

from telemed.reminders import services
from telemed.reminders.recurrence import Recurrence
from telemed.reminders.schedule import Series, to_local
from telemed.reminders.tests.test_feed import WINDOW, add, expanded, t

pytestmark = pytest.mark.django_db


def local_days(reminder, count: int) -> list[dt.date]:
    series, found = Series.of(reminder), []
    at = series.first()
    while at is not None and len(found) < count:
        found.append(to_local(at).date())
        at = series.after(at, anchor=to_local(at).date())
    return found


def test_the_last_day_and_the_last_monday_of_every_month(linked):
    _doctor, patient = linked
    last_day = add(patient, patient, Recurrence(start=dt.date(2027, 1, 31), times=(t("09:00"),), frequency="monthly",
                                                monthly_mode="last_day", count=12), "Iniezione")  # fmt: skip
    assert last_day.rrule == "FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=12"
    days = local_days(last_day, 12)
    assert days[:4] == [dt.date(2027, 1, 31), dt.date(2027, 2, 28), dt.date(2027, 3, 31), dt.date(2027, 4, 30)]
    assert len({day.month for day in days}) == 12  # no month skipped
    last_monday = add(patient, patient, Recurrence(start=dt.date(2027, 1, 4), times=(t("08:00"),), frequency="monthly",
                                                   monthly_mode="last_weekday", count=3), "Controllo")  # fmt: skip
    assert last_monday.rrule == "FREQ=MONTHLY;BYDAY=-1MO;COUNT=3"
    assert local_days(last_monday, 3) == [dt.date(2027, 1, 25), dt.date(2027, 2, 22), dt.date(2027, 3, 29)]
    assert Recurrence.of(last_day).describe() == "every month on its last day at 09:00, 12 times"
    assert Recurrence.of(last_monday).describe() == "every month on the last Monday at 08:00, 3 times"
    # The phone calendar reading the feed finds the same instants the dispatcher delivers at.
    token = services.feed_token_create(actor=patient)
    calendar = Calendar.from_ical(Client().get(reverse("reminders:feed", args=[token])).content)
    for reminder in (last_day, last_monday):
        assert expanded(calendar, reminder.pk) == Series.of(reminder).between(*WINDOW)


def test_a_date_some_months_lack_is_warned_about(linked):
    _doctor, patient = linked
    on_the_31st = Recurrence(start=dt.date(2027, 1, 31), times=(t("09:00"),), frequency="monthly", count=7)
    assert on_the_31st.skips_months and "last day of the month" in on_the_31st.warnings()[0]
    assert "(not in months without day 31)" in on_the_31st.describe()
    reminder = add(patient, patient, on_the_31st, "Iniezione")
    # What RFC 5545 does and the dispatcher therefore does: seven 31sts take a year.
    assert local_days(reminder, 7)[-1] == dt.date(2027, 12, 31)
    assert not Recurrence(start=dt.date(2027, 1, 28), times=(t("09:00"),), frequency="monthly").warnings()
    assert not Recurrence(
        start=dt.date(2027, 1, 31), times=(t("09:00"),), frequency="monthly", monthly_mode="last_day"
    ).warnings()
