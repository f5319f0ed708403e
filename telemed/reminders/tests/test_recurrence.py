"""Every kind of recurrence the form offers, against occurrence lists written out by hand,
across the daylight-saving changes of 2026 (29 March, 25 October) and 2027 (28 March, 31 October)."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from telemed.reminders.recurrence import Recurrence
from telemed.reminders.schedule import Series, bounds, to_local
from telemed.reminders.tests.conftest import at

EVER = (at("2025-01-01T00:00"), at("2030-01-01T00:00"))


def series(recurrence: Recurrence) -> Series:
    recurrence = recurrence.validate()
    starts_at, ends_before = bounds(recurrence)
    return Series(
        rrule=recurrence.rrule(),
        times=recurrence.times,
        start_date=recurrence.start,
        starts_at=starts_at,
        ends_before=ends_before,
    )


def t(text: str) -> dt.time:
    return dt.time.fromisoformat(text)


CASES = {
    "daily 08:00 across spring-forward 2026": (
        Recurrence(start=dt.date(2026, 3, 26), times=(t("08:00"),), frequency="daily", until=dt.date(2026, 4, 1)),
        ["2026-03-26T07:00", "2026-03-27T07:00", "2026-03-28T07:00",
         "2026-03-29T06:00", "2026-03-30T06:00", "2026-03-31T06:00", "2026-04-01T06:00"],
    ),
    "three times a day for three days across fall-back 2026": (
        Recurrence(start=dt.date(2026, 10, 24), times=(t("20:00"), t("08:00"), t("14:00")), frequency="daily", count=3),
        ["2026-10-24T06:00", "2026-10-24T12:00", "2026-10-24T18:00",
         "2026-10-25T07:00", "2026-10-25T13:00", "2026-10-25T19:00",
         "2026-10-26T07:00", "2026-10-26T13:00", "2026-10-26T19:00"],
    ),
    "02:30 does not exist on 29 March 2026 and still fires once": (
        Recurrence(start=dt.date(2026, 3, 28), times=(t("02:30"),), frequency="daily", until=dt.date(2026, 3, 30)),
        ["2026-03-28T01:30", "2026-03-29T01:30", "2026-03-30T00:30"],
    ),
    "02:30 happens twice on 25 October 2026 and fires once": (
        Recurrence(start=dt.date(2026, 10, 24), times=(t("02:30"),), frequency="daily", until=dt.date(2026, 10, 26)),
        ["2026-10-24T00:30", "2026-10-25T00:30", "2026-10-26T01:30"],
    ),
    "02:30 on 28 March 2027": (
        Recurrence(start=dt.date(2027, 3, 27), times=(t("02:30"),), frequency="daily", count=3),
        ["2027-03-27T01:30", "2027-03-28T01:30", "2027-03-29T00:30"],
    ),
    "02:30 on 31 October 2027": (
        Recurrence(start=dt.date(2027, 10, 30), times=(t("02:30"),), frequency="daily", count=3),
        ["2027-10-30T00:30", "2027-10-31T00:30", "2027-11-01T01:30"],
    ),
    "Mondays and Thursdays across spring-forward 2027, four times": (
        Recurrence(start=dt.date(2027, 3, 24), times=(t("09:00"),), frequency="weekly", weekdays=(3, 0), count=4),
        ["2027-03-25T08:00", "2027-03-29T07:00", "2027-04-01T07:00", "2027-04-05T07:00"],
    ),
    "every two weeks on Tuesday across fall-back 2026": (
        Recurrence(start=dt.date(2026, 10, 13), times=(t("18:30"),), frequency="weekly", interval=2, weekdays=(1,),
                   until=dt.date(2026, 11, 30)),
        ["2026-10-13T16:30", "2026-10-27T17:30", "2026-11-10T17:30", "2026-11-24T17:30"],
    ),
    "every three days across fall-back 2027": (
        Recurrence(start=dt.date(2027, 10, 29), times=(t("07:15"),), frequency="daily", interval=3, count=3),
        ["2027-10-29T05:15", "2027-11-01T06:15", "2027-11-04T06:15"],
    ),
    "monthly on the 31st skips the shorter months": (
        Recurrence(start=dt.date(2026, 1, 31), times=(t("10:00"),), frequency="monthly", count=4),
        ["2026-01-31T09:00", "2026-03-31T08:00", "2026-05-31T08:00", "2026-07-31T08:00"],
    ),
    "monthly on the first Monday": (
        Recurrence(start=dt.date(2026, 3, 2), times=(t("09:00"),), frequency="monthly", monthly_mode="weekday", count=3),
        ["2026-03-02T08:00", "2026-04-06T07:00", "2026-05-04T07:00"],
    ),
    "monthly on the last Friday": (
        Recurrence(start=dt.date(2026, 10, 30), times=(t("12:00"),), frequency="monthly", monthly_mode="weekday", count=3),
        ["2026-10-30T11:00", "2026-11-27T11:00", "2026-12-25T11:00"],
    ),
    "every two months on the 15th until a date": (
        Recurrence(start=dt.date(2027, 1, 15), times=(t("08:00"),), frequency="monthly", interval=2, until=dt.date(2027, 7, 15)),
        ["2027-01-15T07:00", "2027-03-15T07:00", "2027-05-15T06:00", "2027-07-15T06:00"],
    ),
    "once, at two times of the spring-forward day": (
        Recurrence(start=dt.date(2026, 3, 29), times=(t("09:00"), t("02:30")), frequency="once"),
        ["2026-03-29T01:30", "2026-03-29T07:00"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", CASES)
def test_occurrences_match_the_expected_list(name):
    recurrence, expected = CASES[name]
    assert series(recurrence).between(*EVER) == [at(text) for text in expected]


@pytest.mark.parametrize("name", CASES)
def test_walking_from_one_occurrence_to_the_next_gives_the_same_list(name):
    """The dispatcher moves from each occurrence to the next, restarting the rule on the day of
    the current one: it must find exactly the same occurrences."""
    recurrence, expected = CASES[name]
    s = series(recurrence)
    found, current = [], s.first()
    while current is not None:
        found.append(current)
        current = s.after(current, anchor=to_local(current).date())
    assert found == [at(text) for text in expected]


@pytest.mark.parametrize(
    "recurrence",
    [
        Recurrence(
            start=dt.date(2026, 1, 7), times=(t("02:30"), t("21:45")), frequency="weekly", interval=2, weekdays=(0, 6)
        ),
        Recurrence(
            start=dt.date(2026, 2, 28), times=(t("08:00"),), frequency="monthly", interval=3, monthly_mode="weekday"
        ),
        Recurrence(start=dt.date(2026, 1, 29), times=(t("23:59"), t("00:00")), frequency="daily", interval=5),
        Recurrence(start=dt.date(2026, 1, 31), times=(t("02:00"), t("03:00")), frequency="monthly"),
    ],
    ids=["fortnightly-weekend", "quarterly-nth-weekday", "every-5-days", "monthly-31st-night"],
)
def test_open_ended_series_walk_the_same_way_for_three_years(recurrence):
    s = series(recurrence)
    expected = s.between(at("2026-01-01T00:00"), at("2029-01-01T00:00"))
    found, current = [], s.first()
    while current is not None and current < at("2029-01-01T00:00"):
        found.append(current)
        current = s.after(current, anchor=to_local(current).date())
    assert found == expected and len(expected) >= 12


def test_an_0800_reminder_stays_at_0800_on_the_wall_clock_all_year():
    s = series(Recurrence(start=dt.date(2026, 1, 1), times=(t("08:00"),), frequency="daily"))
    occurrences = s.between(at("2026-01-01T00:00"), at("2028-01-01T00:00"))
    assert len(occurrences) == 730
    assert {to_local(o).time() for o in occurrences} == {t("08:00")}


def test_rules_are_rfc5545():
    daily = Recurrence(
        start=dt.date(2026, 6, 1), times=(t("08:00"), t("20:00")), frequency="daily", until=dt.date(2026, 6, 30)
    )
    assert daily.validate().rrule() == "FREQ=DAILY;UNTIL=20260630T235959"
    weekly = Recurrence(
        start=dt.date(2026, 6, 1), times=(t("09:00"),), frequency="weekly", interval=2, weekdays=(3, 0), count=8
    )
    assert weekly.validate().rrule() == "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH;WKST=MO;COUNT=8"
    nth = Recurrence(start=dt.date(2026, 3, 2), times=(t("09:00"),), frequency="monthly", monthly_mode="weekday")
    assert nth.validate().rrule() == "FREQ=MONTHLY;BYDAY=1MO"
    last = Recurrence(start=dt.date(2026, 10, 30), times=(t("09:00"),), frequency="monthly", monthly_mode="weekday")
    assert last.validate().rrule() == "FREQ=MONTHLY;BYDAY=-1FR"
    assert (
        Recurrence(start=dt.date(2026, 3, 2), times=(t("09:00"),), frequency="once").validate().rrule()
        == "FREQ=DAILY;COUNT=1"
    )


@pytest.mark.parametrize(
    ("recurrence", "words"),
    [
        (Recurrence(start=dt.date(2026, 6, 1), times=(t("20:00"), t("08:00")), frequency="daily", until=dt.date(2026, 6, 30)),
         "every day at 08:00 and 20:00 until 30 June"),
        (Recurrence(start=dt.date(2026, 6, 1), times=(t("08:00"), t("14:00"), t("20:00")), frequency="daily", count=10),
         "every day at 08:00, 14:00 and 20:00, on 10 days"),
        (Recurrence(start=dt.date(2026, 6, 1), times=(t("07:30"),), frequency="daily", interval=3, count=1),
         "every 3 days at 07:30, 1 time"),
        (Recurrence(start=dt.date(2026, 6, 1), times=(t("09:00"),), frequency="weekly", weekdays=(0, 3)),
         "every Monday and Thursday at 09:00"),
        (Recurrence(start=dt.date(2026, 10, 13), times=(t("18:30"),), frequency="weekly", interval=2, weekdays=(1,),
                    until=dt.date(2027, 1, 15)),
         "every 2 weeks on Tuesday at 18:30 until 15 January 2027"),
        (Recurrence(start=dt.date(2026, 3, 2), times=(t("09:00"),), frequency="monthly", monthly_mode="weekday", count=3),
         "every month on the first Monday at 09:00, 3 times"),
        (Recurrence(start=dt.date(2026, 10, 30), times=(t("12:00"),), frequency="monthly", interval=2, monthly_mode="weekday"),
         "every 2 months on the last Friday at 12:00"),
        (Recurrence(start=dt.date(2026, 1, 15), times=(t("10:00"),), frequency="monthly"),
         "every month on day 15 at 10:00"),
        (Recurrence(start=dt.date(2026, 3, 29), times=(t("09:00"),), frequency="once"),
         "once, on 29 March 2026 at 09:00"),
    ],
)  # fmt: skip
def test_described_in_plain_words(recurrence, words):
    assert recurrence.validate().describe() == words


def test_described_in_italian_with_italian_dates_and_times():
    recurrence = Recurrence(
        start=dt.date(2026, 6, 1), times=(t("08:00"), t("20:00")), frequency="daily", until=dt.date(2026, 6, 30)
    )
    with translation.override("it"):
        text = recurrence.validate().describe()
    # The Italian words come with the catalogue; the times and the date are there either way.
    assert "08:00" in text and "20:00" in text and "30" in text


@pytest.mark.parametrize(
    ("recurrence", "field"),
    [
        (Recurrence(start=dt.date(2026, 6, 1), times=(t("08:00"),), frequency="secondly"), "frequency"),
        (Recurrence(start=dt.date(2026, 6, 1), times=(t("08:00"),), frequency="hourly"), "frequency"),
        (Recurrence(start=dt.date(2026, 6, 1), times=tuple(dt.time(h, m) for h in range(24) for m in (0, 30)), frequency="daily"), "times"),
        (Recurrence(start=dt.date(2026, 6, 1), times=(), frequency="daily"), "times"),
        (Recurrence(start=dt.date(2026, 6, 1), times=(t("08:00"),), frequency="daily", until=dt.date(2026, 5, 31)), "until"),
        (Recurrence(start=dt.date(2026, 6, 1), times=(t("08:00"),), frequency="daily", until=dt.date(2046, 6, 1)), "until"),
        (Recurrence(start=dt.date(2026, 6, 1), times=(t("08:00"),), frequency="daily", count=0), "count"),
        (Recurrence(start=dt.date(2026, 6, 1), times=(t("08:00"),), frequency="daily", count=100_000), "count"),
        (Recurrence(start=dt.date(2026, 6, 1), times=(t("08:00"),), frequency="daily", interval=0), "interval"),
        (Recurrence(start=dt.date(2026, 6, 1), times=(t("08:00"),), frequency="weekly", interval=53), "interval"),
        (Recurrence(start=dt.date(2026, 6, 1), times=(t("08:00"),), frequency="weekly", weekdays=(7,)), "weekdays"),
        (Recurrence(start=dt.date(2026, 6, 1), times=(t("08:00"),), frequency="monthly", monthly_mode="fifth"), "monthly_mode"),
        (Recurrence(start=dt.date(2026, 6, 1), times=(t("08:00"),), frequency="daily", count=3, until=dt.date(2026, 7, 1)), "end"),
    ],
)  # fmt: skip
def test_bad_recurrences_are_refused_with_a_clear_message(recurrence, field):
    with pytest.raises(ValidationError) as refused:
        recurrence.validate()
    assert field in refused.value.message_dict, refused.value.message_dict
    assert all(message.strip() for message in refused.value.message_dict[field])


def test_a_single_reminder_ignores_an_end_and_a_weekly_one_defaults_to_its_start_day():
    once = Recurrence(start=dt.date(2026, 6, 1), times=(t("08:00"),), frequency="once", count=4).validate()
    assert once.count is None and once.until is None
    weekly = Recurrence(start=dt.date(2026, 6, 3), times=(t("08:00"),), frequency="weekly").validate()
    assert weekly.weekdays == (2,)
