"""The doctor's agenda: the visit settings, the weekly availability, the days off and the public
holidays the doctor works anyway. What it makes bookable is ``slots.py``'s to compute."""

import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from telemed.lib.italy import is_public_holiday
from telemed.visits.models import SLOT_MINUTES, Agenda, AgendaException, AvailabilityRule, HolidayOpening


def _require_doctor(actor) -> None:
    if not getattr(actor, "is_doctor", False) or not actor.is_active or not hasattr(actor, "doctor_profile"):
        raise PermissionDenied


def agenda_of(doctor) -> Agenda:
    """The doctor's agenda, created with the defaults on first use."""
    agenda, _created = Agenda.objects.get_or_create(doctor=doctor)
    return agenda


def agenda_locked(doctor) -> Agenda:
    agenda_of(doctor)
    return Agenda.objects.select_for_update().get(doctor=doctor)


@transaction.atomic
def agenda_update(
    *,
    actor,
    slot_minutes: int,
    horizon_days: int,
    min_notice_hours: int,
    cancel_notice_hours: int,
    reschedule_notice_hours: int,
) -> Agenda:
    _require_doctor(actor)
    if slot_minutes not in SLOT_MINUTES:
        raise ValidationError({"slot_minutes": _("A visit lasts 15, 30, 45 or 60 minutes.")})
    if not 1 <= horizon_days <= 365:
        raise ValidationError({"horizon_days": _("Patients may book from 1 to 365 days ahead.")})
    for name, value in (
        ("min_notice_hours", min_notice_hours),
        ("cancel_notice_hours", cancel_notice_hours),
        ("reschedule_notice_hours", reschedule_notice_hours),
    ):
        if not 0 <= value <= 24 * 30:
            raise ValidationError({name: _("Choose a number of hours between 0 and 720.")})
    agenda = agenda_locked(actor)
    agenda.slot_minutes, agenda.horizon_days, agenda.min_notice_hours = slot_minutes, horizon_days, min_notice_hours
    agenda.cancel_notice_hours, agenda.reschedule_notice_hours = cancel_notice_hours, reschedule_notice_hours
    agenda.save()
    return agenda


@transaction.atomic
def availability_rule_add(*, actor, weekday: int, start: datetime.time, end: datetime.time) -> AvailabilityRule:
    _require_doctor(actor)
    if weekday not in range(7):
        raise ValidationError({"weekday": _("Choose a day of the week.")})
    if not isinstance(start, datetime.time) or not isinstance(end, datetime.time) or end <= start:
        raise ValidationError({"end": _("The end must come after the start.")})
    agenda = agenda_locked(actor)
    overlapping = agenda.rules.filter(weekday=weekday, start__lt=end, end__gt=start).first()
    if overlapping is not None:
        raise ValidationError(
            _("This overlaps the availability %(rule)s: change or remove that one first.") % {"rule": overlapping}
        )
    return AvailabilityRule.objects.create(agenda=agenda, weekday=weekday, start=start, end=end)


@transaction.atomic
def availability_rule_remove(*, actor, rule_id: int) -> None:
    _require_doctor(actor)
    deleted, _counts = AvailabilityRule.objects.filter(pk=rule_id, agenda__doctor=actor).delete()
    if not deleted:
        raise ValidationError(_("This availability no longer exists."))


@transaction.atomic
def agenda_exception_add(
    *, actor, first_day: datetime.date, last_day: datetime.date, reason: str = ""
) -> AgendaException:
    _require_doctor(actor)
    if not isinstance(first_day, datetime.date) or not isinstance(last_day, datetime.date) or last_day < first_day:
        raise ValidationError({"last_day": _("The last day cannot come before the first.")})
    agenda = agenda_locked(actor)
    return AgendaException.objects.create(
        agenda=agenda, first_day=first_day, last_day=last_day, reason=reason.strip()[:120]
    )


@transaction.atomic
def agenda_exception_remove(*, actor, exception_id: int) -> None:
    _require_doctor(actor)
    deleted, _counts = AgendaException.objects.filter(pk=exception_id, agenda__doctor=actor).delete()
    if not deleted:
        raise ValidationError(_("This absence no longer exists."))


@transaction.atomic
def agenda_holiday_open(*, actor, day: datetime.date) -> HolidayOpening:
    """The doctor works on a national public holiday: its weekly windows give slots that day."""
    _require_doctor(actor)
    if not isinstance(day, datetime.date) or not is_public_holiday(day):
        raise ValidationError(_("This day is not a national public holiday."))
    agenda = agenda_locked(actor)
    opening, _created = HolidayOpening.objects.get_or_create(agenda=agenda, day=day)
    return opening


@transaction.atomic
def agenda_holiday_close(*, actor, day: datetime.date) -> None:
    """Back to the default: no visits on that holiday. Visits already booked on it stay."""
    _require_doctor(actor)
    HolidayOpening.objects.filter(agenda__doctor=actor, day=day).delete()
