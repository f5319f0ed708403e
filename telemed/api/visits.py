"""Video visits through the API: a doctor's free slots with the cost of each priced length, the
booking of one slot at the price seen, the negotiation of another date (the patient proposes,
each side accepts, rejects or proposes again), the visits of a person and the room's join data.
The same services and selectors as the booking, proposal and room pages.

The room itself (signalling and chat) is the WebSocket the room page opens, authenticated by the
browser's session: the join data say where it is and hand the ICE servers (with the TURN
credential of the moment) and the page's address."""

import datetime
from decimal import Decimal
from typing import Annotated, Literal

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _
from ninja import Router, Schema, Status
from pydantic import BaseModel, Field

from telemed.accounts.selectors import doctor_public_profile
from telemed.api.auth import access, scoped
from telemed.api.costs import Cost, cost_of
from telemed.api.errors import ERRORS
from telemed.api.paging import PageInfo, page_of
from telemed.api.params import IsoMoment, Text, Written, integer, object_id
from telemed.visits import availability as visit_availability
from telemed.visits import ice, selectors, services, slots
from telemed.visits.models import Booking, BookingStatus, DateProposal, ProposalAction, ProposalStatus

router = Router(tags=["visits"])

PAGE_SIZE = 30
Amount = Annotated[str, Field(pattern=r"^[0-9]{1,7}\.[0-9]{2}$")]
Slug = Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[-a-zA-Z0-9_]+$")]
Minutes = integer(1, 600)


class VisitPerson(Schema):
    id: int
    name: str


class Length(Schema):
    minutes: int
    patient_total: str


class SlotOut(Schema):
    # What a booking sends back to take this slot.
    key: str
    start: datetime.datetime
    end: datetime.datetime


class Slots(Schema):
    doctor: str
    doctor_name: str
    # The length quoted and listed, and every length the doctor prices, with its total.
    minutes: int
    lengths: list[Length]
    cost: Cost
    slots: list[SlotOut]


class VisitOut(Schema):
    id: int
    status: str
    status_label: str
    doctor: VisitPerson
    patient: VisitPerson
    start: datetime.datetime
    end: datetime.datetime
    duration_minutes: int
    patient_total: str
    # Whether the room can be entered now (from 10 minutes before the start).
    room_open: bool


class VisitPage(PageInfo):
    items: list[VisitOut]


class Step(Schema):
    author: VisitPerson
    action: str
    action_label: str
    start: datetime.datetime | None
    message: str
    created_at: datetime.datetime


class ProposalOut(Schema):
    id: int
    status: str
    status_label: str
    doctor: VisitPerson
    patient: VisitPerson
    start: datetime.datetime
    duration_minutes: int
    patient_total: str
    # The visit booked once a date is agreed.
    visit_id: int | None
    # Whose turn it is, as the proposal page says it: the person asking, the other side, or no one.
    my_turn: bool
    steps: list[Step]


class ProposalPage(PageInfo):
    items: list[ProposalOut]


class RoomJoin(Schema):
    visit_id: int
    is_doctor: bool
    # The room's WebSocket (signalling and chat), opened with the browser's session, and the page.
    websocket_path: str
    room_url: str
    ice_servers: list[dict]
    opens_at: datetime.datetime
    closes_at: datetime.datetime


class BookIn(BaseModel):  # a JSON object, never read off another shape
    doctor: Slug
    # A slot's ``key`` from the slots' list.
    slot: Annotated[str, Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}Z$")]
    minutes: Minutes | None = None
    # The total the patient accepted: a price changed since is refused.
    accepted_total: Amount


class ProposeIn(BaseModel):  # a JSON object, never read off another shape
    doctor: Slug
    start: IsoMoment
    message: Annotated[Written, Field(max_length=2000)]
    minutes: Minutes | None = None
    accepted_total: Amount


class ReplyIn(BaseModel):  # a JSON object, never read off another shape
    action: Literal["accept", "reject", "propose", "withdraw"]
    # The date proposed instead (``propose`` only).
    start: IsoMoment | None = None
    message: Annotated[Text, Field(max_length=2000)] = ""


def _person(user) -> dict:
    return {"id": user.pk, "name": user.display_name}


