"""Consults through the API: the patient's own and the doctor's queue, one consult with its
thread, a message, and the doctor's answer drafted as the report it will be.

The same selectors and services as the pages. Signing stays in the web signing flow (the
signing app's code is asked on the platform's own page): the answer endpoint saves the draft and
says where to sign it."""

import dataclasses
import datetime
import uuid
from decimal import Decimal
from typing import Annotated, Literal

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.urls import reverse
from ninja import Router, Schema, Status
from pydantic import BaseModel, Field

from telemed.accounts import selectors as accounts
from telemed.api.auth import access, scoped
from telemed.api.costs import Cost, cost_of
from telemed.api.errors import ERRORS, FILE_CONTENT
from telemed.api.paging import PageInfo, page_of
from telemed.api.params import Flag, ObjectId, Text, Written, object_id
from telemed.audit.models import AuditAction
from telemed.audit.services import audit_record
from telemed.boxes.services import document_opened
from telemed.boxes.views import document_file_response
from telemed.consults import selectors, services
from telemed.consults.models import Consult, ConsultStatus
from telemed.reports import services as reports

router = Router(tags=["consults"])

PAGE_SIZE = 30


class Person(Schema):
    id: int
    name: str


class ConsultSummary(Schema):
    id: int
    status: str
    status_label: str
    service_kind: str
    doctor: Person
    patient: Person
    accepted_at: datetime.datetime
    deadline: datetime.datetime
    answered_at: datetime.datetime | None
    overdue: bool
    # Machine-readable amount: str(Decimal), euros with two places.
    patient_total: str


class ConsultPage(PageInfo):
    items: list[ConsultSummary]


class Attachment(Schema):
    id: int
    name: str
    size: int
    mime: str
    download_url: str


class Message(Schema):
    id: int
    sender: Person
    from_doctor: bool
    text: str
    created_at: datetime.datetime
    attachments: list[Attachment]


class Report(Schema):
    kind: str
    status: str
    # The doctor's page where the draft is finished and signed; the signed PDF for both parties.
    sign_url: str | None
    pdf_url: str | None


class ConsultDetail(ConsultSummary):
    question: str
    decline_reason: str
    request_attachments: list[Attachment]
    messages: list[Message]
    report: Report | None


class MessageIn(BaseModel):  # a JSON object, never read off another shape
    # The thread's own rules, stated for clients: something written, at most 8000 characters.
    text: Annotated[Written, Field(max_length=8000)]


class AnswerIn(BaseModel):  # a JSON object, never read off another shape
    kind: Literal["report", "prescription"] = "report"
    # The report's own limits (reports.services).
    diagnosis: Annotated[Text, Field(max_length=4000)] = ""
    findings: Annotated[Text, Field(max_length=8000)] = ""
    notes: Annotated[Text, Field(max_length=4000)] = ""


class Offer(Schema):
    kind: str
    label: str
    # The tariff version priced: the request names it (with the total) to accept this quote.
    tariff_id: int
    # When the answer is due if the consult is sent now.
    deadline: datetime.datetime
    response_value: int
    response_unit: str
    cost: Cost


class Quote(Schema):
    doctor: str
    doctor_name: str
    offers: list[Offer]


Amount = Annotated[str, Field(pattern=r"^[0-9]{1,7}\.[0-9]{2}$")]


class ConsultRequestIn(BaseModel):  # a JSON object, never read off another shape
    doctor: Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[-a-zA-Z0-9_]+$")]
    kind: Literal["base", "imaging", "priority"]
    # The quote accepted: its tariff version and its total, both as the quote gave them.
    tariff_id: ObjectId
    patient_total: Amount
    accept_terms: Flag
    question: Annotated[Written, Field(max_length=8000)]
    # Documents and radiology studies of the patient's Welbox that go with it.
    document_ids: Annotated[list[ObjectId], Field(max_length=50)] = []
    study_ids: Annotated[list[ObjectId], Field(max_length=50)] = []
    # The Info request the question comes from, when the office rejected it as clinical.
    from_info_id: ObjectId | None = None
    # The same request sent twice (a retry) sends one consult: a new key for each consult.
    key: uuid.UUID


class AnswerDraft(Schema):
    consult_id: int
    report_status: str
    sign_url: str


def _person(user) -> dict:
    return {"id": user.pk, "name": user.display_name}


