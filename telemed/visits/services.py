"""Every use case of video visits that changes state. One transaction each; the actor is checked here."""

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
from telemed.lib.italy import is_public_holiday
from telemed.notifications.realtime import push_on_commit
from telemed.notifications.services import notify
from telemed.visits import slots, tasks
from telemed.visits.models import (
    ACTIVE_STATUSES,
    SLOT_MINUTES,
    Agenda,
    AgendaException,
    AvailabilityRule,
    Booking,
    BookingStatus,
    DateProposal,
    HolidayOpening,
    ProposalStatus,
    ProposalStep,
)

MAX_MESSAGE = 2000
REMINDERS_BEFORE = (datetime.timedelta(days=1), datetime.timedelta(hours=1))


def room_group(booking_id: int) -> str:
    return f"visit-room-{booking_id}"


def _require_doctor(actor) -> None:
    if not getattr(actor, "is_doctor", False) or not actor.is_active or not hasattr(actor, "doctor_profile"):
        raise PermissionDenied


def _require_patient(actor) -> None:
    if not getattr(actor, "is_patient", False) or not actor.is_active:
        raise PermissionDenied


def _aware(value: datetime.datetime | None) -> datetime.datetime:
    if not isinstance(value, datetime.datetime) or timezone.is_naive(value):
        raise ValidationError(_("Choose a valid date and time."))
    return value


# --- the agenda ---------------------------------------------------------------------------------


def agenda_of(doctor) -> Agenda:
    """The doctor's agenda, created with the defaults on first use."""
    agenda, _created = Agenda.objects.get_or_create(doctor=doctor)
    return agenda


def _locked_agenda(doctor) -> Agenda:
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
    agenda = _locked_agenda(actor)
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
    agenda = _locked_agenda(actor)
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
    agenda = _locked_agenda(actor)
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
    agenda = _locked_agenda(actor)
    opening, _created = HolidayOpening.objects.get_or_create(agenda=agenda, day=day)
    return opening


@transaction.atomic
def agenda_holiday_close(*, actor, day: datetime.date) -> None:
    """Back to the default: no visits on that holiday. Visits already booked on it stay."""
    _require_doctor(actor)
    HolidayOpening.objects.filter(agenda__doctor=actor, day=day).delete()


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


def _transition(booking: Booking, to: str) -> None:
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
    agenda = _locked_agenda(doctor)
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


def _locked_booking(booking: Booking) -> Booking:
    return Booking.objects.select_for_update().select_related("doctor", "patient").get(pk=booking.pk)


def _participant(actor, booking: Booking) -> None:
    if actor.pk not in (booking.doctor_id, booking.patient_id):
        raise PermissionDenied


@transaction.atomic
def booking_cancel(*, actor, booking: Booking) -> Booking:
    """Either side may cancel; the patient only up to the doctor's cancellation notice."""
    booking = _locked_booking(booking)
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
    _transition(booking, BookingStatus.CANCELLED)
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
    booking = _locked_booking(booking)
    if booking.patient_id != actor.pk:
        raise PermissionDenied
    agenda = _locked_agenda(booking.doctor)
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
        _locked_agenda(proposal.doctor)
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


# --- the room -----------------------------------------------------------------------------------

MAX_CHAT = 4000
MAX_NOTES = 20000


def _room_booking(actor, booking: Booking) -> Booking:
    """The visit locked for a change made from its room: participants only, room open only."""
    from telemed.visits.selectors import room_get_for_user

    room_get_for_user(actor, booking.pk)  # raises Http404 / RoomClosed
    return _locked_booking(booking)


@transaction.atomic
def visit_patient_waiting(*, actor, booking: Booking) -> Booking:
    """The patient passed the device check and waits to be admitted: the doctor is told."""
    booking = _room_booking(actor, booking)
    if actor.pk != booking.patient_id:
        raise PermissionDenied
    # Told again when the doctor's page reconnects; notified only once in a while.
    recently = booking.patient_waiting_at and timezone.now() - booking.patient_waiting_at < datetime.timedelta(
        minutes=5
    )
    booking.patient_waiting_at = timezone.now()
    booking.save(update_fields=["patient_waiting_at"])
    if booking.status == BookingStatus.BOOKED and not recently:
        notify(
            recipient=booking.doctor,
            kind="visit_waiting",
            title=_("%(patient)s is waiting in the video room") % {"patient": booking.patient.get_full_name()},
            url=reverse("visits:room", args=[booking.pk]),
        )
    return booking


