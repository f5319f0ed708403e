"""Values as people read them: one helper per kind of value, for every page, notification,
e-mail and PDF ("Italian as Italians write it").

Each helper formats for the active language (Italian by default) and is also a template filter
(``{% load formatting %}``: ``money``, ``long_date``, ``long_datetime``, ``short_date``,
``short_datetime``, ``day_in_words``, ``month_year``, ``weekday_name``, ``short_weekday``,
``minutes``, ``hours``, ``days``). The rules:

=================  ===============================  =================================
value              Italian                          English
=================  ===============================  =================================
money              ``1.234,50 €``: comma decimals,  ``€1,234.50``: the sign first,
                   dot thousands, two places,       dot decimals, comma thousands
                   a no-break space, the sign after
date, long         ``lunedì 7 dicembre 2026``       ``Monday 7 December 2026``
date and time      ``lunedì 7 dicembre 2026 alle    ``Monday 7 December 2026 at
                   08:30``                          08:30``
date, short        ``lun 7 dic 2026``               ``Mon 7 Dec 2026``
date and time,     ``lun 7 dic 2026, 08:30``        ``Mon 7 Dec 2026, 08:30``
short
month              ``dicembre 2026``                ``December 2026``
date in a          ``7 dicembre 2026``              ``7 December 2026``
sentence
durations, counts  ``1 minuto``, ``5 minuti``       ``1 minute``, ``5 minutes``
=================  ===============================  =================================

Decisions:

* Amounts are ``Decimal`` euros rounded half-up to the cent (like the pricing module); never
  "EUR" after a number, never a dot before the cents in Italian. The no-break space keeps
  "48,00" and "€" on one line on a narrow phone (CLDR, and so Babel, write it the same way).
* Weekday and month names are lower case in Italian (the Italian catalogue of Django
  capitalises them: "Lunedì", "Dicembre", which is wrong inside a sentence); they come from
  this project's catalogue, under the contexts "weekday inside a sentence" and "month inside
  a sentence".
* Date-times are shown in ``Europe/Rome`` (``settings.TIME_ZONE``), whatever zone they were
  stored in; a naive value is taken as already local.
* Machine-readable amounts (the EPC QR payload, pain.001 and camt XML, CSV and XLSX exports,
  the JSON API) are *not* formatted here: they keep ``str(Decimal)`` with a dot.
* Short numeric dates in tables (``d/m/Y``) stay Django's ``SHORT_DATE_FORMAT``: they carry no
  names to get wrong.
"""

import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import get_language, ngettext, pgettext, pgettext_lazy

CENT = Decimal("0.01")
NO_BREAK_SPACE = "\u00a0"

WEEKDAY_NAMES = (
    pgettext_lazy("weekday inside a sentence", "Monday"),
    pgettext_lazy("weekday inside a sentence", "Tuesday"),
    pgettext_lazy("weekday inside a sentence", "Wednesday"),
    pgettext_lazy("weekday inside a sentence", "Thursday"),
    pgettext_lazy("weekday inside a sentence", "Friday"),
    pgettext_lazy("weekday inside a sentence", "Saturday"),
    pgettext_lazy("weekday inside a sentence", "Sunday"),
)
MONTH_NAMES = (
    pgettext_lazy("month inside a sentence", "January"),
    pgettext_lazy("month inside a sentence", "February"),
    pgettext_lazy("month inside a sentence", "March"),
    pgettext_lazy("month inside a sentence", "April"),
    pgettext_lazy("month inside a sentence", "May"),
    pgettext_lazy("month inside a sentence", "June"),
    pgettext_lazy("month inside a sentence", "July"),
    pgettext_lazy("month inside a sentence", "August"),
    pgettext_lazy("month inside a sentence", "September"),
    pgettext_lazy("month inside a sentence", "October"),
    pgettext_lazy("month inside a sentence", "November"),
    pgettext_lazy("month inside a sentence", "December"),
)

WEEKDAY_ABBREVIATIONS = (
    pgettext_lazy("weekday, abbreviated, inside a sentence", "Mon"),
    pgettext_lazy("weekday, abbreviated, inside a sentence", "Tue"),
    pgettext_lazy("weekday, abbreviated, inside a sentence", "Wed"),
    pgettext_lazy("weekday, abbreviated, inside a sentence", "Thu"),
    pgettext_lazy("weekday, abbreviated, inside a sentence", "Fri"),
    pgettext_lazy("weekday, abbreviated, inside a sentence", "Sat"),
    pgettext_lazy("weekday, abbreviated, inside a sentence", "Sun"),
)
MONTH_ABBREVIATIONS = (
    pgettext_lazy("month, abbreviated, inside a sentence", "Jan"),
    pgettext_lazy("month, abbreviated, inside a sentence", "Feb"),
    pgettext_lazy("month, abbreviated, inside a sentence", "Mar"),
    pgettext_lazy("month, abbreviated, inside a sentence", "Apr"),
    pgettext_lazy("month, abbreviated, inside a sentence", "May"),
    pgettext_lazy("month, abbreviated, inside a sentence", "Jun"),
    pgettext_lazy("month, abbreviated, inside a sentence", "Jul"),
    pgettext_lazy("month, abbreviated, inside a sentence", "Aug"),
    pgettext_lazy("month, abbreviated, inside a sentence", "Sep"),
    pgettext_lazy("month, abbreviated, inside a sentence", "Oct"),
    pgettext_lazy("month, abbreviated, inside a sentence", "Nov"),
    pgettext_lazy("month, abbreviated, inside a sentence", "Dec"),
)


