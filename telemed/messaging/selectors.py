"""Reads of conversations, always limited to the asking user's own."""

import re

from django.contrib.auth import get_user_model
from django.db.models import Count, IntegerField, Max, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404

from telemed.boxes.selectors import document_list_for_user, documents_hidden_from_doctors
from telemed.dicom.selectors import studies_owned_by
from telemed.messaging.models import Attachment, Conversation, ConversationKind, Message, Participant

PAGE_SIZE = 30


def conversations_for(user) -> QuerySet[Conversation]:
    """The user's conversations, newest activity first, each with ``unread`` (messages of others not yet read)."""
    last_read = Participant.objects.filter(conversation=OuterRef("pk"), user=user).values("last_read_message_id")[:1]
    unread = (
        Message.objects.filter(conversation=OuterRef("pk"), id__gt=OuterRef("my_last_read"))
        .exclude(sender=user)
        .order_by()
        .values("conversation")
        .annotate(n=Count("id"))
        .values("n")
    )
    return (
        Conversation.objects.filter(participants__user=user)
        .annotate(my_last_read=Subquery(last_read))
        .annotate(unread=Coalesce(Subquery(unread, output_field=IntegerField()), 0))
        .prefetch_related("participants__user")
        .order_by("-last_message_at", "-id")
    )


def unread_total(user) -> int:
    return sum(c.unread for c in conversations_for(user).only("id"))


def conversation_get_for_user(user, conversation_id) -> Conversation:
    conversation = Conversation.objects.filter(pk=conversation_id, participants__user=user).first()
    if conversation is None:
        raise Http404
    return conversation


def _messages_seen_by(viewer, conversation: Conversation) -> QuerySet[Message]:
    """The conversation's messages with the attachments ``viewer`` may see: a document its patient
    hid from doctors (oscuramento) is listed to its owner only."""
    attachments = Attachment.objects.exclude(
        Q(document__in=documents_hidden_from_doctors()) & ~Q(document__box__owner=viewer)
    )
    return conversation.messages.select_related("sender").prefetch_related(
        Prefetch("attachments", queryset=attachments)
    )


def messages_page(
    conversation: Conversation, *, viewer, before_id: int | None = None, limit: int = PAGE_SIZE
) -> list[Message]:
    """One page of history, oldest first, ending just before ``before_id`` (the newest page without it)."""
    messages = _messages_seen_by(viewer, conversation)
    if before_id:
        messages = messages.filter(id__lt=before_id)
    return list(reversed(messages.order_by("-id")[:limit]))


def messages_after(conversation: Conversation, *, viewer, after_id: int, limit: int = PAGE_SIZE) -> list[Message]:
    """Up to ``limit`` messages newer than ``after_id``, oldest first (what a page missed)."""
    messages = _messages_seen_by(viewer, conversation).filter(id__gt=after_id)
    return list(messages.order_by("id")[:limit])


def read_positions(conversation: Conversation) -> dict[int, int]:
    """For read receipts: each participant's newest seen message id."""
    return dict(conversation.participants.values_list("user_id", "last_read_message_id"))


def messages_sent_by(user) -> QuerySet[Message]:
    return Message.objects.filter(sender=user).select_related("conversation").order_by("-id")


def message_search(user, text: str) -> QuerySet[Message]:
    text = text.strip()[:200]
    if not text:
        return Message.objects.none()
    return (
        Message.objects.filter(conversation__participants__user=user)
        .filter(Q(text__icontains=text) | Q(conversation__subject__icontains=text))
        .select_related("conversation", "sender")
        .order_by("-id")
    )


def other_participants(conversation: Conversation, user) -> list:
    return [p.user for p in conversation.participants.all() if p.user_id != user.pk]


def attachment_file_for_user(user, attachment_id: int):
    """The document to serve for an attachment: the patient's own Welbox copy when there is one,
    else the sender's original, read through the conversation (participants only)."""
    attachment = (
        Attachment.objects.filter(pk=attachment_id, message__conversation__participants__user=user)
        .select_related("document__box", "delivered_copy__box")
        .first()
    )
    if attachment is None:
        raise Http404
    if attachment.delivered_copy is not None and attachment.delivered_copy.box.owner_id == user.pk:
        return attachment.delivered_copy
    if attachment.document is None:
        raise Http404  # the sender deleted it from their box
    if attachment.document.hidden_from_doctors_at is not None and attachment.document.box.owner_id != user.pk:
        raise Http404  # its patient hid it from doctors (oscuramento)
    return attachment.document


def attachable_documents(user):
    """The user's own box documents, newest first, to pick attachments from."""
    return document_list_for_user(user).order_by("-created_at")[:50]


def attachable_studies(user, conversation: Conversation | None = None):
    """The radiology studies of a doctor's Medbox, newest first, to send in Intramed (none elsewhere)."""
    if not user.is_doctor or (conversation is not None and conversation.kind != ConversationKind.INTRAMED):
        return []
    return list(studies_owned_by(user).order_by("-created_at")[:50])


# --- colleagues to write to in Intramed -----------------------------------------------------------
# Offered without typing: the colleagues one already writes to (most recent first), then those of
# one's own health structure. A search matches every word typed as a part of the first or last
# name ("ros mar" finds Mario Rossi); titles and punctuation ("Dott.ssa", "Rossi M.") are ignored.

COLLEAGUES_SHOWN = 20
TITLES = {"dr", "dott", "dottssa", "dottore", "dottoressa", "prof", "profssa", "professore", "professoressa", "doctor"}


def colleagues(user) -> QuerySet:
    """Every doctor ``user`` may write to in Intramed."""
    return get_user_model().objects.filter(role="doctor", is_active=True).exclude(pk=user.pk)


def colleagues_written_to(user, *, limit: int = COLLEAGUES_SHOWN) -> list:
    mine = Conversation.objects.filter(kind=ConversationKind.INTRAMED, participants__user=user)
    return list(
        colleagues(user)
        .filter(conversation_memberships__conversation__in=mine)
        .annotate(last=Max("conversation_memberships__conversation__last_message_at"))
        .order_by("-last", "last_name", "first_name")[:limit]
    )


def colleagues_of_structure(user, *, limit: int = COLLEAGUES_SHOWN) -> list:
    structure_id = getattr(getattr(user, "doctor_profile", None), "structure_id", None)
    if structure_id is None:
        return []
    return list(
        colleagues(user).filter(doctor_profile__structure_id=structure_id).order_by("last_name", "first_name")[:limit]
    )


def colleague_search(user, query: str, *, limit: int = COLLEAGUES_SHOWN) -> list:
    words = [w for w in (re.sub(r"[^\w'-]", "", word) for word in query.split()[:6]) if w and w.lower() not in TITLES]
    if not words:
        return []
    matching = colleagues(user)
    for word in words[:4]:
        matching = matching.filter(Q(first_name__icontains=word) | Q(last_name__icontains=word))
    return list(matching.order_by("last_name", "first_name")[:limit])
