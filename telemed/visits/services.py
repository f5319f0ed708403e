"""Every use case of video visits that changes state: here booking and negotiating a date; the
doctor's agenda is ``availability.py``'s, the live visit ``rooms.py``'s, its report
``reporting.py``'s. One transaction each; the actor is checked here."""

import datetime
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from telemed.billing import pricing
from telemed.billing import selectors as billing_selectors
from telemed.lib import formatting
from telemed.notifications.services import notify
from telemed.visits import slots, tasks
from telemed.visits.availability import agenda_locked, agenda_of
from telemed.visits.models import (
    ACTIVE_STATUSES,
    SLOT_MINUTES,
    Booking,
    BookingStatus,
    DateProposal,
    ProposalStatus,
    ProposalStep,
)

MAX_MESSAGE = 2000
REMINDERS_BEFORE = (datetime.timedelta(days=1), datetime.timedelta(hours=1))


def _require_patient(actor) -> None:
    if not getattr(actor, "is_patient", False) or not actor.is_active:
        raise PermissionDenied


def _aware(value: datetime.datetime | None) -> datetime.datetime:
    if not isinstance(value, datetime.datetime) or timezone.is_naive(value):
        raise ValidationError(_("Choose a valid date and time."))
    return value


# --- booking ------------------------------------------------------------------------------------


def visit_lengths(doctor) -> list[int]:
    """The visit lengths (minutes) a patient can book: those the doctor prices as a video visit."""
    if not getattr(doctor, "is_doctor", False) or not hasattr(doctor, "doctor_profile"):
        return []
    return sorted(
        {
            tariff.duration_minutes
            for tariff in billing_selectors.tariffs_offered_by(doctor.doctor_profile).filter(kind="video")
            if tariff.duration_minutes is not None
        }
        & set(SLOT_MINUTES)
    )


def visit_length(doctor, minutes: int | None = None) -> int:
    """The length of a visit a patient books: the one asked for, or the agenda's slot length when
    it is priced, or else the shortest priced one. Refused when that length has no tariff."""
    lengths = visit_lengths(doctor)
    if not lengths:
        raise ValidationError(_("This doctor does not offer video visits."))
    if minutes is None:
        minutes = agenda_of(doctor).slot_minutes
        return minutes if minutes in lengths else lengths[0]
    if minutes not in lengths:
        raise ValidationError(
            _("This doctor offers visits of %(lengths)s minutes.") % {"lengths": ", ".join(str(m) for m in lengths)}
        )
    return minutes


def visit_quote(*, doctor, minutes: int | None = None) -> pricing.Breakdown:
    """What a video visit of ``minutes`` (see `visit_length`) with ``doctor`` costs now."""
    minutes = visit_length(doctor, minutes)
    return pricing.price_service(doctor=doctor.doctor_profile, kind="video", duration=minutes)


def _check_accepted(breakdown: pricing.Breakdown, accepted_total: Decimal) -> None:
    if not isinstance(accepted_total, Decimal) or breakdown.patient_total != accepted_total:
        raise ValidationError(
            _("The price changed to %(total)s while you were choosing: check it and book again.")
            % {"total": formatting.money(breakdown.patient_total)}
        )


def booking_transition(booking: Booking, to: str) -> None:
    """The one place where a booking changes state; anything else is refused with a clear error."""
    allowed = {
        BookingStatus.BOOKED: {BookingStatus.IN_PROGRESS, BookingStatus.CANCELLED},
        BookingStatus.IN_PROGRESS: {BookingStatus.ENDED},
        BookingStatus.ENDED: {BookingStatus.DELIVERED, BookingStatus.IN_PROGRESS},
        BookingStatus.DELIVERED: set(),
        BookingStatus.CANCELLED: set(),
    }
    if to not in allowed[BookingStatus(booking.status)]:
        raise ValidationError(
            _("This visit cannot go from “%(from)s” to “%(to)s”.")
            % {"from": BookingStatus(booking.status).label, "to": BookingStatus(to).label}
        )
    booking.status = to