@transaction.atomic
def visit_admit(*, actor, booking: Booking) -> Booking:
    """The doctor lets the waiting patient in: the call starts (or starts again after a drop)."""
    booking = _room_booking(actor, booking)
    if actor.pk != booking.doctor_id:
        raise PermissionDenied
    if booking.status != BookingStatus.IN_PROGRESS:
        _transition(booking, BookingStatus.IN_PROGRESS)
    booking.admitted_at = booking.admitted_at or timezone.now()
    booking.save(update_fields=["status", "admitted_at"])
    push_on_commit(room_group(booking.pk), {"type": "room.admitted", "at": booking.admitted_at.isoformat()})
    return booking


@transaction.atomic
def visit_end(*, actor, booking: Booking) -> Booking:
    """The doctor closes the call; the report can still be written and signed afterwards."""
    booking = _locked_booking(booking)
    if actor.pk != booking.doctor_id:
        raise PermissionDenied
    _transition(booking, BookingStatus.ENDED)
    booking.ended_at = timezone.now()
    booking.save(update_fields=["status", "ended_at"])
    push_on_commit(room_group(booking.pk), {"type": "room.ended"})
    return booking


def _chat_event(message) -> dict:
    return {
        "type": "room.chat",
        "message": {
            "id": message.pk,
            "author": message.author_id,
            "author_name": message.author.get_full_name(),
            "text": message.text,
            "document": message.document_name,
            "at": message.created_at.isoformat(),
        },
    }


@transaction.atomic
def room_message_send(*, actor, booking: Booking, text: str):
    from telemed.visits.models import RoomMessage

    text = (text or "").strip() if isinstance(text, str) else ""
    if not text:
        raise ValidationError(_("Write something before sending."))
    if len(text) > MAX_CHAT:
        raise ValidationError(_("This message is too long."))
    booking = _room_booking(actor, booking)
    message = RoomMessage.objects.create(booking=booking, author=actor, text=text)
    push_on_commit(room_group(booking.pk), _chat_event(message))
    return message


MAX_ROOM_FILE_BYTES = 20 * 1024**2


