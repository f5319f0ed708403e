"""Info requests through the API: the patient asks a doctor's office a free administrative
question, lists and reads their own; the office (the doctor's secretaries, or the doctor who has
none) lists its inbox, answers and rejects. The same selectors and services as the pages: a
rejection e-mails the patient the link that turns the question into a consult, as from the inbox."""

import datetime
import uuid
from typing import Annotated, Literal

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from ninja import Router, Schema, Status
from pydantic import BaseModel, Field

from telemed.accounts import selectors as accounts
from telemed.api.auth import access, scoped
from telemed.api.errors import ERRORS
from telemed.api.paging import PageInfo, page_of
from telemed.api.params import Written, object_id
from telemed.consults import info_requests as consult_info_requests
from telemed.consults import selectors
from telemed.consults.models import InfoRequest, InfoStatus

router = Router(tags=["info requests"])

PAGE_SIZE = 30


class Office(Schema):
    # The doctor's profile: ``id`` chooses the inbox, ``slug`` is the directory's.
    id: int
    slug: str
    name: str


class InfoPerson(Schema):
    id: int
    name: str


class InfoRequestOut(Schema):
    id: int
    doctor: Office
    patient: InfoPerson
    text: str
    status: str
    status_label: str
    answer: str
    created_at: datetime.datetime
    handled_at: datetime.datetime | None


class InfoPage(PageInfo):
    # For the office: the doctors whose inbox the person handles, and the one listed.
    doctors: list[Office]
    doctor_id: int | None
    items: list[InfoRequestOut]


class InfoIn(BaseModel):  # a JSON object, never read off another shape
    doctor: Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[-a-zA-Z0-9_]+$")]
    # The form's own limit.
    text: Annotated[Written, Field(max_length=4000)]
    # The same request sent twice (a retry) stores one: a new key for each question.
    key: uuid.UUID


class InfoAnswerIn(BaseModel):  # a JSON object, never read off another shape
    answer: Annotated[Written, Field(max_length=4000)]


def _office(doctor) -> dict:
    return {"id": doctor.pk, "slug": doctor.slug, "name": doctor.user.display_name}


def _info(info: InfoRequest) -> dict:
    return {
        "id": info.pk,
        "doctor": _office(info.doctor),
        "patient": {"id": info.patient_id, "name": info.patient.display_name},
        "text": info.text,
        "status": info.status,
        "status_label": str(InfoStatus(info.status).label),
        "answer": info.answer,
        "created_at": info.created_at,
        "handled_at": info.handled_at,
    }


def _for_handler(user, info_id: int) -> InfoRequest:
    return selectors.info_get_for_handler(user, info_id)


@router.get(
    "/info-requests",
    response={200: InfoPage, **ERRORS},
    auth=access("info:read"),
    openapi_extra=scoped("info:read"),
    summary="List Info requests",
)
def info_list(
    request: HttpRequest,
    page: str = "",
    doctor: str = "",
    status: Literal["open", "answered", "rejected"] = "open",
):
    """A patient's own Info requests, newest first. For a secretary or a doctor, the inbox of one
    doctor (``doctor``: the id of one of ``doctors``, the first when not given) in one ``status``:
    the open ones oldest first, the handled ones the latest handled first."""
    user = request.user
    if user.is_patient:
        info, items = page_of(selectors.info_list_for_patient(user), page, PAGE_SIZE)
        return {**info.dict(), "doctors": [], "doctor_id": None, "items": [_info(item) for item in items]}
    doctors = list(selectors.info_doctors_for(user))
    if not doctors:
        if not user.is_secretary:  # as the inbox page: a secretary no doctor has added yet sees it empty
            raise PermissionDenied
        info, items = page_of(InfoRequest.objects.none(), page, PAGE_SIZE)
        return {**info.dict(), "doctors": [], "doctor_id": None, "items": []}
    chosen = next((d for d in doctors if str(d.pk) == doctor), doctors[0])
    requests = selectors.info_inbox(user, chosen, status=status)
    if status != InfoStatus.OPEN:
        requests = requests.order_by("-handled_at", "-pk")
    info, items = page_of(requests, page, PAGE_SIZE)
    return {
        **info.dict(),
        "doctors": [_office(d) for d in doctors],
        "doctor_id": chosen.pk,
        "items": [_info(item) for item in items],
    }


@router.post(
    "/info-requests",
    response={201: InfoRequestOut, 200: InfoRequestOut, **ERRORS},
    auth=access("info:write"),
    openapi_extra=scoped("info:write"),
    summary="Send an Info request to a doctor's office",
)
def info_send(request: HttpRequest, body: InfoIn):
    """201 with the new request; 200 with the first one when the same ``key`` was sent before."""
    if not request.user.is_patient:
        raise PermissionDenied
    doctor = accounts.doctor_public_profile(body.doctor)
    known = InfoRequest.objects.filter(idempotency_key=body.key, patient=request.user).exists()
    info = consult_info_requests.info_request_send(
        actor=request.user, doctor=doctor, text=body.text, idempotency_key=body.key
    )
    return Status(200 if known else 201, _info(info))


@router.get(
    "/info-requests/{info_id}",
    response={200: InfoRequestOut, **ERRORS},
    auth=access("info:read"),
    openapi_extra=scoped("info:read"),
    summary="Read an Info request",
)
def info_detail(request: HttpRequest, info_id: int = object_id()):
    user = request.user
    if user.is_patient:
        found = selectors.info_get_for_patient(user, info_id)
        if found is None:
            raise Http404
        return _info(found)
    return _info(_for_handler(user, info_id))


@router.post(
    "/info-requests/{info_id}/answer",
    response={200: InfoRequestOut, **ERRORS},
    auth=access("info:write"),
    openapi_extra=scoped("info:write"),
    summary="The office answers an Info request",
)
def info_answer(request: HttpRequest, body: InfoAnswerIn, info_id: int = object_id()):
    info = _for_handler(request.user, info_id)
    return _info(consult_info_requests.info_request_answer(actor=request.user, info=info, answer=body.answer))


@router.post(
    "/info-requests/{info_id}/reject",
    response={200: InfoRequestOut, **ERRORS},
    auth=access("info:write"),
    openapi_extra=scoped("info:write"),
    summary="The office rejects an Info request that asks for clinical advice",
)
def info_reject(request: HttpRequest, info_id: int = object_id()):
    """As the inbox's button: the patient is e-mailed a link that opens a consult request to the
    same doctor with the question already in it."""
    info = _for_handler(request.user, info_id)
    return _info(consult_info_requests.info_request_reject(actor=request.user, info=info))