def _summary(consult: Consult) -> dict:
    return {
        "id": consult.pk,
        "status": consult.status,
        "status_label": str(ConsultStatus(consult.status).label),
        "service_kind": consult.service_kind,
        "doctor": _person(consult.doctor.user),
        "patient": _person(consult.patient),
        "accepted_at": consult.accepted_at,
        "deadline": consult.deadline,
        "answered_at": consult.answered_at,
        "overdue": consult.is_overdue,
        "patient_total": str(consult.patient_total),
    }


def _attachment(request: HttpRequest, consult: Consult, attachment) -> dict:
    url = reverse("api-v1:consult_attachment", args=[consult.pk, attachment.pk])
    return {
        "id": attachment.pk,
        "name": attachment.name,
        "size": attachment.size,
        "mime": attachment.mime,
        "download_url": request.build_absolute_uri(url),
    }


def _report(request: HttpRequest, consult: Consult, viewer) -> dict | None:
    report = consult.report
    if report is None or report.status == "discarded":
        return None
    is_doctor = viewer.pk == consult.doctor.user_id
    if report.status != "signed" and not is_doctor:
        return None  # a draft is the doctor's own until it is signed
    return {
        "kind": report.kind,
        "status": report.status,
        "sign_url": request.build_absolute_uri(reverse("reports:edit", args=[report.public_id]))
        if is_doctor and report.status == "draft"
        else None,
        "pdf_url": request.build_absolute_uri(reverse("reports:pdf", args=[report.public_id]))
        if report.status == "signed"
        else None,
    }


def _detail(request: HttpRequest, consult: Consult) -> dict:
    viewer = request.user
    return {
        **_summary(consult),
        "question": consult.question,
        "decline_reason": consult.decline_reason,
        "request_attachments": [
            _attachment(request, consult, a) for a in selectors.consult_request_attachments(consult, viewer=viewer)
        ],
        "messages": [
            {
                "id": message.pk,
                "sender": _person(message.sender),
                "from_doctor": message.sender_id == consult.doctor.user_id,
                "text": message.text,
                "created_at": message.created_at,
                "attachments": [_attachment(request, consult, a) for a in message.attachments.all()],
            }
            for message in selectors.consult_messages(consult, viewer=viewer)
        ],
        "report": _report(request, consult, viewer),
    }


@router.get(
    "/consults",
    response={200: ConsultPage, **ERRORS},
    auth=access("consults:read"),
    openapi_extra=scoped("consults:read"),
    summary="List consults",
)
def consults_list(request: HttpRequest, page: str = "", closed: bool = False):
    """A patient's own consults, newest first; a doctor's queue (open consults, priority first, by
    deadline; ``closed=true`` adds the answered and ended ones)."""
    user = request.user
    if user.is_doctor:
        consults = selectors.consult_queue_for_doctor(user, include_closed=closed)
    elif user.is_patient:
        consults = selectors.consult_list_for_user(user)
    else:
        raise PermissionDenied
    info, items = page_of(consults, page, PAGE_SIZE)
    return {**info.dict(), "items": [_summary(consult) for consult in items]}


def _patient_only(request: HttpRequest) -> None:
    if not request.user.is_patient:
        raise PermissionDenied


@router.get(
    "/consult-quote",
    response={200: Quote, **ERRORS},
    auth=access("consults:read"),
    openapi_extra=scoped("consults:read"),
    summary="What each kind of consult with a doctor costs now, and when it would be answered",
)
def consult_quote(request: HttpRequest, doctor: Annotated[str, Field(min_length=1, max_length=120)]):
    """The offers of the request page, every cost line as the page shows it. To send a consult,
    the request names the offer's ``tariff_id`` and ``cost.patient_total``: if the price or the
    response time changed since, it is refused and a new quote is needed."""
    _patient_only(request)
    profile = accounts.doctor_public_profile(doctor)
    return {
        "doctor": profile.slug,
        "doctor_name": profile.user.display_name,
        "offers": [
            {
                "kind": offer.kind,
                "label": offer.label,
                "tariff_id": offer.tariff_id,
                "deadline": offer.deadline,
                "response_value": offer.response_value,
                "response_unit": offer.response_unit,
                "cost": cost_of(offer.breakdown),
            }
            for offer in services.consult_offers(profile)
        ],
    }


