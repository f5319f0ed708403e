"""The live visit: the patient waits, the doctor admits them, the visit ends; the chat, the files
and the doctor's notes beside the call, and the call's quality figures."""

import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from telemed.notifications.realtime import push_on_commit
from telemed.notifications.services import notify
from telemed.visits.models import Booking, BookingStatus
from telemed.visits.services import booking_locked, booking_transition

MAX_CHAT = 4000
MAX_NOTES = 20000
MAX_ROOM_FILE_BYTES = 20 * 1024**2


def room_group(booking_id: int) -> str:
    return f"visit-room-{booking_id}"


def _room_booking(actor, booking: Booking) -> Booking:
    """The visit locked for a change made from its room: participants only, room open only."""
    from telemed.visits.selectors import room_get_for_user

    room_get_for_user(actor, booking.pk)  # raises Http404 / RoomClosed
    return booking_locked(booking)


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
        booking_transition(booking, BookingStatus.IN_PROGRESS)
    booking.admitted_at = booking.admitted_at or timezone.now()
    booking.save(update_fields=["status", "admitted_at"])
    push_on_commit(room_group(booking.pk), {"type": "room.admitted", "at": booking.admitted_at.isoformat()})
    return booking


@transaction.atomic
def visit_end(*, actor, booking: Booking) -> Booking:
    """The doctor closes the call; the report can still be written and signed afterwards."""
    booking = booking_locked(booking)
    if actor.pk != booking.doctor_id:
        raise PermissionDenied
    booking_transition(booking, BookingStatus.ENDED)
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
    booking = booking_locked(booking)
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
