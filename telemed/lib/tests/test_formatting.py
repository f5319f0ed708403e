"""The formatting helpers: each rule of lib.formatting's docstring, in Italian and English."""

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.template import Context, Template
from django.utils import translation

from telemed.lib import formatting

NBSP = "\u00a0"
MONDAY = datetime.date(2026, 12, 7)
MONDAY_0830_ROME = datetime.datetime(2026, 12, 7, 7, 30, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("value", "italian", "english"),
    [
        (Decimal("48.00"), f"48,00{NBSP}€", "€48.00"),
        (Decimal("48"), f"48,00{NBSP}€", "€48.00"),
        (1234.5, f"1.234,50{NBSP}€", "€1,234.50"),
        ("0.1", f"0,10{NBSP}€", "€0.10"),
        (Decimal("2.005"), f"2,01{NBSP}€", "€2.01"),  # half-up, like the pricing module
        (Decimal("-3.50"), f"-3,50{NBSP}€", "-€3.50"),
        (Decimal("1000000"), f"1.000.000,00{NBSP}€", "€1,000,000.00"),
    ],
)
def test_money(value, italian, english):
    with translation.override("it"):
        assert formatting.money(value) == italian
    with translation.override("en"):
        assert formatting.money(value) == english


@pytest.mark.parametrize("value", [None, "", "abc"])
def test_money_of_nothing_is_blank(value):
    assert formatting.money(value) == ""


def test_dates_in_lower_case_in_italian():
    with translation.override("it"):
        assert formatting.long_date(MONDAY) == "lunedì 7 dicembre 2026"
        assert formatting.day_in_words(MONDAY) == "7 dicembre 2026"
        assert formatting.day_in_words(MONDAY, with_year=False) == "7 dicembre"
        assert formatting.long_datetime(MONDAY_0830_ROME) == "lunedì 7 dicembre 2026 alle 08:30"
    with translation.override("en"):
        assert formatting.long_date(MONDAY) == "Monday 7 December 2026"
        assert formatting.long_datetime(MONDAY_0830_ROME) == "Monday 7 December 2026 at 08:30"


def test_date_times_are_shown_in_rome_across_daylight_saving():
    summer = datetime.datetime(2026, 7, 6, 6, 0, tzinfo=datetime.UTC)  # 08:00 CEST
    winter = datetime.datetime(2026, 12, 7, 7, 0, tzinfo=datetime.UTC)  # 08:00 CET
    new_york = datetime.datetime(2026, 12, 6, 20, 30, tzinfo=ZoneInfo("America/New_York"))  # 02:30 in Rome
    with translation.override("it"):
        assert formatting.long_datetime(summer) == "lunedì 6 luglio 2026 alle 08:00"
        assert formatting.long_datetime(winter) == "lunedì 7 dicembre 2026 alle 08:00"
        assert formatting.long_datetime(new_york) == "lunedì 7 dicembre 2026 alle 02:30"
        assert formatting.long_date(new_york) == "lunedì 7 dicembre 2026"


@pytest.mark.parametrize(
    ("helper", "one", "five"),
    [
        (formatting.minutes, "1 minuto", "5 minuti"),
        (formatting.hours, "1 ora", "5 ore"),
        (formatting.days, "1 giorno", "5 giorni"),
    ],
)
def test_counts_agree_with_their_number(helper, one, five):
    with translation.override("it"):
        assert helper(1) == one
        assert helper(5) == five


def test_template_filters():
    template = Template(
        "{% load formatting %}{{ amount|money }}|{{ when|long_datetime }}|{{ day|long_date }}|{{ n|minutes }}|{{ missing|long_date }}"
    )
    with translation.override("it"):
        text = template.render(Context({"amount": Decimal("48.00"), "when": MONDAY_0830_ROME, "day": MONDAY, "n": 1}))
    assert text == f"48,00{NBSP}€|lunedì 7 dicembre 2026 alle 08:30|lunedì 7 dicembre 2026|1 minuto|"