def _visit(booking: Booking) -> dict:
    return {
        "id": booking.pk,
        "status": booking.status,
        "status_label": str(BookingStatus(booking.status).label),
        "doctor": _person(booking.doctor),
        "patient": _person(booking.patient),
        "start": booking.start,
        "end": booking.end,
        "duration_minutes": booking.duration_minutes,
        "patient_total": str(booking.breakdown.get("patient_total") or "0.00"),
        "room_open": selectors.room_is_open(booking),
    }


def _turn(proposal: DateProposal) -> int | None:
    if proposal.status == ProposalStatus.WAITING_DOCTOR:
        return proposal.doctor_id
    if proposal.status == ProposalStatus.WAITING_PATIENT:
        return proposal.patient_id
    return None


def _proposal(proposal: DateProposal, viewer) -> dict:
    return {
        "id": proposal.pk,
        "status": proposal.status,
        "status_label": str(ProposalStatus(proposal.status).label),
        "doctor": _person(proposal.doctor),
        "patient": _person(proposal.patient),
        "start": proposal.start,
        "duration_minutes": proposal.duration_minutes,
        "patient_total": str(proposal.breakdown.get("patient_total") or "0.00"),
        "visit_id": proposal.booking_id,
        "my_turn": _turn(proposal) == viewer.pk,
        "steps": [
            {
                "author": _person(step.author),
                "action": step.action,
                "action_label": str(ProposalAction(step.action).label),
                "start": step.start,
                "message": step.message,
                "created_at": step.created_at,
            }
            for step in proposal.steps.select_related("author").order_by("created_at", "pk")
        ],
    }


def _patient_only(request: HttpRequest) -> None:
    if not request.user.is_patient:
        raise PermissionDenied


def _doctor(slug: str):
    return doctor_public_profile(slug).user


def _length(doctor, minutes: int | None) -> int:
    """As the booking page: a length the doctor prices, else the doctor's default one."""
    return services.visit_length(doctor, minutes if minutes in services.visit_lengths(doctor) else None)


@router.get(
    "/visit-slots",
    response={200: Slots, **ERRORS},
    auth=access("visits:read"),
    openapi_extra=scoped("visits:read"),
    summary="A doctor's free slots for a video visit, with its cost",
)
def visit_slots(
    request: HttpRequest,
    doctor: Annotated[str, Field(min_length=1, max_length=120)],
    minutes: Annotated[int, Field(ge=1, le=600)] | None = None,
):
    """The booking page's slots and prices: for the length asked (``minutes``, one of
    ``lengths``; the doctor's default otherwise), every free slot and every cost line. A doctor
    who takes no video visits now is a 409 saying so."""
    _patient_only(request)
    user = _doctor(doctor)
    length = _length(user, minutes)
    breakdown = services.visit_quote(doctor=user, minutes=length)
    return {
        "doctor": user.doctor_profile.slug,
        "doctor_name": user.display_name,
        "minutes": length,
        "lengths": [
            {"minutes": each, "patient_total": str(services.visit_quote(doctor=user, minutes=each).patient_total)}
            for each in services.visit_lengths(user)
        ],
        "cost": cost_of(breakdown),
        "slots": [
            {"key": slot.key, "start": slot.start, "end": slot.end}
            for slot in slots.free_slots(visit_availability.agenda_of(user), minutes=length)
        ],
    }


@router.get(
    "/visits",
    response={200: VisitPage, **ERRORS},
    auth=access("visits:read"),
    openapi_extra=scoped("visits:read"),
    summary="List video visits",
)
def visits_list(request: HttpRequest, page: str = "", past: bool = False):
    """The person's visits to come (or happening now), the soonest first; ``past=true``: the
    others, the latest first."""
    user = request.user
    visits = selectors.past_bookings_of(user) if past else selectors.upcoming_bookings_of(user).order_by("start")
    info, items = page_of(visits, page, PAGE_SIZE)
    return {**info.dict(), "items": [_visit(booking) for booking in items]}


@router.post(
    "/visits",
    response={201: VisitOut, **ERRORS},
    auth=access("visits:write"),
    openapi_extra=scoped("visits:write"),
    summary="Book a free slot",
)
def visit_book(request: HttpRequest, body: BookIn):
    """As the booking page: one of the free slots, at the total the patient accepted (a price
    changed since is refused, and says the new one)."""
    _patient_only(request)
    user = _doctor(body.doctor)
    start = slots.parse_slot_key(body.slot)
    if start is None:
        raise ValidationError({"slot": _("Choose one of the free slots.")})
    booking = services.booking_create(
        actor=request.user, doctor=user, start=start, accepted_total=Decimal(body.accepted_total),
        minutes=_length(user, body.minutes),
    )  # fmt: skip
    return Status(201, _visit(booking))


