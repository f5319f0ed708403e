"""Free slots, computed from an agenda's rules, its exceptions and the bookings: never stored.

Rules are Rome wall-clock times, so a 09:00 window stays at 09:00 across daylight-saving changes.
A national public holiday (``telemed.lib.italy``) has no slots unless the doctor opened that day
(``HolidayOpening``); an absence closes a day even if it was opened.
"""

import datetime
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.utils import timezone

from telemed.lib.italy import is_public_holiday
from telemed.visits.models import ACTIVE_STATUSES, Agenda, Booking

ROME = ZoneInfo("Europe/Rome")


@dataclass(frozen=True)
class Slot:
    start: datetime.datetime
    end: datetime.datetime

    @property
    def key(self) -> str:
        """The slot as a form sends it back: its UTC start in ISO format."""
        return self.start.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%MZ")


def parse_slot_key(value: str) -> datetime.datetime | None:
    try:
        moment = datetime.datetime.strptime(value or "", "%Y-%m-%dT%H:%MZ")  # noqa: DTZ007 - UTC, set below
    except ValueError:
        return None
    return moment.replace(tzinfo=datetime.UTC)


def bookable_window(agenda: Agenda, now: datetime.datetime) -> tuple[datetime.datetime, datetime.datetime]:
    """The earliest start a patient may book (minimum notice) and the latest (horizon)."""
    return now + datetime.timedelta(hours=agenda.min_notice_hours), now + datetime.timedelta(days=agenda.horizon_days)


def is_closed_day(day: datetime.date, exceptions, opened_holidays) -> bool:
    if any(e.first_day <= day <= e.last_day for e in exceptions):
        return True
    return is_public_holiday(day) and day not in opened_holidays


def _opened_holidays(agenda: Agenda) -> set[datetime.date]:
    return set(agenda.holiday_openings.values_list("day", flat=True))


def _candidate_slots(
    agenda: Agenda,
    first_day: datetime.date,
    last_day: datetime.date,
    rules,
    exceptions,
    opened_holidays,
    minutes: int | None = None,
):
    """Visits of ``minutes`` (the agenda's slot length if not given) start every ``slot_minutes``
    from a window's start and end inside it."""
    length = datetime.timedelta(minutes=minutes or agenda.slot_minutes)
    step = datetime.timedelta(minutes=agenda.slot_minutes)
    by_weekday: dict[int, list] = {}
    for rule in rules:
        by_weekday.setdefault(rule.weekday, []).append(rule)
    day = first_day
    while day <= last_day:
        if not is_closed_day(day, exceptions, opened_holidays):
            for rule in by_weekday.get(day.weekday(), ()):
                start = datetime.datetime.combine(day, rule.start, tzinfo=ROME)
                window_end = datetime.datetime.combine(day, rule.end, tzinfo=ROME)
                # Step in real time: on a daylight-saving night wall-clock arithmetic would lie.
                start_utc, end_utc = start.astimezone(datetime.UTC), window_end.astimezone(datetime.UTC)
                while start_utc + length <= end_utc:
                    yield Slot(start_utc, start_utc + length)
                    start_utc += step
        day += datetime.timedelta(days=1)


def free_slots(
    agenda: Agenda, *, now: datetime.datetime | None = None, days: int | None = None, minutes: int | None = None
) -> list[Slot]:
    """The slots patients may book now for a visit of ``minutes``: inside a rule, not on an
    exception, after the minimum notice, before the horizon, not overlapping an active booking."""
    now = now or timezone.now()
    earliest, latest = bookable_window(agenda, now)
    if days is not None:
        latest = min(latest, now + datetime.timedelta(days=days))
    rules = list(agenda.rules.all())
    exceptions = list(agenda.exceptions.all())
    taken = list(
        Booking.objects.filter(
            doctor_id=agenda.doctor_id, status__in=ACTIVE_STATUSES, end__gt=earliest, start__lt=latest
        ).values_list("start", "end")
    )
    slots = []
    for slot in _candidate_slots(
        agenda,
        earliest.astimezone(ROME).date(),
        latest.astimezone(ROME).date(),
        rules,
        exceptions,
        _opened_holidays(agenda),
        minutes,
    ):
        if slot.start < earliest or slot.start > latest:
            continue
        if any(start < slot.end and slot.start < end for start, end in taken):
            continue
        slots.append(slot)
    return slots


def is_free_slot(
    agenda: Agenda, start: datetime.datetime, *, now: datetime.datetime | None = None, minutes: int | None = None
) -> bool:
    now = now or timezone.now()
    earliest, latest = bookable_window(agenda, now)
    if not earliest <= start <= latest:
        return False
    day = start.astimezone(ROME).date()
    candidates = _candidate_slots(
        agenda, day, day, list(agenda.rules.all()), list(agenda.exceptions.all()), _opened_holidays(agenda), minutes
    )
    for slot in candidates:
        if slot.start == start:
            return not Booking.objects.filter(
                doctor_id=agenda.doctor_id, status__in=ACTIVE_STATUSES, start__lt=slot.end, end__gt=slot.start
            ).exists()
    return False
