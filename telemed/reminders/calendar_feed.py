"""The agenda as iCalendar (RFC 5545): the patient's personal feed and single-reminder downloads.

Each time of the day of a reminder is one VEVENT carrying the series' rule (RFC 5545 has no
way to say "at 08:00 and at 20:30" in one rule), with DTSTART in Europe/Rome and the
VTIMEZONE that goes with it, so that phone calendars repeat it on the wall clock as telemed
does. A series edited "from an occurrence onwards" ends with an UNTIL before it; occurrences
of its first day that fall before its start are EXDATEs.
"""

import datetime

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from icalendar import Alarm, Calendar, Event, vRecur

from telemed.reminders.models import Reminder, ReminderKind
from telemed.reminders.recurrence import Recurrence
from telemed.reminders.schedule import ROME, UTC, Series, bounds, day_rule

EVENT_LENGTH = datetime.timedelta(minutes=15)


def _calendar(name: str) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", "-//telemed//health agenda//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", "Europe/Rome")
    return calendar


def _rule(reminder: Reminder, recurrence: Recurrence) -> vRecur | None:
    if recurrence.is_single:
        return None
    parts = {key.lower(): value for key, value in recurrence.rule_parts().items() if key not in {"UNTIL", "COUNT"}}
    natural_end = bounds(recurrence)[1]
    if reminder.ends_before is not None and reminder.ends_before != natural_end:
        # Cut short (edited from an occurrence onwards, or stopped): the last second before.
        parts["until"] = (reminder.ends_before - datetime.timedelta(seconds=1)).astimezone(UTC)
    elif recurrence.until is not None:
        # With a DTSTART in a time zone, RFC 5545 wants UNTIL in UTC.
        parts["until"] = (reminder.ends_before - datetime.timedelta(seconds=1)).astimezone(UTC)
    elif recurrence.count is not None:
        parts["count"] = recurrence.count
    if "byday" in parts:
        parts["byday"] = str(parts["byday"]).split(",")
    return vRecur(parts)


def _events(reminder: Reminder, *, details: bool, now: datetime.datetime) -> list[Event]:
    recurrence = Recurrence.of(reminder)
    series = Series.of(reminder)
    rule = _rule(reminder, recurrence)
    kind = ReminderKind(reminder.kind).label
    summary = reminder.title if details else _("telemed reminder: %(kind)s") % {"kind": kind}
    description = []
    if details and reminder.doctor_id is not None:
        description.append(
            pgettext(reminder.doctor.grammar_context, "Set by %(doctor)s") % {"doctor": reminder.doctor.display_name}
        )
    if details and reminder.notes:
        description.append(reminder.notes)
    description.append(settings.BASE_URL + reverse("reminders:agenda"))
    start_midnight = datetime.datetime.combine(reminder.start_date, datetime.time.min)
    events = []
    for time_of_day in series.times:
        # DTSTART is the first day the rule goes off (RFC 5545 counts DTSTART as an occurrence).
        first_local = day_rule(reminder.rrule, datetime.datetime.combine(reminder.start_date, time_of_day)).after(
            start_midnight, inc=True
        )
        if first_local is None:
            continue
        event = Event()
        event.add("uid", f"reminder-{reminder.pk}-{time_of_day:%H%M}@telemed")
        event.add("dtstamp", now)
        event.add("last-modified", reminder.updated_at.astimezone(UTC))
        event.add("dtstart", first_local.replace(tzinfo=ROME))
        event.add("duration", EVENT_LENGTH)
        event.add("summary", summary)
        event.add("description", "\n\n".join(description))
        event.add("categories", [str(kind)])
        if rule is not None:
            event.add("rrule", rule)
        one_time = Series(
            rrule=series.rrule, times=(time_of_day,), start_date=series.start_date,
            starts_at=series.starts_at, ends_before=series.ends_before,
        )  # fmt: skip
        first_kept = one_time.first()
        if first_kept is None:
            continue
        excluded = []
        local = first_local
        # The first day(s) of a continued series: occurrences before its start are not its own.
        while local is not None and local.replace(tzinfo=ROME) < first_kept and len(excluded) < 3:
            excluded.append(local.replace(tzinfo=ROME))
            local = day_rule(reminder.rrule, datetime.datetime.combine(reminder.start_date, time_of_day)).after(local)
        if excluded:
            event.add("exdate", excluded)
        if reminder.muted_at is None and reminder.stopped_at is None:
            alarm = Alarm()
            alarm.add("action", "DISPLAY")
            alarm.add("description", summary)
            alarm.add("trigger", datetime.timedelta(0))
            event.add_component(alarm)
        events.append(event)
    return events


def _add_timezone(calendar: Calendar, reminders, now: datetime.datetime) -> None:
    """The Europe/Rome VTIMEZONE, covering the years the reminders can reach (a series spans at most ten)."""
    first = min([r.start_date for r in reminders] + [now.date()])
    calendar.add_missing_timezones(
        first_date=datetime.date(first.year, 1, 1), last_date=datetime.date(now.year + 12, 1, 1)
    )


def feed(reminders, *, details: bool, now: datetime.datetime) -> bytes:
    reminders = list(reminders)
    calendar = _calendar(_("telemed health agenda"))
    for reminder in reminders:
        for event in _events(reminder, details=details, now=now):
            calendar.add_component(event)
    _add_timezone(calendar, reminders, now)
    return calendar.to_ical()


def single(reminder: Reminder, *, now: datetime.datetime) -> bytes:
    """One reminder, downloaded by its patient (or the doctor who set it) from the platform: with its details."""
    calendar = _calendar(reminder.title)
    for event in _events(reminder, details=True, now=now):
        calendar.add_component(event)
    _add_timezone(calendar, [reminder], now)
    return calendar.to_ical()
