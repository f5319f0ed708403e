"""The health agenda through the API: the occurrences of a patient's reminders in a range of
days, the reminders themselves (a patient's own agenda, or those a doctor set for linked
patients), and creating, changing from an occurrence onwards and stopping one, as the agenda
pages allow.

A reminder sent here is read by the reminder page's own form (``ReminderForm``: the same fields,
the same parsing, the same messages on the same fields) and saved by the same services; the
rules of who may change what are the services' own."""

import datetime
from typing import Annotated, Literal

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, QueryDict
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema, Status
from pydantic import BaseModel, Field

from telemed.api.auth import access, scoped
from telemed.api.errors import ERRORS
from telemed.api.paging import PageInfo, page_of
from telemed.api.params import IsoDate, IsoMoment, ObjectId, Text, Written, integer, object_id
from telemed.care.selectors import linked_patients
from telemed.reminders import selectors, services
from telemed.reminders.forms import ReminderForm
from telemed.reminders.models import Reminder, ReminderKind
from telemed.reminders.recurrence import Recurrence
from telemed.reminders.schedule import local_midnight

router = Router(tags=["agenda"])

PAGE_SIZE = 50
# The agenda page shows a month at most (six weeks); an app may ask a quarter at once.
MAX_DAYS = 92


class AgendaPerson(Schema):
    id: int
    name: str


class ReminderOut(Schema):
    id: int
    kind: str
    kind_label: str
    title: str
    notes: str
    # The recurrence said in words, as the agenda shows it ("every day at 08:00 and 20:00").
    description: str
    patient: AgendaPerson
    # The doctor who set it; None for the patient's own memo.
    set_by: AgendaPerson | None
    active: bool
    muted: bool
    next_at: datetime.datetime | None
    # Who set a reminder changes or stops it (a doctor only while linked to the patient).
    can_edit: bool


class ReminderPage(PageInfo):
    items: list[ReminderOut]


class Delivery(Schema):
    occurrence: datetime.datetime
    status: str
    taken: bool


class ReminderDetail(ReminderOut):
    # The latest occurrences that came due, with whether the dose was marked as taken.
    deliveries: list[Delivery]


class OccurrenceOut(Schema):
    reminder_id: int
    title: str
    kind: str
    at: datetime.datetime
    # The delivery's status once due ("sent", "muted", …), None before.
    status: str | None
    late: bool
    taken: bool
    can_take: bool
    can_edit_from: bool


class OccurrenceQuery(Schema):
    # Days in Italy's time, both included.
    start: datetime.date
    end: datetime.date


Time = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class ReminderIn(BaseModel):  # a JSON object, never read off another shape
    """The reminder page's form, field for field."""

    # A doctor sets it for this linked patient; a patient's own memo names none.
    patient_id: ObjectId | None = None
    kind: Literal["therapy", "appointment", "follow_up", "other"] = "therapy"
    title: Annotated[Written, Field(max_length=120)]
    notes: Annotated[Text, Field(max_length=1000)] = ""
    start_date: IsoDate
    times: Annotated[list[Time], Field(min_length=1, max_length=12)]
    frequency: Literal["once", "daily", "weekly", "monthly"] = "daily"
    interval: integer(1, 365) = 1
    weekdays: Annotated[list[integer(0, 6)], Field(max_length=7)] = []
    monthly_mode: Literal["day", "weekday", "last_day", "last_weekday"] = "day"
    end: Literal["never", "until", "count"] = "never"
    until: IsoDate | None = None
    count: integer(1, 1000) | None = None


class ReminderChangeIn(ReminderIn):
    # The occurrence from which the change applies (those before stay as they were); none: the next one.
    from_occurrence: IsoMoment | None = None


def _person(user) -> dict:
    return {"id": user.pk, "name": user.display_name}


def _reminder(reminder: Reminder, viewer) -> dict:
    is_patient = reminder.patient_id == viewer.pk
    return {
        "id": reminder.pk,
        "kind": reminder.kind,
        "kind_label": str(ReminderKind(reminder.kind).label),
        "title": reminder.title,
        "notes": reminder.notes,
        "description": Recurrence.of(reminder).describe(),
        "patient": _person(reminder.patient),
        "set_by": _person(reminder.doctor) if reminder.doctor_id else None,
        "active": reminder.is_active,
        "muted": reminder.muted_at is not None,
        "next_at": reminder.next_fire_at,
        # As the reminder page offers its edit button.
        "can_edit": reminder.is_active and (reminder.doctor_id == viewer.pk if reminder.doctor_id else is_patient),
    }


def _form(request: HttpRequest, body: ReminderIn, *, new: bool) -> ReminderForm:
    """The page's form, filled with what the app sent (a list is several values of one field).
    As on the page, a doctor names the patient of a new reminder only."""
    data = QueryDict(mutable=True)
    for field, value in body.model_dump(exclude={"from_occurrence"}).items():
        name = "patient" if field == "patient_id" else field
        if value is None:
            continue
        if isinstance(value, list):
            data.setlist(name, [str(item) for item in value])
        else:
            data[name] = value.isoformat() if isinstance(value, datetime.date) else str(value)
    user = request.user
    form = ReminderForm(data, patients=linked_patients(user) if new and user.is_doctor else None)
    if not form.is_valid():
        raise ValidationError(
            {("patient_id" if field == "patient" else field): errors for field, errors in form.errors.as_data().items()}
        )
    return form