def room_file_send(*, actor, booking: Booking, name: str, stream, size: int):
    """A file the patient sends in the room: uploaded into their Welbox (quota reserved first, type
    sniffed from the content, by the boxes app), shared with the doctor, announced in the chat."""
    from telemed.boxes import services as boxes
    from telemed.boxes import uploads as box_uploads
    from telemed.boxes.models import UploadState
    from telemed.visits.models import RoomMessage
    from telemed.visits.selectors import room_get_for_user

    booking = room_get_for_user(actor, booking.pk)
    if actor.pk != booking.patient_id:
        raise PermissionDenied
    if not isinstance(size, int) or size > MAX_ROOM_FILE_BYTES:
        raise ValidationError(
            _("In the room a file can be at most %(mb)s MB: put bigger ones in your Welbox and share them.")
            % {"mb": MAX_ROOM_FILE_BYTES // 1024**2}
        )
    upload = box_uploads.upload_start(actor=actor, name=name, size=size)
    try:
        box_uploads.upload_append(actor=actor, upload=upload, offset=0, stream=stream, length=size)
    finally:
        upload.refresh_from_db()
        if upload.state == UploadState.OPEN:  # the bytes did not all arrive: free the reserved space
            box_uploads.upload_cancel(actor=actor, upload=upload)
    document = upload.document
    if document is None:
        raise ValueError("an upload appended whole has its document")
    with transaction.atomic():
        boxes.document_share(actor=actor, document=document, doctor=booking.doctor)
        message = RoomMessage.objects.create(
            booking=booking, author=actor, document_id=document.pk, document_name=document.name
        )
        push_on_commit(room_group(booking.pk), _chat_event(message))
    return message


@transaction.atomic
def visit_notes_save(*, actor, booking: Booking, notes: str) -> Booking:
    """The doctor's private notes, autosaved while they talk; the patient never sees them."""
    if not isinstance(notes, str) or len(notes) > MAX_NOTES:
        raise ValidationError(_("The notes are too long."))
    booking = _locked_booking(booking)
    if actor.pk != booking.doctor_id:
        raise PermissionDenied
    if booking.status in (BookingStatus.CANCELLED, BookingStatus.DELIVERED):
        raise ValidationError(_("This visit is closed: its notes cannot change any more."))
    booking.doctor_notes = notes
    booking.save(update_fields=["doctor_notes"])
    return booking


def _number(value, *, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ValidationError(_("The connection statistics are not valid."))
    return float(value)


@transaction.atomic
def visit_stats_record(
    *, actor, booking: Booking, rtt_ms: float, packet_loss: float, width: int, height: int
) -> Booking:
    """One sample of connection quality from a participant's browser (RTCPeerConnection.getStats):
    round-trip time, fraction of packets lost, resolution received. Kept as a summary per side."""
    rtt_ms = _number(rtt_ms, low=0, high=60_000)
    packet_loss = _number(packet_loss, low=0, high=1)
    width, height = int(_number(width, low=0, high=8192)), int(_number(height, low=0, high=8192))
    booking = _room_booking(actor, booking)
    if booking.status != BookingStatus.IN_PROGRESS:
        raise ValidationError(_("The call has not started."))
    side = "doctor" if actor.pk == booking.doctor_id else "patient"
    quality = dict(booking.quality or {})
    summary = dict(quality.get(side) or {"samples": 0, "rtt_sum": 0.0, "rtt_max": 0.0, "loss_max": 0.0})
    summary["samples"] += 1
    summary["rtt_sum"] += rtt_ms
    summary["rtt_max"] = max(summary["rtt_max"], rtt_ms)
    summary["loss_max"] = max(summary["loss_max"], packet_loss)
    if width and height:
        summary["width"], summary["height"] = width, height
        summary["min_height"] = min(summary.get("min_height", height), height)
    quality[side] = summary
    booking.quality = quality
    booking.save(update_fields=["quality"])
    return booking


# --- the report: written in the room, signed, delivered, billable -------------------------------


def _engagement(booking: Booking) -> str:
    return f"visit:{booking.pk}"


def _call_minutes(booking: Booking) -> int:
    if booking.admitted_at is None:
        return 0
    end = booking.ended_at or timezone.now()
    return max(1, round((end - booking.admitted_at).total_seconds() / 60))


def visit_record_text(booking: Booking) -> str:
    """What the national telemedicine guidelines ask a televisit report to record: who took part,
    how long the call lasted, the connection quality measured during it, and the doctor's
    statement on the adequacy of the remote examination."""
    from telemed.visits.models import ExamStatement

    lines = [
        _("Video visit (telemedicine) of %(when)s.")
        % {"when": timezone.localtime(booking.start, slots.ROME).strftime("%d/%m/%Y %H:%M")},
        _("Participants: %(doctor)s (doctor), %(patient)s (patient).")
        % {"doctor": booking.doctor.display_name, "patient": booking.patient.get_full_name()},
        _("Duration of the call: %(duration)s.") % {"duration": formatting.minutes(_call_minutes(booking))},
    ]
    for side, label in (("doctor", _("doctor's side")), ("patient", _("patient's side"))):
        summary = (booking.quality or {}).get(side)
        if not summary or not summary.get("samples"):
            lines.append(_("Connection quality (%(side)s): not measured.") % {"side": label})
            continue
        lines.append(
            _(
                "Connection quality (%(side)s): round-trip time %(rtt_avg)s ms on average (%(rtt_max)s ms at most), "
                "packet loss up to %(loss)s%%, video received at %(width)s×%(height)s."
            )
            % {
                "side": label,
                "rtt_avg": round(summary["rtt_sum"] / summary["samples"]),
                "rtt_max": round(summary["rtt_max"]),
                "loss": round(summary["loss_max"] * 100, 1),
                "width": summary.get("width", 0),
                "height": summary.get("height", 0),
            }
        )
    if booking.statement:
        lines.append(str(ExamStatement(booking.statement).label) + ".")
    return "\n".join(lines)


def _doctor_booking(actor, booking: Booking, *, lock: bool = True) -> Booking:
    booking = (
        _locked_booking(booking) if lock else Booking.objects.select_related("doctor", "patient").get(pk=booking.pk)
    )
    if actor.pk != booking.doctor_id:
        raise PermissionDenied
    return booking


@transaction.atomic
def visit_report_save(*, actor, booking: Booking, diagnosis: str, findings: str, statement: str, therapy=()):
    """The doctor's report draft for this visit (created on first save) and their statement; the
    report carries the prescribed therapy (``therapy``: reports' TherapyLine), as a consult's does."""
    from telemed.reports import services as reports
    from telemed.visits.models import ExamStatement

    booking = _doctor_booking(actor, booking)
    if booking.status not in (BookingStatus.IN_PROGRESS, BookingStatus.ENDED):
        raise ValidationError(_("The report is written once the call has started, until it is delivered."))
    if statement and statement not in ExamStatement.values:
        raise ValidationError({"statement": _("Choose whether the remote examination was adequate.")})
    content = reports.ReportContent(
        diagnosis=diagnosis or "", findings=findings or "", notes=visit_record_text(booking), therapy=tuple(therapy)
    )
    if booking.report is None:
        booking.report = reports.report_create(
            actor=actor, patient=booking.patient, kind="report", content=content, engagement=_engagement(booking)
        )
    else:
        reports.report_update(actor=actor, report=booking.report, content=content)
    booking.statement = statement or ""
    booking.save(update_fields=["report", "statement"])
    return booking.report


def visit_report_sign(*, actor, booking: Booking, code: str) -> Booking:
    """Sign the visit's report with the doctor's code: it is delivered to the patient's Welbox (by
    the reports app), the visit is delivered and becomes billable for 'Emetti fattura'."""
    from telemed.reports import services as reports

    booking = _doctor_booking(actor, booking, lock=False)
    if booking.status == BookingStatus.DELIVERED:
        raise ValidationError(_("This visit's report is already signed and delivered."))
    report = booking.report
    if report is None:
        raise ValidationError(_("Write the report before signing it."))
    if not booking.statement:
        raise ValidationError(
            _("State whether the remote examination was adequate or an in-person visit is needed, then sign.")
        )
    if booking.admitted_at is None:
        raise ValidationError(_("The call did not take place: there is nothing to report."))
    if report.is_draft:
        if booking.status == BookingStatus.IN_PROGRESS:
            visit_end(actor=actor, booking=booking)
            booking.refresh_from_db()
        # The record (duration, quality, statement) as it is at the moment of signing.
        content = reports.content_of(report)
        reports.report_update(
            actor=actor,
            report=report,
            content=reports.ReportContent(
                diagnosis=content.diagnosis, findings=content.findings, notes=visit_record_text(booking),
                therapy=content.therapy, nre=content.nre, nre_pin=content.nre_pin,
            ),
        )  # fmt: skip
        report.refresh_from_db()
        reports.report_sign(actor=actor, report=report, code=code, engagement=_engagement(booking))
    return _visit_deliver(actor=actor, booking=booking)


@transaction.atomic
def _visit_deliver(*, actor, booking: Booking) -> Booking:
    from telemed.billing.proformas import billable_service_register

    booking = _doctor_booking(actor, booking)
    if booking.status == BookingStatus.IN_PROGRESS:
        _transition(booking, BookingStatus.ENDED)
        booking.ended_at = timezone.now()
    _transition(booking, BookingStatus.DELIVERED)
    booking.delivered_at = timezone.now()
    booking.save(update_fields=["status", "ended_at", "delivered_at"])
    billable_service_register(
        doctor=booking.doctor.doctor_profile,
        patient=booking.patient,
        kind="video",
        duration_minutes=booking.duration_minutes,
        breakdown=pricing.Breakdown.from_dict(booking.breakdown),
        accepted_at=booking.accepted_at,
        source_label=_("Video visit of %(when)s")
        % {"when": timezone.localtime(booking.start, slots.ROME).strftime("%d/%m/%Y %H:%M")},
        source_url=booking_url(booking),
        source_key=_engagement(booking),
        delivered_at=booking.delivered_at,
    )
    notify(
        recipient=booking.patient,
        kind="visit_report",
        title=_("The report of your video visit is in your Welbox"),
        url=booking_url(booking),
    )
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
        _transition(booking, BookingStatus.CANCELLED)
        booking.cancelled_at, booking.cancelled_by = timezone.now(), user
        booking.save(update_fields=["status", "cancelled_at", "cancelled_by"])
        other = booking.patient if user.pk == booking.doctor_id else booking.doctor
        notify(
            recipient=other, kind="visit_cancelled", title=_("A video visit was cancelled"), url=booking_url(booking)
        )
        cancelled += 1
    return cancelled