def _overlaps(doctor, start: datetime.datetime, end: datetime.datetime, *, exclude: int | None = None) -> bool:
    busy = Booking.objects.filter(doctor=doctor, status__in=ACTIVE_STATUSES, start__lt=end, end__gt=start)
    if exclude is not None:
        busy = busy.exclude(pk=exclude)
    return busy.exists()


def _insert(booking: Booking) -> Booking:
    try:
        with transaction.atomic():
            booking.save()
    except IntegrityError:
        # The unique constraint: someone else took this slot a moment ago.
        raise ValidationError(_("Someone has just booked this time. Please choose another one.")) from None
    return booking


def _schedule_after_booking(booking: Booking) -> None:
    """E-mail with the calendar entry and the two reminders, enqueued with the booking itself."""
    tasks.send_booking_confirmation.enqueue(booking_id=booking.pk)
    now = timezone.now()
    for before in REMINDERS_BEFORE:
        when = booking.start - before
        if when > now:
            tasks.send_visit_reminder.using(run_after=when).enqueue(
                booking_id=booking.pk, start=booking.start.isoformat()
            )


def booking_url(booking: Booking) -> str:
    return reverse("visits:booking", args=[booking.pk])


@transaction.atomic
def booking_create(
    *, actor, doctor, start: datetime.datetime, accepted_total: Decimal, minutes: int | None = None
) -> Booking:
    """The patient books one free slot, for a visit of a priced length, at the price they saw.
    Exactly one of two racing patients gets it: the agenda row is locked, and a unique constraint
    backs it."""
    _require_patient(actor)
    start = _aware(start)
    minutes = visit_length(doctor, minutes)
    breakdown = visit_quote(doctor=doctor, minutes=minutes)
    _check_accepted(breakdown, accepted_total)
    agenda = agenda_locked(doctor)
    if start <= timezone.now():
        raise ValidationError(_("This time is in the past. Please choose a free slot."))
    if not slots.is_free_slot(agenda, start, minutes=minutes):
        raise ValidationError(_("This time is not free in the doctor's agenda. Please choose a free slot."))
    booking = _insert(
        Booking(
            doctor=doctor,
            patient=actor,
            start=start,
            end=start + datetime.timedelta(minutes=minutes),
            duration_minutes=minutes,
            breakdown=breakdown.to_dict(),
            accepted_at=timezone.now(),
        )
    )
    _schedule_after_booking(booking)
    notify(
        recipient=doctor,
        kind="visit_booked",
        title=_("New video visit booked by %(patient)s") % {"patient": actor.get_full_name()},
        url=booking_url(booking),
    )
    return booking


def booking_locked(booking: Booking) -> Booking:
    return Booking.objects.select_for_update().select_related("doctor", "patient").get(pk=booking.pk)


def _participant(actor, booking: Booking) -> None:
    if actor.pk not in (booking.doctor_id, booking.patient_id):
        raise PermissionDenied


@transaction.atomic
def booking_cancel(*, actor, booking: Booking) -> Booking:
    """Either side may cancel; the patient only up to the doctor's cancellation notice."""
    booking = booking_locked(booking)
    _participant(actor, booking)
    agenda = agenda_of(booking.doctor)
    if booking.status != BookingStatus.BOOKED:
        raise ValidationError(_("Only a visit that has not started yet can be cancelled."))
    if actor.pk == booking.patient_id and booking.start - timezone.now() < datetime.timedelta(
        hours=agenda.cancel_notice_hours
    ):
        raise ValidationError(
            _("Visits can be cancelled up to %(hours)s hours before they start. Please write to the doctor.")
            % {"hours": agenda.cancel_notice_hours}
        )
    booking_transition(booking, BookingStatus.CANCELLED)
    booking.cancelled_at, booking.cancelled_by = timezone.now(), actor
    booking.save(update_fields=["status", "cancelled_at", "cancelled_by"])
    other = booking.patient if actor.pk == booking.doctor_id else booking.doctor
    notify(recipient=other, kind="visit_cancelled", title=_("A video visit was cancelled"), url=booking_url(booking))
    return booking


