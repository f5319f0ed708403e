"""Conversations through the API (a doctor with a linked patient, doctors among themselves in
Intramed): the list with what is unread, a conversation's messages a page at a time (reading the
newest page moves the read position, as the conversation page does), a message sent with
documents of one's box, and an attachment's download. The same selectors and services as the
messaging pages; a download is in the patient's access log, as from the page."""

import datetime
from typing import Annotated

from django.http import HttpRequest
from django.urls import reverse
from ninja import Router, Schema, Status
from pydantic import BaseModel, Field

from telemed.api.auth import access, scoped
from telemed.api.errors import ERRORS, FILE_CONTENT
from telemed.api.paging import PageInfo, page_of
from telemed.api.params import ObjectId, Written, object_id
from telemed.audit.models import AuditAction
from telemed.boxes.services import document_opened
from telemed.boxes.views import document_file_response
from telemed.messaging import selectors, services
from telemed.messaging.models import Conversation, ConversationKind, Message
from telemed.notifications.services import notification_mark_read_for_url

router = Router(tags=["conversations"])

PAGE_SIZE = 30


class Participant(Schema):
    id: int
    name: str


class ConversationOut(Schema):
    id: int
    kind: str
    kind_label: str
    subject: str
    participants: list[Participant]
    last_message_at: datetime.datetime | None
    unread: int
    # Whether the patient may write (a doctor-patient conversation: the doctor's choice).
    patient_replies_allowed: bool


class ConversationPage(PageInfo):
    items: list[ConversationOut]


class MessageAttachment(Schema):
    id: int
    name: str
    # A radiology study opens in the website's viewer; a document downloads through the API.
    study: bool
    url: str


class MessageOut(Schema):
    id: int
    sender: Participant
    text: str
    created_at: datetime.datetime
    attachments: list[MessageAttachment]
    # The key it was sent with, if any.
    key: str | None


class MessagesPage(Schema):
    items: list[MessageOut]
    # Pass as ``before`` for the page of older messages; None: this is the oldest.
    older: int | None
    # Each other participant's newest message read, for read receipts.
    read_up_to: dict[str, int]


class ConversationMessageIn(BaseModel):  # a JSON object, never read off another shape
    # The service's limit (messaging.models.MAX_MESSAGE_LENGTH), stated for clients.
    text: Annotated[Written, Field(max_length=20000)]
    # Documents of the sender's box, shared with the conversation.
    document_ids: Annotated[list[ObjectId], Field(max_length=10)] = []
    # The client's own name for this message: sending again with the same key (after a lost
    # answer) returns the message already stored instead of a second one.
    key: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")] | None = None


def _conversation(conversation: Conversation) -> dict:
    return {
        "id": conversation.pk,
        "kind": conversation.kind,
        "kind_label": str(ConversationKind(conversation.kind).label),
        "subject": conversation.subject,
        "participants": [{"id": p.user_id, "name": p.user.display_name} for p in conversation.participants.all()],
        "last_message_at": conversation.last_message_at,
        "unread": getattr(conversation, "unread", 0),
        "patient_replies_allowed": conversation.patient_replies_allowed,
    }


def _attachment_url(request: HttpRequest, attachment) -> str:
    if attachment.study_id:
        return request.build_absolute_uri(services.attachment_url(attachment))
    return request.build_absolute_uri(reverse("api-v1:conversation_attachment", args=[attachment.pk]))


def _message(request: HttpRequest, message: Message) -> dict:
    return {
        "id": message.pk,
        "sender": {"id": message.sender_id, "name": message.sender.display_name},
        "text": message.text,
        "created_at": message.created_at,
        "key": message.client_key or None,
        "attachments": [
            {"id": a.pk, "name": a.name, "study": bool(a.study_id), "url": _attachment_url(request, a)}
            for a in message.attachments.all()
        ],
    }


@router.get(
    "/conversations",
    response={200: ConversationPage, **ERRORS},
    auth=access("messages:read"),
    openapi_extra=scoped("messages:read"),
    summary="List conversations",
)
def conversations_list(request: HttpRequest, page: str = ""):
    """The person's conversations, the latest activity first, each with its unread count."""
    info, items = page_of(selectors.conversations_for(request.user), page, PAGE_SIZE)
    return {**info.dict(), "items": [_conversation(conversation) for conversation in items]}


@router.get(
    "/conversations/{conversation_id}",
    response={200: ConversationOut, **ERRORS},
    auth=access("messages:read"),
    openapi_extra=scoped("messages:read"),
    summary="Read a conversation's details",
)
def conversation_detail(request: HttpRequest, conversation_id: int = object_id()):
    conversation = selectors.conversation_get_for_user(request.user, conversation_id)
    found = selectors.conversations_for(request.user).filter(pk=conversation.pk).first()
    return _conversation(found)


@router.get(
    "/conversations/{conversation_id}/messages",
    response={200: MessagesPage, **ERRORS},
    auth=access("messages:read"),
    openapi_extra=scoped("messages:read"),
    summary="Read a conversation's messages",
)
def conversation_messages(request: HttpRequest, before: int | None = None, conversation_id: int = object_id()):
    """The newest page of messages, oldest first (``before``: the page before that message). As
    on the conversation page, reading the newest page marks the conversation read."""
    conversation = selectors.conversation_get_for_user(request.user, conversation_id)
    before = before if before and before > 0 else None
    history = selectors.messages_page(conversation, viewer=request.user, before_id=before)
    if history and before is None:
        services.conversation_mark_read(actor=request.user, conversation=conversation, up_to_message_id=history[-1].pk)
        notification_mark_read_for_url(
            actor=request.user, url=reverse("messaging:conversation", args=[conversation.pk])
        )
    positions = selectors.read_positions(conversation)
    return {
        "items": [_message(request, message) for message in history],
        "older": history[0].pk if len(history) == selectors.PAGE_SIZE else None,
        "read_up_to": {
            str(user.pk): positions.get(user.pk, 0) for user in selectors.other_participants(conversation, request.user)
        },
    }


@router.post(
    "/conversations/{conversation_id}/messages",
    response={201: MessageOut, **ERRORS},
    auth=access("messages:write"),
    openapi_extra=scoped("messages:write"),
    summary="Send a message",
)
def conversation_send(request: HttpRequest, body: ConversationMessageIn, conversation_id: int = object_id()):
    """As the conversation page: a patient writes only where the doctor enabled replies, and
    nobody once the care link has ended."""
    conversation = selectors.conversation_get_for_user(request.user, conversation_id)
    message = services.message_send(
        actor=request.user,
        conversation=conversation,
        text=body.text,
        document_ids=body.document_ids,
        client_key=body.key or "",
    )
    return Status(201, _message(request, message))


@router.get(
    "/conversation-attachments/{message_attachment_id}",
    response=ERRORS,
    auth=access("messages:read"),
    url_name="conversation_attachment",
    summary="Download a document attached to a message",
    openapi_extra=scoped("messages:read", responses={"200": {"description": "The file", "content": FILE_CONTENT}}),
)
def conversation_attachment(request: HttpRequest, message_attachment_id: int = object_id()):
    document = selectors.attachment_file_for_user(request.user, message_attachment_id)
    document_opened(actor=request.user, document=document, action=AuditAction.DOWNLOAD, request=request)
    return document_file_response(document, inline=False)
