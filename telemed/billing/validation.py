"""The limits of what billing accepts: amounts, percentages, durations and response times.

Each ``clean_*`` returns the canonical value or raises a ValidationError naming the
field, with a translated message. Services call them before storing anything; the
admin's forms call them too, so staff get the same messages.
"""

from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from telemed.billing.models import (
    CONSULT_KINDS,
    FREE_KINDS,
    VIDEO_DURATIONS,
    ResponseUnit,
    ServiceKind,
)
from telemed.lib import formatting

CENT = Decimal("0.01")
MAX_FEE = Decimal("10000.00")
MAX_PLATFORM_FEE = Decimal("1000.00")
MAX_BANK_FEE = Decimal("100.00")
MAX_RESPONSE_DAYS = 60
MAX_RESPONSE = {ResponseUnit.HOURS: MAX_RESPONSE_DAYS * 24, ResponseUnit.WORKING_DAYS: MAX_RESPONSE_DAYS}


def _decimal(value, field: str, message: str) -> Decimal:
    if isinstance(value, float):
        # Money never goes through binary floating point.
        raise TypeError("amounts must be Decimal, int or str, never float")
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip().replace(",", "."))
    except (InvalidOperation, ValueError) as exc:
        raise ValidationError({field: message}) from exc
    if not number.is_finite():
        raise ValidationError({field: message})
    return number


def clean_amount(value, *, field: str = "fee", maximum: Decimal = MAX_FEE) -> Decimal:
    """An amount in euros: not negative, whole cents, at most ``maximum``."""
    if value is None or value == "":
        raise ValidationError({field: _("Enter an amount in euros, e.g. 45.00.")})
    amount = _decimal(value, field, _("Enter an amount in euros, e.g. 45.00."))
    if amount < 0:
        raise ValidationError({field: _("The amount cannot be negative.")})
    if amount > maximum:
        raise ValidationError(
            {field: _("The amount cannot be more than %(maximum)s.") % {"maximum": formatting.money(maximum)}}
        )
    if amount != amount.quantize(CENT):
        raise ValidationError({field: _("The amount must be in whole cents, e.g. 45.50.")})
    return amount.quantize(CENT)


def clean_percent(value, *, field: str = "percent") -> Decimal:
    """A percentage from 0 to 100 with at most two decimals."""
    if value is None or value == "":
        raise ValidationError({field: _("Enter a percentage from 0 to 100.")})
    percent = _decimal(value, field, _("Enter a percentage from 0 to 100."))
    if percent < 0 or percent > 100:
        raise ValidationError({field: _("Enter a percentage from 0 to 100.")})
    if percent != percent.quantize(CENT):
        raise ValidationError({field: _("Use at most two decimals for the percentage.")})
    return percent.quantize(CENT)


def clean_kind(kind) -> ServiceKind:
    try:
        return ServiceKind(kind)
    except ValueError as exc:
        raise ValidationError({"kind": _("This kind of service does not exist.")}) from exc


def clean_duration(kind: ServiceKind, duration_minutes) -> int | None:
    """Video visits need one of the allowed durations; no other service has one."""
    if kind != ServiceKind.VIDEO:
        if duration_minutes not in (None, ""):
            raise ValidationError({"duration_minutes": _("Only video visits have a duration.")})
        return None
    allowed = ", ".join(str(minutes) for minutes in VIDEO_DURATIONS)
    message = _("A video visit lasts %(allowed)s minutes.") % {"allowed": allowed}
    try:
        minutes = int(duration_minutes)
    except (TypeError, ValueError) as exc:
        raise ValidationError({"duration_minutes": message}) from exc
    if minutes not in VIDEO_DURATIONS:
        raise ValidationError({"duration_minutes": message})
    return minutes


def clean_fee(kind: ServiceKind, fee) -> Decimal:
    amount = clean_amount(fee, field="fee", maximum=MAX_FEE)
    if kind in FREE_KINDS and amount != 0:
        raise ValidationError({"fee": _("Info requests are always free.")})
    return amount


def clean_response(kind: ServiceKind, value, unit, *, offered: bool) -> tuple[int | None, str]:
    """The response time a doctor commits to: required for an offered consult, absent for video visits."""
    if value in (None, "") and not unit:
        if kind in CONSULT_KINDS and offered:
            raise ValidationError({"response_value": _("Say within how long you answer this consult.")})
        return None, ""
    if kind == ServiceKind.VIDEO:
        raise ValidationError({"response_value": _("A video visit is booked for a time: it has no response time.")})
    try:
        unit = ResponseUnit(unit)
    except ValueError as exc:
        raise ValidationError({"response_unit": _("Choose hours or working days.")}) from exc
    try:
        written = Decimal(value.strip() if isinstance(value, str) else str(value))
    except InvalidOperation as exc:
        raise ValidationError({"response_value": _("Enter the response time as a whole number.")}) from exc
    if not written.is_finite() or written != written.to_integral_value():
        raise ValidationError({"response_value": _("Enter the response time as a whole number.")})
    number = int(written)
    if number < 1:
        raise ValidationError({"response_value": _("The response time must be at least 1.")})
    if number > MAX_RESPONSE[unit]:
        raise ValidationError(
            {
                "response_value": _("The response time cannot be longer than %(days)d days.")
                % {"days": MAX_RESPONSE_DAYS}
            }
        )
    return number, unit.value