@transaction.atomic
def booking_reschedule(*, actor, booking: Booking, start: datetime.datetime) -> Booking:
    """The patient moves a visit to another free slot, up to the doctor's rescheduling notice."""
    _require_patient(actor)
    start = _aware(start)
    booking = booking_locked(booking)
    if booking.patient_id != actor.pk:
        raise PermissionDenied
    agenda = agenda_locked(booking.doctor)
    if booking.status != BookingStatus.BOOKED:
        raise ValidationError(_("Only a visit that has not started yet can be moved."))
    if booking.start - timezone.now() < datetime.timedelta(hours=agenda.reschedule_notice_hours):
        raise ValidationError(
            _("Visits can be moved up to %(hours)s hours before they start. Please write to the doctor.")
            % {"hours": agenda.reschedule_notice_hours}
        )
    if not slots.is_free_slot(agenda, start, minutes=booking.duration_minutes):
        raise ValidationError(_("This time is not free in the doctor's agenda. Please choose a free slot."))
    booking.start, booking.end = start, start + datetime.timedelta(minutes=booking.duration_minutes)
    try:
        with transaction.atomic():
            booking.save(update_fields=["start", "end"])
    except IntegrityError:
        raise ValidationError(_("Someone has just booked this time. Please choose another one.")) from None
    _schedule_after_booking(booking)
    notify(recipient=booking.doctor, kind="visit_moved", title=_("A video visit was moved"), url=booking_url(booking))
    return booking


@transaction.atomic
def bookings_cancel_of(*, user) -> int:
    """Cancel every visit of ``user`` that has not started (their account is being erased), without
    the cancellation notice; the other side is told as for any cancellation. Returns how many."""
    bookings = (
        Booking.objects.select_for_update()
        .filter(Q(doctor=user) | Q(patient=user), status=BookingStatus.BOOKED)
        .select_related("doctor", "patient")
    )
    cancelled = 0
    for booking in bookings:
        booking_transition(booking, BookingStatus.CANCELLED)
        booking.cancelled_at, booking.cancelled_by = timezone.now(), user
        booking.save(update_fields=["status", "cancelled_at", "cancelled_by"])
        other = booking.patient if user.pk == booking.doctor_id else booking.doctor
        notify(
            recipient=other, kind="visit_cancelled", title=_("A video visit was cancelled"), url=booking_url(booking)
        )
        cancelled += 1
    return cancelled


# --- negotiating another date -------------------------------------------------------------------


def proposal_url(proposal: DateProposal) -> str:
    return reverse("visits:proposal", args=[proposal.pk])


def _check_future(start: datetime.datetime | None) -> datetime.datetime:
    start = _aware(start)
    if start <= timezone.now():
        raise ValidationError(_("This time is in the past. Please propose a future date."))
    return start


@transaction.atomic
def proposal_create(
    *, actor, doctor, start: datetime.datetime, message: str, accepted_total: Decimal, minutes: int | None = None
) -> DateProposal:
    """The patient asks for a date outside the free slots, with a message, at the price they saw."""
    _require_patient(actor)
    start = _check_future(start)
    message = (message or "").strip()
    if not message:
        raise ValidationError({"message": _("Write a message for the doctor.")})
    if len(message) > MAX_MESSAGE:
        raise ValidationError({"message": _("The message is too long.")})
    minutes = visit_length(doctor, minutes)
    breakdown = visit_quote(doctor=doctor, minutes=minutes)
    _check_accepted(breakdown, accepted_total)
    proposal = DateProposal.objects.create(
        doctor=doctor, patient=actor, start=start, duration_minutes=minutes, breakdown=breakdown.to_dict()
    )
    ProposalStep.objects.create(proposal=proposal, author=actor, action="propose", start=start, message=message)
    notify(
        recipient=doctor,
        kind="visit_proposal",
        title=_("%(patient)s asks for a video visit on another date") % {"patient": actor.get_full_name()},
        url=proposal_url(proposal),
    )
    return proposal