@router.get(
    "/visits/{visit_id}",
    response={200: VisitOut, **ERRORS},
    auth=access("visits:read"),
    openapi_extra=scoped("visits:read"),
    summary="Read a video visit",
)
def visit_detail(request: HttpRequest, visit_id: int = object_id()):
    return _visit(selectors.booking_get_for_user(request.user, visit_id))


@router.get(
    "/visits/{visit_id}/room",
    response={200: RoomJoin, **ERRORS},
    auth=access("visits:read"),
    openapi_extra=scoped("visits:read"),
    summary="What an app needs to join the visit's room",
)
def visit_room(request: HttpRequest, visit_id: int = object_id()):
    """Only the visit's two participants, only while its room is open (from 10 minutes before
    the start to 30 minutes after the end): else a 409 saying when it opens or why it is closed."""
    booking = selectors.room_get_for_user(request.user, visit_id)  # RoomClosed is a ValidationError: 409
    return {
        "visit_id": booking.pk,
        "is_doctor": request.user.pk == booking.doctor_id,
        "websocket_path": f"/ws/visits/{booking.pk}/",
        "room_url": request.build_absolute_uri(reverse("visits:room", args=[booking.pk])),
        "ice_servers": ice.ice_servers_for(request.user),
        "opens_at": booking.start - selectors.ROOM_OPENS_BEFORE,
        "closes_at": booking.end + selectors.ROOM_CLOSES_AFTER,
    }


@router.get(
    "/visit-proposals",
    response={200: ProposalPage, **ERRORS},
    auth=access("visits:read"),
    openapi_extra=scoped("visits:read"),
    summary="List date proposals",
)
def proposals_list(request: HttpRequest, page: str = ""):
    """The negotiations the person takes part in, the latest changed first."""
    info, items = page_of(selectors.proposals_of(request.user), page, PAGE_SIZE)
    return {**info.dict(), "items": [_proposal(proposal, request.user) for proposal in items]}


@router.post(
    "/visit-proposals",
    response={201: ProposalOut, **ERRORS},
    auth=access("visits:write"),
    openapi_extra=scoped("visits:write"),
    summary="Propose another date for a video visit",
)
def proposal_create(request: HttpRequest, body: ProposeIn):
    """As the booking page's proposal: a future date outside the free slots, a message for the
    doctor, at the total the patient accepted."""
    _patient_only(request)
    user = _doctor(body.doctor)
    proposal = services.proposal_create(
        actor=request.user, doctor=user, start=body.start, message=body.message,
        accepted_total=Decimal(body.accepted_total), minutes=_length(user, body.minutes),
    )  # fmt: skip
    return Status(201, _proposal(proposal, request.user))


@router.get(
    "/visit-proposals/{proposal_id}",
    response={200: ProposalOut, **ERRORS},
    auth=access("visits:read"),
    openapi_extra=scoped("visits:read"),
    summary="Read a date proposal and its steps",
)
def proposal_detail(request: HttpRequest, proposal_id: int = object_id()):
    return _proposal(selectors.proposal_get_for_user(request.user, proposal_id), request.user)


@router.post(
    "/visit-proposals/{proposal_id}/reply",
    response={200: ProposalOut, **ERRORS},
    auth=access("visits:write"),
    openapi_extra=scoped("visits:write"),
    summary="Accept, reject, withdraw or propose another date",
)
def proposal_reply(request: HttpRequest, body: ReplyIn, proposal_id: int = object_id()):
    """The side whose turn it is accepts (an agreed date becomes a visit: ``visit_id``), the
    doctor rejects, the patient withdraws, or either proposes another date (``start``)."""
    proposal = selectors.proposal_get_for_user(request.user, proposal_id)
    if body.action == "propose" and body.start is None:
        raise ValidationError({"start": _("Choose the date and time you propose.")})
    proposal = services.proposal_reply(
        actor=request.user, proposal=proposal, action=body.action, start=body.start, message=body.message
    )
    return _proposal(proposal, request.user)
