"""What a person chooses when they set a reminder, the RFC 5545 rule it stands for, and the
same choice said back in plain words.

The friendly form offers only what makes sense for a health agenda: once, every N days, on
chosen weekdays every N weeks, every N months on a date, on "the first Monday", on the last day
or on "the last Monday" (a date after the 28th skips the months without it, and says so); at one or
several fixed times of the day; until a date or for a number of times. Nothing finer than a
day is offered (no FREQ=HOURLY/MINUTELY/SECONDLY), so no rule can fire every second.
"""

import datetime
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.text import get_text_list
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext_lazy

from telemed.lib.formatting import WEEKDAY_NAMES, day_in_words

MAX_TIMES_PER_DAY = 12
MAX_COUNT = 1000
MAX_SPAN_DAYS = 10 * 366
RFC_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


class Frequency(models.TextChoices):
    ONCE = "once", gettext_lazy("Once")
    DAILY = "daily", gettext_lazy("Every day, or every few days")
    WEEKLY = "weekly", gettext_lazy("On chosen weekdays")
    MONTHLY = "monthly", gettext_lazy("Every month, or every few months")


class MonthlyMode(models.TextChoices):
    DAY_OF_MONTH = "day", gettext_lazy("On the same date (e.g. on the 15th)")
    WEEKDAY_OF_MONTH = "weekday", gettext_lazy("On the same weekday (e.g. the first Monday)")
    # RFC 5545 counts from the end with negative numbers: BYMONTHDAY=-1, BYDAY=-1MO. Every month
    # has them, so they never skip a month, unlike "on the 31st".
    LAST_DAY = "last_day", gettext_lazy("On the last day of the month")
    LAST_WEEKDAY = "last_weekday", gettext_lazy("On the last such weekday (e.g. the last Monday)")


# A date after the 28th is missing in some months; RFC 5545 (and so every calendar) skips them.
SHORTEST_MONTH = 28


class EndMode(models.TextChoices):
    NEVER = "never", gettext_lazy("Never")
    UNTIL = "until", gettext_lazy("On a date")
    COUNT = "count", gettext_lazy("After a number of times")


# The years a series may start in (as the agenda's pages read a date).
FIRST_YEAR, LAST_YEAR = 2000, 2100

MAX_INTERVAL = {Frequency.ONCE: 1, Frequency.DAILY: 365, Frequency.WEEKLY: 52, Frequency.MONTHLY: 24}

# Names as they stand inside a sentence ("ogni lunedì … fino al 30 giugno"): lib.formatting.


# "the first Monday" agrees in gender with the weekday in Italian ("la prima domenica"):
# Sunday gets its own words, told apart by their context.
NTH_WEEKDAY = {
    1: pgettext_lazy("the nth weekday of a month", "the first"),
    2: pgettext_lazy("the nth weekday of a month", "the second"),
    3: pgettext_lazy("the nth weekday of a month", "the third"),
    4: pgettext_lazy("the nth weekday of a month", "the fourth"),
    -1: pgettext_lazy("the nth weekday of a month", "the last"),
}
NTH_SUNDAY = {
    1: pgettext_lazy("the nth Sunday of a month", "the first"),
    2: pgettext_lazy("the nth Sunday of a month", "the second"),
    3: pgettext_lazy("the nth Sunday of a month", "the third"),
    4: pgettext_lazy("the nth Sunday of a month", "the fourth"),
    -1: pgettext_lazy("the nth Sunday of a month", "the last"),
}


def nth_weekday_of(day: datetime.date) -> int:
    """1–4 for the first to fourth such weekday of its month, -1 for a fifth (said "the last")."""
    nth = (day.day - 1) // 7 + 1
    return -1 if nth == 5 else nth