PROPOSAL_ACTIONS = ("accept", "reject", "propose", "withdraw")


def _proposal_transition(proposal: DateProposal, actor, action: str) -> None:
    """The one transition function of a negotiation: whose turn it is decides what they may do."""
    turn: dict[str, int] = {
        ProposalStatus.WAITING_DOCTOR: proposal.doctor_id,
        ProposalStatus.WAITING_PATIENT: proposal.patient_id,
    }
    if proposal.status not in turn:
        raise ValidationError(_("This request is closed: nothing more can be done on it."))
    if action == "withdraw":
        if actor.pk != proposal.patient_id:
            raise ValidationError(_("Only the patient can withdraw the request."))
        proposal.status = ProposalStatus.WITHDRAWN
        return
    if actor.pk != turn[proposal.status]:
        raise ValidationError(_("It is the other side's turn to answer."))
    if action == "accept":
        proposal.status = ProposalStatus.AGREED
    elif action == "reject":
        if actor.pk != proposal.doctor_id:
            raise ValidationError(_("Only the doctor can reject the request; you can withdraw it."))
        proposal.status = ProposalStatus.REJECTED
    elif action == "propose":
        proposal.status = (
            ProposalStatus.WAITING_PATIENT if actor.pk == proposal.doctor_id else ProposalStatus.WAITING_DOCTOR
        )
    else:
        raise ValidationError(_("Unknown request."))


@transaction.atomic
def proposal_reply(
    *, actor, proposal: DateProposal, action: str, start: datetime.datetime | None = None, message: str = ""
) -> DateProposal:
    """Accept, reject or propose another date; each step notifies the other side, and an agreed
    date becomes a booking."""
    proposal = DateProposal.objects.select_for_update().select_related("doctor", "patient").get(pk=proposal.pk)
    if actor.pk not in (proposal.doctor_id, proposal.patient_id):
        raise PermissionDenied
    message = (message or "").strip()
    if len(message) > MAX_MESSAGE:
        raise ValidationError({"message": _("The message is too long.")})
    if action not in PROPOSAL_ACTIONS:
        raise ValidationError(_("Unknown request."))
    proposed = _check_future(start) if action == "propose" else None
    _proposal_transition(proposal, actor, action)
    if proposed is not None:
        proposal.start = proposed
    if proposal.status == ProposalStatus.AGREED:
        _check_future(proposal.start)
        agenda_locked(proposal.doctor)
        end = proposal.start + datetime.timedelta(minutes=proposal.duration_minutes)
        if _overlaps(proposal.doctor, proposal.start, end):
            raise ValidationError(_("The doctor has another visit at that time: propose another date."))
        proposal.booking = _insert(
            Booking(
                doctor=proposal.doctor,
                patient=proposal.patient,
                start=proposal.start,
                end=end,
                duration_minutes=proposal.duration_minutes,
                breakdown=proposal.breakdown,
                accepted_at=proposal.created_at,
            )
        )
        _schedule_after_booking(proposal.booking)
    proposal.save()
    ProposalStep.objects.create(
        proposal=proposal, author=actor, action=action, start=start if action == "propose" else None, message=message
    )
    other = proposal.patient if actor.pk == proposal.doctor_id else proposal.doctor
    titles = {
        "accept": _("Your proposed date for a video visit was accepted"),
        "reject": _("Your request for a video visit was rejected"),
        "propose": _("Another date was proposed for a video visit"),
        "withdraw": _("A request for a video visit was withdrawn"),
    }
    notify(recipient=other, kind="visit_proposal", title=titles[action], url=proposal_url(proposal))
    return proposal
