"""When a response committed to in a tariff is due.

Two units, as the doctor chooses them in their tariff:

* calendar hours: plain elapsed time. Computed in UTC, so a 24-hour commitment
  across a daylight-saving change is still 24 real hours (the clock on the wall
  shows 23 or 25 hours later).
* working days: time runs only on working days in Italy (Monday to Friday, not a
  national public holiday: ``telemed.lib.italy``, from the ``holidays`` library). The deadline falls on the
  N-th working day after the start, at the same wall-clock time in Europe/Rome; a
  start on a Saturday, Sunday or holiday counts from 00:00 of the next working day
  (so "1 working day" from Saturday means the end of Monday). The wall-clock time
  is kept across a daylight-saving change: 10:00 stays 10:00.
"""

import datetime
from zoneinfo import ZoneInfo

from telemed.billing.models import ResponseUnit
from telemed.lib.italy import is_public_holiday

ROME = ZoneInfo("Europe/Rome")
UTC = datetime.UTC


def is_working_day(day: datetime.date) -> bool:
    return day.weekday() < 5 and not is_public_holiday(day)


def next_working_day(day: datetime.date) -> datetime.date:
    """The first working day strictly after ``day``."""
    day += datetime.timedelta(days=1)
    while not is_working_day(day):
        day += datetime.timedelta(days=1)
    return day


def _at_rome_wall_clock(day: datetime.date, clock: datetime.time) -> datetime.datetime:
    # A wall-clock time skipped by the spring change is moved forward by the UTC round trip.
    return datetime.datetime.combine(day, clock, tzinfo=ROME).astimezone(UTC).astimezone(ROME)


def response_deadline(*, start: datetime.datetime, value: int, unit: str) -> datetime.datetime:
    """The moment a response committed to as ``value`` ``unit`` from ``start`` is due (aware, Europe/Rome)."""
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("start must be an aware datetime")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("value must be a positive whole number")
    unit = ResponseUnit(unit)
    if unit == ResponseUnit.HOURS:
        return (start.astimezone(UTC) + datetime.timedelta(hours=value)).astimezone(ROME)
    local = start.astimezone(ROME)
    day, clock = local.date(), local.time().replace(tzinfo=None, fold=0)
    if not is_working_day(day):
        # Counting starts at 00:00 of the first working day.
        day, clock = next_working_day(day), datetime.time(0, 0)
    for _ in range(value):
        day = next_working_day(day)
    return _at_rome_wall_clock(day, clock)