@router.post(
    "/consults",
    response={201: ConsultSummary, 200: ConsultSummary, **ERRORS},
    auth=access("consults:write"),
    openapi_extra=scoped("consults:write"),
    summary="Send a consult request, accepting a quote",
)
def consult_send(request: HttpRequest, body: ConsultRequestIn):
    """The request page's checks, by the same service: the offer still priced as quoted, the
    terms accepted, the question, the documents and studies the patient's own (and shared
    through the shared clinical space). 201 with the new consult; 200 with the first one when
    the same ``key`` was sent before."""
    _patient_only(request)
    profile = accounts.doctor_public_profile(body.doctor)
    draft = services.ConsultDraft(
        kind=body.kind, question=body.question, document_ids=tuple(body.document_ids),
        study_ids=tuple(body.study_ids), shown_tariff_id=body.tariff_id,
        shown_patient_total=Decimal(body.patient_total), accepted_terms=body.accept_terms,
        from_info_id=body.from_info_id, idempotency_key=body.key,
    )  # fmt: skip
    consult, created = services.consult_request(actor=request.user, doctor=profile, draft=draft)
    return Status(201 if created else 200, _summary(consult))


@router.get(
    "/consults/{consult_id}",
    response={200: ConsultDetail, **ERRORS},
    auth=access("consults:read"),
    openapi_extra=scoped("consults:read"),
    summary="Read a consult and its thread",
)
def consult_detail(request: HttpRequest, consult_id: int = object_id()):
    consult = selectors.consult_get_for_user(request.user, consult_id)
    # The question and the thread are clinical: the patient sees who read them through the API.
    audit_record(actor=request.user, action=AuditAction.VIEW, target=consult, patient=consult.patient, request=request)
    return _detail(request, consult)


@router.post(
    "/consults/{consult_id}/messages",
    response={201: Message, **ERRORS},
    auth=access("consults:write"),
    openapi_extra=scoped("consults:write"),
    summary="Write in a consult's thread",
)
def consult_message(request: HttpRequest, body: MessageIn, consult_id: int = object_id()):
    consult = selectors.consult_get_for_user(request.user, consult_id)
    message = services.consult_message_send(actor=request.user, consult=consult, text=body.text)
    return Status(
        201,
        {
            "id": message.pk,
            "sender": _person(message.sender),
            "from_doctor": message.sender_id == consult.doctor.user_id,
            "text": message.text,
            "created_at": message.created_at,
            "attachments": [],
        },
    )


@router.post(
    "/consults/{consult_id}/start",
    response={200: ConsultSummary, **ERRORS},
    auth=access("consults:write"),
    openapi_extra=scoped("consults:write"),
    summary="The doctor starts working on a consult",
)
def consult_start(request: HttpRequest, consult_id: int = object_id()):
    consult = selectors.consult_get_for_user(request.user, consult_id)
    return _summary(services.consult_start(actor=request.user, consult=consult))


@router.put(
    "/consults/{consult_id}/answer",
    response={200: AnswerDraft, **ERRORS},
    auth=access("consults:write"),
    openapi_extra=scoped("consults:write"),
    summary="The doctor drafts the answer; it is signed on the website",
)
def consult_answer_draft(request: HttpRequest, body: AnswerIn, consult_id: int = object_id()):
    """Write the text of the report (or prescription) that answers the consult. The answer reaches
    the patient only once signed: ``sign_url`` is the page where the doctor signs it with the
    signing app's code. A prescription's therapy lines are kept as the editor left them."""
    consult = selectors.consult_get_for_user(request.user, consult_id)
    consult = services.consult_report_start(actor=request.user, consult=consult, kind=body.kind)
    report = consult.report
    content = dataclasses.replace(
        reports.content_of(report), diagnosis=body.diagnosis, findings=body.findings, notes=body.notes
    )
    reports.report_update(actor=request.user, report=report, content=content)
    return {
        "consult_id": consult.pk,
        "report_status": report.status,
        "sign_url": request.build_absolute_uri(reverse("reports:edit", args=[report.public_id])),
    }


@router.get(
    "/consults/{consult_id}/attachments/{attachment_id}",
    response=ERRORS,
    auth=access("consults:read"),
    url_name="consult_attachment",
    summary="Download an attachment of a consult",
    openapi_extra=scoped("consults:read", responses={"200": {"description": "The file", "content": FILE_CONTENT}}),
)
def consult_attachment(request: HttpRequest, consult_id: int = object_id(), attachment_id: int = object_id()):
    consult = selectors.consult_get_for_user(request.user, consult_id)
    document = selectors.attachment_for_user(request.user, consult, attachment_id)
    document_opened(actor=request.user, document=document, action=AuditAction.DOWNLOAD, request=request)
    return document_file_response(document, inline=False)