@dataclass(frozen=True)
class Recurrence:
    """A reminder's timing, in Europe/Rome wall-clock time."""

    start: datetime.date
    times: tuple[datetime.time, ...]
    frequency: str = Frequency.ONCE
    interval: int = 1
    weekdays: tuple[int, ...] = ()  # 0 = Monday, as datetime.weekday()
    monthly_mode: str = MonthlyMode.DAY_OF_MONTH
    until: datetime.date | None = None
    count: int | None = None

    # --- checks -------------------------------------------------------------------------

    def validate(self) -> "Recurrence":
        """A normalised copy (sorted distinct times, sorted weekdays) or a ValidationError whose
        messages are keyed by the form's field names."""
        errors: dict[str, str] = {}
        times = tuple(sorted({t.replace(second=0, microsecond=0) for t in self.times}))
        if not times:
            errors["times"] = _("Give at least one time of the day.")
        elif len(times) > MAX_TIMES_PER_DAY:
            errors["times"] = _("At most %(max)d times a day.") % {"max": MAX_TIMES_PER_DAY}
        if self.frequency not in Frequency.values:
            errors["frequency"] = _("Choose how often the reminder repeats.")
        else:
            limit = MAX_INTERVAL[Frequency(self.frequency)]
            if not isinstance(self.interval, int) or not 1 <= self.interval <= limit:
                errors["interval"] = _("Repeat every 1 to %(max)d.") % {"max": limit}
        weekdays = tuple(sorted(set(self.weekdays)))
        if self.frequency == Frequency.WEEKLY:
            if not weekdays:
                weekdays = (self.start.weekday(),)
            if any(day not in range(7) for day in weekdays):
                errors["weekdays"] = _("Choose weekdays from Monday to Sunday.")
        else:
            weekdays = ()
        if self.frequency == Frequency.MONTHLY and self.monthly_mode not in MonthlyMode.values:
            errors["monthly_mode"] = _("Choose on which day of the month.")
        if not FIRST_YEAR <= self.start.year <= LAST_YEAR:
            # A date the form parses but no series can start on (year 1 or 9999 overflows the dates
            # computed from it).
            errors["start_date"] = _("Choose a start date between the years %(first)d and %(last)d.") % {
                "first": FIRST_YEAR,
                "last": LAST_YEAR,
            }
        until, count = self.until, self.count
        if self.frequency == Frequency.ONCE:
            until = count = None
        if until is not None and count is not None:
            errors["end"] = _("End either on a date or after a number of times, not both.")
        if until is not None:
            if until < self.start:
                errors["until"] = _("The end date is before the start date.")
            elif (until - self.start).days > MAX_SPAN_DAYS:
                errors["until"] = _("The end date is more than ten years away.")
        if count is not None and not 1 <= count <= MAX_COUNT:
            errors["count"] = _("The number of times must be between 1 and %(max)d.") % {"max": MAX_COUNT}
        if errors:
            raise ValidationError(errors)
        return Recurrence(
            start=self.start, times=times, frequency=self.frequency, interval=self.interval if self.frequency != Frequency.ONCE else 1,
            weekdays=weekdays, monthly_mode=self.monthly_mode if self.frequency == Frequency.MONTHLY else MonthlyMode.DAY_OF_MONTH,
            until=until, count=count,
        )  # fmt: skip

    @property
    def is_single(self) -> bool:
        return self.frequency == Frequency.ONCE

    @property
    def skips_months(self) -> bool:
        """A monthly date that some months lack (the 29th to the 31st): those months are skipped."""
        return (
            self.frequency == Frequency.MONTHLY and self.monthly_mode == MonthlyMode.DAY_OF_MONTH
            and self.start.day > SHORTEST_MONTH
        )  # fmt: skip

    def warnings(self) -> list[str]:
        """What the person should know before relying on the reminder (it is saved anyway)."""
        if not self.skips_months:
            return []
        return [
            _(
                "Some months have no day %(day)d: the reminder skips them. Choose “On the last day of the month” "
                "to be reminded every month."
            )
            % {"day": self.start.day}
        ]

    # --- the RFC 5545 rule ---------------------------------------------------------------

    def rule_parts(self) -> dict[str, object]:
        """The rule of the *days* the reminder goes off; each time of the day repeats on them.

        (RFC 5545 cannot say "at 08:00 and at 20:30" in one rule — BYHOUR and BYMINUTE combine
        into every pair — so each time of the day is its own rule over the same days.)"""
        if self.frequency == Frequency.ONCE:
            return {"FREQ": "DAILY", "COUNT": 1}
        parts: dict[str, object] = {"FREQ": self.frequency.upper()}
        if self.interval > 1:
            parts["INTERVAL"] = self.interval
        if self.frequency == Frequency.WEEKLY:
            parts["BYDAY"] = ",".join(RFC_WEEKDAYS[day] for day in self.weekdays)
            parts["WKST"] = "MO"
        elif self.frequency == Frequency.MONTHLY:
            if self.monthly_mode == MonthlyMode.WEEKDAY_OF_MONTH:
                parts["BYDAY"] = f"{nth_weekday_of(self.start)}{RFC_WEEKDAYS[self.start.weekday()]}"
            elif self.monthly_mode == MonthlyMode.LAST_WEEKDAY:
                parts["BYDAY"] = f"-1{RFC_WEEKDAYS[self.start.weekday()]}"
            elif self.monthly_mode == MonthlyMode.LAST_DAY:
                parts["BYMONTHDAY"] = -1
            else:
                parts["BYMONTHDAY"] = self.start.day
        if self.until is not None:
            parts["UNTIL"] = self.until.strftime("%Y%m%dT235959")  # local wall clock, end of that day
        elif self.count is not None:
            parts["COUNT"] = self.count
        return parts

    def rrule(self) -> str:
        return ";".join(f"{key}={value}" for key, value in self.rule_parts().items())

    # --- in plain words ---------------------------------------------------------------------

    def describe(self) -> str:
        """E.g. "every day at 08:00 and 20:00 until 30 June", in the active language."""
        times = get_text_list([t.strftime("%H:%M") for t in self.times], _("and"))
        at = _("at %(times)s") % {"times": times}
        n = self.interval
        if self.frequency == Frequency.ONCE:
            return _("once, on %(date)s %(at)s") % {"date": day_in_words(self.start), "at": at}
        if self.frequency == Frequency.DAILY:
            how = _("every day") if n == 1 else ngettext("every %(n)d day", "every %(n)d days", n) % {"n": n}
        elif self.frequency == Frequency.WEEKLY:
            days = get_text_list([str(WEEKDAY_NAMES[day]) for day in self.weekdays], _("and"))
            how = (
                _("every %(days)s") % {"days": days}
                if n == 1
                else ngettext("every %(n)d week on %(days)s", "every %(n)d weeks on %(days)s", n)
                % {"n": n, "days": days}
            )
        elif self.monthly_mode == MonthlyMode.LAST_DAY:
            how = (
                _("every month on its last day")
                if n == 1
                else ngettext("every %(n)d month on its last day", "every %(n)d months on their last day", n) % {"n": n}
            )
        elif self.monthly_mode in (MonthlyMode.WEEKDAY_OF_MONTH, MonthlyMode.LAST_WEEKDAY):
            weekday = self.start.weekday()
            position = -1 if self.monthly_mode == MonthlyMode.LAST_WEEKDAY else nth_weekday_of(self.start)
            nth = (NTH_SUNDAY if weekday == 6 else NTH_WEEKDAY)[position]
            values = {"n": n, "nth": nth, "weekday": WEEKDAY_NAMES[weekday]}
            how = (
                _("every month on %(nth)s %(weekday)s") % values
                if n == 1
                else ngettext(
                    "every %(n)d month on %(nth)s %(weekday)s", "every %(n)d months on %(nth)s %(weekday)s", n
                )
                % values
            )
        else:
            values = {"n": n, "day": self.start.day}
            how = (
                _("every month on day %(day)d") % values
                if n == 1
                else ngettext("every %(n)d month on day %(day)d", "every %(n)d months on day %(day)d", n) % values
            )
        text = f"{how} {at}"
        if self.skips_months:
            text += " " + _("(not in months without day %(day)d)") % {"day": self.start.day}
        if self.until is not None:
            until = day_in_words(self.until, with_year=self.until.year != self.start.year)
            text += " " + _("until %(date)s") % {"date": until}
        elif self.count is not None:
            if len(self.times) == 1:
                text += ", " + ngettext("%(count)d time", "%(count)d times", self.count) % {"count": self.count}
            else:
                text += ", " + ngettext("on %(count)d day", "on %(count)d days", self.count) % {"count": self.count}
        return text

    # --- storage --------------------------------------------------------------------------

    def stored(self) -> dict:
        """The structured choices as model fields."""
        return {
            "start_date": self.start,
            "times": [t.strftime("%H:%M") for t in self.times],
            "frequency": self.frequency,
            "interval": self.interval,
            "weekdays": list(self.weekdays),
            "monthly_mode": self.monthly_mode,
            "until": self.until,
            "count": self.count,
            "rrule": self.rrule(),
        }

    @classmethod
    def of(cls, reminder) -> "Recurrence":
        return cls(
            start=reminder.start_date,
            times=tuple(datetime.time.fromisoformat(t) for t in reminder.times),
            frequency=reminder.frequency,
            interval=reminder.interval,
            weekdays=tuple(reminder.weekdays),
            monthly_mode=reminder.monthly_mode,
            until=reminder.until,
            count=reminder.count,
        )
