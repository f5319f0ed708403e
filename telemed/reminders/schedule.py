"""When a reminder goes off: the occurrences of its rule in Europe/Rome wall-clock time, each
turned into the UTC instant at which it is delivered.

An 08:00 reminder stays at 08:00 across the daylight-saving changes because the rule runs on
the wall clock and each occurrence is converted on its own. A time that does not exist on the
spring-forward night (02:30 on the last Sunday of March) is read with the offset before the
gap and so fires once, at 03:30; a time that happens twice on the fall-back night fires once,
at its first instance. Both are what RFC 5545 prescribes, so a phone calendar that reads the
feed shows the same instants.
"""

import datetime
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

from telemed.reminders.recurrence import Recurrence

ROME = ZoneInfo("Europe/Rome")
UTC = datetime.UTC
# Around a daylight-saving change the wall clock and UTC disagree by an hour: searches start a
# little earlier on the wall clock so that no occurrence is skipped.
_SLACK = datetime.timedelta(hours=3)
# A rule whose next occurrence is further away than this is treated as finished.
_HORIZON = datetime.timedelta(days=11 * 366)


def to_utc(local: datetime.datetime) -> datetime.datetime:
    """A Europe/Rome wall-clock time as a UTC instant (fold=0: the RFC 5545 reading of gaps and repeats)."""
    return local.replace(tzinfo=ROME).astimezone(UTC)


def to_local(instant: datetime.datetime) -> datetime.datetime:
    """A UTC instant as naive Europe/Rome wall-clock time."""
    return instant.astimezone(ROME).replace(tzinfo=None)


def local_midnight(day: datetime.date) -> datetime.datetime:
    """00:00 in Rome (always a real, single instant: the clocks change at 02:00 and 03:00)."""
    return to_utc(datetime.datetime.combine(day, datetime.time.min))


@lru_cache(maxsize=8192)
def day_rule(rrule_text: str, dtstart: datetime.datetime) -> rrule:
    """The rule over wall-clock time, without its own end: a series' ends are its UTC bounds."""
    return rrulestr(rrule_text, dtstart=dtstart).replace(count=None, until=None)


@lru_cache(maxsize=65536)
def _first_after(
    rrule_text: str, times: tuple[datetime.time, ...], day: datetime.date, floor: datetime.datetime
) -> datetime.datetime | None:
    """The first occurrence after ``floor`` of the rule restarted on ``day``, ignoring the series'
    bounds. Cached: the reminders due at the same instant mostly share their rule and day, so a
    burst of them at 08:00 costs one computation per distinct rule."""
    search_from = max(to_local(floor) - _SLACK, datetime.datetime.combine(day, datetime.time.min))
    give_up = search_from + _HORIZON
    best = None
    for time_of_day in times:
        for local in day_rule(rrule_text, datetime.datetime.combine(day, time_of_day)).xafter(search_from, inc=True):
            if local > give_up:
                break
            instant = to_utc(local)
            # One occurrence a day per time: in UTC they keep their order.
            if instant > floor:
                if best is None or instant < best:
                    best = instant
                break
    return best


def bounds(recurrence: Recurrence) -> tuple[datetime.datetime, datetime.datetime | None]:
    """The UTC instants a series starts at (inclusive) and ends before (exclusive, None: never)."""
    starts_at = local_midnight(recurrence.start)
    if recurrence.is_single:
        last_day = recurrence.start
    elif recurrence.until is not None:
        last_day = recurrence.until
    elif recurrence.count is not None:
        rule = rrulestr(recurrence.rrule(), dtstart=datetime.datetime.combine(recurrence.start, datetime.time.min))
        last_day = list(rule)[-1].date()
    else:
        return starts_at, None
    return starts_at, local_midnight(last_day + datetime.timedelta(days=1))


@dataclass(frozen=True)
class Series:
    """The occurrences of one reminder: its day rule at each of its times, within its bounds."""

    rrule: str
    times: tuple[datetime.time, ...]
    start_date: datetime.date
    starts_at: datetime.datetime
    ends_before: datetime.datetime | None

    @classmethod
    def of(cls, reminder) -> "Series":
        return cls(
            rrule=reminder.rrule,
            times=tuple(datetime.time.fromisoformat(t) for t in reminder.times),
            start_date=reminder.start_date,
            starts_at=reminder.starts_at,
            ends_before=reminder.ends_before,
        )

    def _within(self, instant: datetime.datetime) -> bool:
        return instant >= self.starts_at and (self.ends_before is None or instant < self.ends_before)

    def after(self, instant: datetime.datetime, *, anchor: datetime.date | None = None) -> datetime.datetime | None:
        """The first occurrence strictly after ``instant``, or None when the series is over.

        ``anchor`` is a day on which the series is known to go off (the day of its latest
        occurrence): the rule restarts there instead of at its first day, which keeps the cost
        flat however old the series is. Every time of the day repeats on the same days, so the
        restarted rule has the same future."""
        if self.ends_before is not None and instant >= self.ends_before:
            return None
        floor = max(instant, self.starts_at - datetime.timedelta(microseconds=1))
        day = anchor if anchor is not None and anchor > self.start_date else self.start_date
        best = _first_after(self.rrule, self.times, day, floor)
        if best is None or not self._within(best):
            return None
        return best

    def first(self) -> datetime.datetime | None:
        return self.after(self.starts_at - datetime.timedelta(microseconds=1))

    def between(self, start: datetime.datetime, end: datetime.datetime) -> list[datetime.datetime]:
        """Every occurrence in [start, end), in order."""
        start = max(start, self.starts_at)
        if self.ends_before is not None:
            end = min(end, self.ends_before)
        if start >= end:
            return []
        search_from = to_local(start) - _SLACK
        search_to = to_local(end) + _SLACK
        found: set[datetime.datetime] = set()
        for time_of_day in self.times:
            rule = day_rule(self.rrule, datetime.datetime.combine(self.start_date, time_of_day))
            for local in rule.xafter(search_from, inc=True):
                if local > search_to:
                    break
                instant = to_utc(local)
                if start <= instant < end:
                    found.add(instant)
        return sorted(found)