def _italian() -> bool:
    return (get_language() or "it").split("-")[0] == "it"


def as_decimal(value) -> Decimal:
    """A Decimal rounded half-up to the cent; floats go through ``str`` so 0.1 stays 0.10."""
    if not isinstance(value, Decimal):
        value = Decimal(str(value))
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def money(value) -> str:
    """``48,00 €`` in Italian, ``€48.00`` in English; "" for a missing or non-numeric value."""
    if value is None or value == "":
        return ""
    try:
        amount = as_decimal(value)
    except (InvalidOperation, ValueError, TypeError):
        return ""
    number = number_format(abs(amount), decimal_pos=2, use_l10n=True, force_grouping=True)
    sign = "-" if amount < 0 else ""
    if _italian():
        return f"{sign}{number}{NO_BREAK_SPACE}€"
    return f"{sign}€{number}"


def local(value: datetime.datetime) -> datetime.datetime:
    """The wall-clock time in Europe/Rome (``settings.TIME_ZONE``)."""
    if timezone.is_aware(value):
        return timezone.localtime(value)
    return value


def day_in_words(day: datetime.date, *, with_year: bool = True) -> str:
    """ "7 dicembre 2026" / "7 dicembre", for use inside a sentence."""
    if isinstance(day, datetime.datetime):
        day = local(day).date()
    values = {"day": day.day, "month": MONTH_NAMES[day.month - 1], "year": day.year}
    if with_year:
        return pgettext("a date inside a sentence", "%(day)d %(month)s %(year)d") % values
    return pgettext("a date inside a sentence, without the year", "%(day)d %(month)s") % values


def _as_date(day: datetime.date) -> datetime.date:
    return local(day).date() if isinstance(day, datetime.datetime) else day


def weekday_name(day: datetime.date) -> str:
    """ "lunedì": lower case in Italian."""
    return str(WEEKDAY_NAMES[_as_date(day).weekday()])


def short_weekday(day: datetime.date) -> str:
    """ "lun"."""
    return str(WEEKDAY_ABBREVIATIONS[_as_date(day).weekday()])


def month_year(day: datetime.date) -> str:
    """ "dicembre 2026"."""
    day = _as_date(day)
    return pgettext("a month and its year", "%(month)s %(year)d") % {
        "month": MONTH_NAMES[day.month - 1],
        "year": day.year,
    }


def short_date(day: datetime.date) -> str:
    """ "lun 7 dic 2026"."""
    day = _as_date(day)
    return pgettext("a short date with its weekday", "%(weekday)s %(day)d %(month)s %(year)d") % {
        "weekday": short_weekday(day),
        "day": day.day,
        "month": MONTH_ABBREVIATIONS[day.month - 1],
        "year": day.year,
    }


def short_datetime(value: datetime.datetime) -> str:
    """ "lun 7 dic 2026, 08:30", in Europe/Rome."""
    value = local(value)
    return pgettext("a short date and a time", "%(date)s, %(time)s") % {
        "date": short_date(value.date()),
        "time": time_of_day(value),
    }


def long_date(day: datetime.date) -> str:
    """ "lunedì 7 dicembre 2026"."""
    if isinstance(day, datetime.datetime):
        day = local(day).date()
    return pgettext("a date with its weekday", "%(weekday)s %(date)s") % {
        "weekday": weekday_name(day),
        "date": day_in_words(day),
    }


def time_of_day(value: datetime.datetime | datetime.time) -> str:
    """ "08:30", 24-hour, in Europe/Rome."""
    if isinstance(value, datetime.datetime):
        value = local(value).time()
    return f"{value.hour:02d}:{value.minute:02d}"


def long_datetime(value: datetime.datetime) -> str:
    """ "lunedì 7 dicembre 2026 alle 08:30", in Europe/Rome."""
    value = local(value)
    return pgettext("a date and a time", "%(date)s at %(time)s") % {
        "date": long_date(value.date()),
        "time": time_of_day(value),
    }


def minutes(count: int) -> str:
    """ "1 minuto", "5 minuti"."""
    count = int(count)
    return ngettext("%(count)d minute", "%(count)d minutes", count) % {"count": count}


def hours(count: int) -> str:
    """ "1 ora", "5 ore"."""
    count = int(count)
    return ngettext("%(count)d hour", "%(count)d hours", count) % {"count": count}


def days(count: int) -> str:
    """ "1 giorno", "5 giorni"."""
    count = int(count)
    return ngettext("%(count)d day", "%(count)d days", count) % {"count": count}
