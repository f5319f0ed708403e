"""The formatting helpers of ``telemed.lib.formatting`` as template filters.

``{% load formatting %}`` then ``{{ amount|money }}``, ``{{ start|long_datetime }}``,
``{{ day|long_date }}``, ``{{ day|day_in_words }}``, ``{{ n|minutes }}``, ``{{ n|days }}``… (one
filter per helper of the module, by the same name).
A missing value renders as "" rather than failing the page.
"""

from django import template

from telemed.lib import formatting

register = template.Library()


def _or_blank(helper):
    def filter_(value):
        if value is None or value == "":
            return ""
        return helper(value)

    filter_.__name__ = helper.__name__
    filter_.__doc__ = helper.__doc__
    return filter_


register.filter("money", formatting.money)


@register.filter
def day_in_words(value, arg=""):
    """``{{ day|day_in_words }}`` "7 dicembre 2026"; ``{{ day|day_in_words:"no year" }}`` "7 dicembre"."""
    if value is None or value == "":
        return ""
    return formatting.day_in_words(value, with_year=arg != "no year")


for _helper in (
    formatting.long_date,
    formatting.long_datetime,
    formatting.short_date,
    formatting.short_datetime,
    formatting.month_year,
    formatting.weekday_name,
    formatting.short_weekday,
    formatting.time_of_day,
    formatting.minutes,
    formatting.hours,
    formatting.days,
):
    register.filter(_helper.__name__, _or_blank(_helper))
