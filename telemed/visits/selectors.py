"""Reads of visits, scoped to the user who asks."""

import datetime

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from telemed.billing import charges
from telemed.lib import formatting
from telemed.lib.italy import public_holiday_name, public_holidays
from telemed.visits.models import Agenda, AvailabilityRule, Booking, BookingStatus, DateProposal, RoomMessage
from telemed.visits.slots import ROME

# The room opens a few minutes before the start and closes a while after the planned end.
ROOM_OPENS_BEFORE = datetime.timedelta(minutes=10)
ROOM_CLOSES_AFTER = datetime.timedelta(minutes=30)


class RoomClosed(ValidationError):
    """The visit exists and the user takes part, but its room is not open now."""


def bookings_of(user) -> QuerySet[Booking]:
    return Booking.objects.filter(Q(doctor=user) | Q(patient=user)).select_related("doctor", "patient", "report")


def upcoming_bookings_of(user, *, now: datetime.datetime | None = None) -> QuerySet[Booking]:
    now = now or timezone.now()
    return bookings_of(user).filter(
        end__gte=now - ROOM_CLOSES_AFTER, status__in=[BookingStatus.BOOKED, BookingStatus.IN_PROGRESS]
    )


def past_bookings_of(user, *, now: datetime.datetime | None = None) -> QuerySet[Booking]:
    now = now or timezone.now()
    return bookings_of(user).exclude(pk__in=upcoming_bookings_of(user, now=now).values("pk")).order_by("-start")


def availability_set(doctor) -> bool:
    """The doctor has opened at least one weekly window of their agenda."""
    return AvailabilityRule.objects.filter(agenda__doctor=doctor).exists()


def visits_bookable(doctor) -> bool:
    """A patient can book a video visit with the doctor: a weekly window is open and at least one
    video length is priced and offered (patients book every priced length). Anything else must
    not be offered publicly."""
    from telemed.visits.services import visit_lengths  # the one rule of which lengths are bookable

    if not AvailabilityRule.objects.filter(agenda__doctor=doctor).exists():
        return False
    return bool(visit_lengths(doctor))


def visits_of_day(doctor, *, day: datetime.date | None = None) -> QuerySet[Booking]:
    """The doctor's visits that start on ``day`` (today, in Rome), cancelled ones left out."""
    day = day or timezone.localdate(timezone=ROME)
    start = datetime.datetime.combine(day, datetime.time.min, tzinfo=ROME)
    return (
        Booking.objects.filter(doctor=doctor, start__gte=start, start__lt=start + datetime.timedelta(days=1))
        .exclude(status=BookingStatus.CANCELLED)
        .select_related("patient")
        .order_by("start")
    )


def next_visit_of(user) -> Booking | None:
    """The patient's (or doctor's) next visit still to happen or happening now."""
    return upcoming_bookings_of(user).order_by("start").first()


def awaiting_report_of(doctor) -> QuerySet[Booking]:
    """The doctor's visits that took place and still wait for their signed report, oldest first
    (the same rule as ``Booking.awaits_report``)."""
    return (
        Booking.objects.filter(
            doctor=doctor, admitted_at__isnull=False, status__in=[BookingStatus.IN_PROGRESS, BookingStatus.ENDED]
        )
        .select_related("patient")
        .order_by("start")
    )


def booking_get_for_user(user, booking_id: int) -> Booking:
    booking = bookings_of(user).filter(pk=booking_id).first()
    if booking is None:
        raise Http404
    return booking


def room_is_open(booking: Booking, *, now: datetime.datetime | None = None) -> bool:
    now = now or timezone.now()
    return (
        booking.status in (BookingStatus.BOOKED, BookingStatus.IN_PROGRESS)
        and booking.start - ROOM_OPENS_BEFORE <= now <= booking.end + ROOM_CLOSES_AFTER
    )


def room_get_for_user(user, booking_id: int, *, now: datetime.datetime | None = None) -> Booking:
    """The visit whose room ``user`` may enter now: only its two participants, only in its window."""
    booking = booking_get_for_user(user, booking_id)
    now = now or timezone.now()
    if booking.status == BookingStatus.CANCELLED:
        raise RoomClosed(_("This visit was cancelled."))
    if booking.status in (BookingStatus.ENDED, BookingStatus.DELIVERED) or now > booking.end + ROOM_CLOSES_AFTER:
        raise RoomClosed(_("This visit has ended: its room is closed."))
    if now < booking.start - ROOM_OPENS_BEFORE:
        raise RoomClosed(
            _("The room opens %(duration)s before the start of the visit.")
            % {"duration": formatting.minutes(int(ROOM_OPENS_BEFORE.total_seconds() // 60))}
        )
    return booking


def room_messages(booking: Booking) -> QuerySet[RoomMessage]:
    return booking.messages.select_related("author")


def proposals_of(user) -> QuerySet[DateProposal]:
    return DateProposal.objects.filter(Q(doctor=user) | Q(patient=user)).select_related("doctor", "patient")


def proposal_get_for_user(user, proposal_id: int) -> DateProposal:
    proposal = proposals_of(user).filter(pk=proposal_id).first()
    if proposal is None:
        raise Http404
    return proposal


def booking_charge(booking: Booking) -> charges.Charge | None:
    """Where the visit's payment stands, as its patient reads it (nothing is owed for a cancelled visit)."""
    from decimal import Decimal

    return charges.charge_for_patient(
        patient=booking.patient,
        source_key=f"visit:{booking.pk}",
        amount=Decimal(str(booking.breakdown.get("patient_total") or "0")),
        chargeable=booking.status != BookingStatus.CANCELLED,
        service="visit",
    )


def holidays_ahead(agenda: Agenda, *, language: str, now: datetime.datetime | None = None) -> list[dict]:
    """The national public holidays patients could book up to (the agenda's horizon), each with its
    name and whether the doctor opened it for visits."""
    today = (now or timezone.now()).astimezone(ROME).date()
    last = today + datetime.timedelta(days=agenda.horizon_days)
    days = sorted(
        day for year in range(today.year, last.year + 1) for day in public_holidays(year) if today <= day <= last
    )
    opened = set(agenda.holiday_openings.filter(day__in=days).values_list("day", flat=True))
    return [{"day": day, "name": public_holiday_name(day, language=language), "open": day in opened} for day in days]