@router.get(
    "/agenda/occurrences",
    response={200: list[OccurrenceOut], **ERRORS},
    auth=access("agenda:read"),
    openapi_extra=scoped("agenda:read"),
    summary="The occurrences of the patient's agenda in a range of days",
)
def agenda_occurrences(request: HttpRequest, days: Query[OccurrenceQuery]):
    """Every occurrence between the two days (Italy's time, both included), in order, with its
    state, as the agenda's week and month show them."""
    if not request.user.is_patient:
        raise PermissionDenied
    if not (2000 <= days.start.year and days.end.year <= 2100):  # as the agenda page reads its dates
        raise ValidationError({"start": _("Choose days between the years 2000 and 2100.")})
    if days.end < days.start:
        raise ValidationError({"end": _("The end date is before the start date.")})
    if (days.end - days.start).days >= MAX_DAYS:
        raise ValidationError({"end": _("Ask for at most %(days)d days at a time.") % {"days": MAX_DAYS}})
    start = local_midnight(days.start)
    end = local_midnight(days.end + datetime.timedelta(days=1))
    return [
        {
            "reminder_id": occurrence.reminder.pk,
            "title": occurrence.reminder.title,
            "kind": occurrence.reminder.kind,
            "at": occurrence.at,
            "status": occurrence.status,
            "late": occurrence.late,
            "taken": occurrence.taken,
            "can_take": occurrence.can_take,
            "can_edit_from": occurrence.can_edit_from,
        }
        for occurrence in selectors.agenda_occurrences(request.user, start, end)
    ]


@router.get(
    "/reminders",
    response={200: ReminderPage, **ERRORS},
    auth=access("agenda:read"),
    openapi_extra=scoped("agenda:read"),
    summary="List reminders",
)
def reminders_list(request: HttpRequest, page: str = ""):
    """A patient's live reminders, their own and their doctors', the next due first; a doctor's
    live reminders for the patients still linked to them."""
    user = request.user
    if user.is_doctor:
        reminders = selectors.reminders_set_by(user)
    elif user.is_patient:
        reminders = selectors.reminders_in_agenda(user).select_related("patient")
    else:
        raise PermissionDenied
    info, items = page_of(reminders, page, PAGE_SIZE)
    return {**info.dict(), "items": [_reminder(reminder, user) for reminder in items]}


@router.post(
    "/reminders",
    response={201: ReminderOut, **ERRORS},
    auth=access("agenda:write"),
    openapi_extra=scoped("agenda:write"),
    summary="Set a reminder",
)
def reminder_create(request: HttpRequest, body: ReminderIn):
    """A patient's memo in their own agenda, or a doctor's reminder for a linked patient
    (``patient_id``), who is notified."""
    user = request.user
    if not (user.is_patient or user.is_doctor):
        raise PermissionDenied
    form = _form(request, body, new=True)
    patient = form.cleaned_data["patient"] if user.is_doctor else user
    reminder = services.reminder_create(actor=user, patient=patient, text=form.text(), recurrence=form.recurrence())
    return Status(201, _reminder(reminder, user))


@router.get(
    "/reminders/{reminder_id}",
    response={200: ReminderDetail, **ERRORS},
    auth=access("agenda:read"),
    openapi_extra=scoped("agenda:read"),
    summary="Read a reminder",
)
def reminder_detail(request: HttpRequest, reminder_id: int = object_id()):
    reminder = selectors.reminder_get_for_user(request.user, reminder_id)
    return {
        **_reminder(reminder, request.user),
        "deliveries": [
            {"occurrence": item["delivery"].occurrence, "status": item["delivery"].status, "taken": item["taken"]}
            for item in selectors.deliveries_of(reminder)
        ],
    }


@router.put(
    "/reminders/{reminder_id}",
    response={200: ReminderOut, **ERRORS},
    auth=access("agenda:write"),
    openapi_extra=scoped("agenda:write"),
    summary="Change a reminder from an occurrence onwards",
)
def reminder_change(request: HttpRequest, body: ReminderChangeIn, reminder_id: int = object_id()):
    """As the reminder page's edit: the occurrences before ``from_occurrence`` stay as they were,
    and the answer is the reminder as it goes on (a new one when the change starts later than
    its first occurrence). A patient cannot change what their doctor set (they can mute it)."""
    reminder = selectors.reminder_get_for_user(request.user, reminder_id)
    form = _form(request, body, new=False)
    changed = services.reminder_edit_from(
        actor=request.user,
        reminder=reminder,
        occurrence=body.from_occurrence,
        text=form.text(),
        recurrence=form.recurrence(),
    )
    return _reminder(changed, request.user)


@router.delete(
    "/reminders/{reminder_id}",
    response={200: ReminderOut, **ERRORS},
    auth=access("agenda:write"),
    openapi_extra=scoped("agenda:write"),
    summary="Stop a reminder",
)
def reminder_stop(request: HttpRequest, reminder_id: int = object_id()):
    """As the page's "Stop": nothing more is sent; what was delivered stays in the agenda."""
    reminder = selectors.reminder_get_for_user(request.user, reminder_id)
    return _reminder(services.reminder_stop(actor=request.user, reminder=reminder), request.user)
