"""Response deadlines: calendar hours are elapsed time; working days skip weekends and Italian holidays."""

import datetime
from zoneinfo import ZoneInfo

import pytest

from telemed.billing.deadlines import is_working_day, response_deadline

ROME = ZoneInfo("Europe/Rome")
UTC = datetime.UTC


def rome(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=ROME)


@pytest.mark.parametrize(
    ("start", "value", "unit", "expected"),
    [
        # Calendar hours: plain elapsed time, weekends and holidays included.
        (rome(2026, 11, 25, 10, 0), 72, "hours", rome(2026, 11, 28, 10, 0)),
        (rome(2026, 12, 24, 18, 30), 24, "hours", rome(2026, 12, 25, 18, 30)),
        # Spring forward (28 March 2027, 02:00 → 03:00): 24 real hours read 13:00 on the wall.
        (rome(2027, 3, 27, 12, 0), 24, "hours", rome(2027, 3, 28, 13, 0)),
        (rome(2027, 3, 28, 1, 30), 1, "hours", rome(2027, 3, 28, 3, 30)),
        # Fall back (31 October 2027, 03:00 → 02:00): 24 real hours read 11:00.
        (rome(2027, 10, 30, 12, 0), 24, "hours", rome(2027, 10, 31, 11, 0)),
        # Working days: same wall-clock time on the N-th working day after.
        (rome(2026, 11, 27, 15, 0), 1, "working_days", rome(2026, 11, 30, 15, 0)),  # Friday → Monday
        (rome(2026, 11, 23, 9, 0), 5, "working_days", rome(2026, 11, 30, 9, 0)),  # Monday → next Monday
        (rome(2026, 11, 28, 10, 0), 1, "working_days", rome(2026, 12, 1, 0, 0)),  # Saturday: the end of Monday
        (rome(2026, 11, 29, 23, 59), 2, "working_days", rome(2026, 12, 2, 0, 0)),  # Sunday: the end of Tuesday
        # Christmas 2026: 25 (Friday) and 26 December are holidays, then the weekend.
        (rome(2026, 12, 24, 10, 0), 1, "working_days", rome(2026, 12, 28, 10, 0)),
        (rome(2026, 12, 23, 10, 0), 2, "working_days", rome(2026, 12, 28, 10, 0)),
        (rome(2026, 12, 25, 10, 0), 1, "working_days", rome(2026, 12, 29, 0, 0)),  # starts on Christmas Day
        # New Year and the weekend after it.
        (rome(2026, 12, 31, 16, 0), 1, "working_days", rome(2027, 1, 4, 16, 0)),
        # Easter Monday 2027 (29 March) right after the spring change: 10:00 stays 10:00 (08:00 UTC, not 09:00).
        (rome(2027, 3, 26, 10, 0), 1, "working_days", rome(2027, 3, 30, 10, 0)),
        (rome(2027, 3, 29, 9, 0), 1, "working_days", rome(2027, 3, 31, 0, 0)),  # starts on Easter Monday
        # All Saints' Day 2027 (Monday) right after the autumn change.
        (rome(2027, 10, 29, 10, 0), 1, "working_days", rome(2027, 11, 2, 10, 0)),
        # 4 October, national holiday again from 2026: a Monday in 2027.
        (rome(2027, 10, 1, 12, 0), 1, "working_days", rome(2027, 10, 5, 12, 0)),
        # Liberation Day 2026 is a Saturday: nothing extra to skip.
        (rome(2026, 4, 24, 12, 0), 1, "working_days", rome(2026, 4, 27, 12, 0)),
        # Liberation Day 2025 is a Friday: Thursday → Monday.
        (rome(2025, 4, 24, 12, 0), 1, "working_days", rome(2025, 4, 28, 12, 0)),
    ],
)
def test_response_deadline(start, value, unit, expected):
    deadline = response_deadline(start=start, value=value, unit=unit)
    assert deadline == expected
    assert deadline.tzinfo is not None and deadline.utcoffset() == expected.utcoffset()


def test_calendar_hours_are_real_elapsed_time_across_dst():
    # Compared in UTC: Python subtracts two datetimes of the same zone by their wall clocks.
    start = rome(2027, 3, 27, 12, 0)
    elapsed = response_deadline(start=start, value=24, unit="hours").astimezone(UTC) - start.astimezone(UTC)
    assert elapsed == datetime.timedelta(hours=24)
    start = rome(2027, 10, 30, 12, 0)
    elapsed = response_deadline(start=start, value=48, unit="hours").astimezone(UTC) - start.astimezone(UTC)
    assert elapsed == datetime.timedelta(hours=48)


def test_working_days_keep_the_wall_clock_across_dst():
    deadline = response_deadline(start=rome(2027, 3, 26, 10, 0), value=1, unit="working_days")
    assert deadline.astimezone(UTC) == datetime.datetime(2027, 3, 30, 8, 0, tzinfo=UTC)
    assert deadline.astimezone(ROME).hour == 10


def test_start_in_another_timezone_is_read_in_rome():
    # 23:30 UTC on Friday 27 November 2026 is already Saturday 00:30 in Rome.
    start = datetime.datetime(2026, 11, 27, 23, 30, tzinfo=UTC)
    assert response_deadline(start=start, value=1, unit="working_days") == rome(2026, 12, 1, 0, 0)


def test_working_days_and_holidays():
    assert is_working_day(datetime.date(2026, 11, 27))
    assert not is_working_day(datetime.date(2026, 11, 28))  # Saturday
    assert not is_working_day(datetime.date(2026, 12, 25))  # Christmas
    assert not is_working_day(datetime.date(2027, 3, 29))  # Easter Monday
    assert not is_working_day(datetime.date(2027, 6, 2))  # Republic Day


@pytest.mark.parametrize(
    "kwargs",
    [
        {"start": datetime.datetime(2026, 11, 27, 10, 0), "value": 1, "unit": "hours"},  # noqa: DTZ001 - refused: naive
        {"start": rome(2026, 11, 27, 10, 0), "value": 0, "unit": "hours"},
        {"start": rome(2026, 11, 27, 10, 0), "value": -3, "unit": "working_days"},
        {"start": rome(2026, 11, 27, 10, 0), "value": 1, "unit": "fortnights"},
    ],
)
def test_bad_arguments_are_refused(kwargs):
    with pytest.raises(ValueError):
        response_deadline(**kwargs)
