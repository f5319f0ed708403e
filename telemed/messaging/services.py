"""Sending messages and reading them. Who may write to whom is decided here, for every channel
(pages and WebSocket frames go through the same functions)."""

import contextlib
import re
from collections.abc import Iterable, Sequence

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Prefetch
from django.http import Http404
from django.urls import reverse
from django.utils.translation import gettext as _

from telemed.boxes import selectors as boxes
from telemed.boxes import services as box_services
from telemed.boxes.models import Category
from telemed.care.selectors import care_link_is_active
from telemed.dicom import selectors as dicom_selectors
from telemed.dicom import services as dicom_services
from telemed.dicom.models import Study
from telemed.messaging.models import (
    MAX_ATTACHMENTS,
    MAX_CLIENT_KEY_LENGTH,
    MAX_INTRAMED_PARTICIPANTS,
    MAX_MESSAGE_LENGTH,
    Attachment,
    Conversation,
    ConversationKind,
    Message,
    Participant,
)
from telemed.notifications import presence
from telemed.notifications.realtime import push_on_commit
from telemed.notifications.services import Tell, notify_many

NOTIFICATION_KIND = "message"
CLIENT_KEY_PATTERN = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_CLIENT_KEY_LENGTH}}}")


def group_name(conversation_id: int) -> str:
    return f"conversation.{conversation_id}"


def conversation_place(conversation_id: int) -> str:
    """The conversation's page: where its notifications lead, and what a live page says it shows."""
    return reverse("messaging:conversation", args=[conversation_id])


def attachment_url(attachment: Attachment) -> str:
    """A study opens in the viewer (for as long as it is shared); a document downloads."""
    if attachment.study_id:
        return reverse("dicom:study", args=[attachment.study_id])
    return reverse("messaging:attachment", args=[attachment.pk])


def message_payload(message: Message, attachments: Iterable[Attachment] | None = None) -> dict:
    """The message as pages receive it live (``attachments``: already known, saves a query)."""
    files = message.attachments.all() if attachments is None else attachments
    return {
        "attachments": [
            {"id": a.pk, "name": a.name, "study": bool(a.study_id), "url": attachment_url(a)} for a in files
        ],
        "id": message.pk,
        "seq": message.seq,
        "conversation": message.conversation_id,
        "sender": message.sender_id,
        "sender_name": message.sender.get_full_name(),
        "text": message.text,
        "created_at": message.created_at.isoformat(),
        # Lets the sending page match the message with the one it is waiting for.
        "key": message.client_key or None,
    }


def _clean_client_key(key: str) -> str:
    if key and not (isinstance(key, str) and CLIENT_KEY_PATTERN.fullmatch(key)):
        raise ValidationError(
            _("A message key is 1 to %(limit)d letters, digits, '-' or '_'.") % {"limit": MAX_CLIENT_KEY_LENGTH}
        )
    return key or ""


def _already_sent(actor, conversation_id: int, key: str) -> Message | None:
    """The message this sender already stored under ``key``, told to the conversation again.

    A repeat comes from a page that lost its connection before it saw its message arrive; the
    process that stored it may have died between its commit and its push, so the others may
    not have seen it either. Pages ignore a message id they already show."""
    if not key:
        return None
    message = Message.objects.filter(conversation_id=conversation_id, sender=actor, client_key=key).first()
    if message is not None:
        push_on_commit(group_name(conversation_id), {"type": "message.new", "message": message_payload(message)})
    return message


def _clean_text(text: str) -> str:
    text = (text or "").replace("\x00", "").strip()
    if not text:
        raise ValidationError(_("Write something before sending."))
    if len(text) > MAX_MESSAGE_LENGTH:
        raise ValidationError(
            _("A message can be at most %(max)d characters long; this one has %(n)d.")
            % {"max": MAX_MESSAGE_LENGTH, "n": len(text)}
        )
    return text


def _with_participants(conversation_id: int, *, lock: bool = False) -> Conversation:
    """The conversation with its participants and their users, read once for the whole send
    (the rules, the shares and the notifications all need them); ``lock`` serialises sends."""
    conversations = Conversation.objects.prefetch_related(
        Prefetch("participants", queryset=Participant.objects.select_related("user"))
    )
    return (conversations.select_for_update() if lock else conversations).get(pk=conversation_id)


def _others(actor, conversation: Conversation) -> list:
    return [p.user for p in conversation.participants.all() if p.user_id != actor.pk]


def _doctor_and_patient(conversation: Conversation):
    users = [p.user for p in conversation.participants.all()]
    doctor = next((u for u in users if u.is_doctor), None)
    patient = next((u for u in users if u.is_patient), None)
    return doctor, patient


def _check_can_send(actor, conversation: Conversation) -> None:
    if not any(p.user_id == actor.pk for p in conversation.participants.all()):
        raise PermissionDenied
    if conversation.kind == ConversationKind.INTRAMED:
        if not actor.is_doctor:
            raise PermissionDenied
        return
    doctor, patient = _doctor_and_patient(conversation)
    if not care_link_is_active(doctor=doctor, patient=patient):
        raise ValidationError(_("You are no longer linked: no new messages can be sent in this conversation."))
    if actor.is_patient and not conversation.patient_replies_allowed:
        raise ValidationError(
            _("The doctor has not enabled replies here. To ask for medical advice, request a consult.")
        )


def _own_items(actor, ids: list[int], get_owned, not_yours: str) -> list:
    """What ``ids`` name among the sender's own things (``get_owned(actor, id, owned=True)``,
    a 404 for anything else), at most MAX_ATTACHMENTS, each once; anything else is refused."""
    if len(ids) > MAX_ATTACHMENTS:
        raise ValidationError(_("At most %(n)d attachments per message.") % {"n": MAX_ATTACHMENTS})
    items = []
    for item_id in dict.fromkeys(ids):
        try:
            items.append(get_owned(actor, item_id, owned=True))
        except Http404:
            raise ValidationError(not_yours) from None
    return items


def _attachable(actor, conversation: Conversation | None, document_ids: list[int]) -> list:
    """The sender's own box documents named by ``document_ids``; anything else is refused.

    Only one's own documents travel: a patient's Welbox document that a doctor may read was
    shared with that doctor alone, and is not forwarded to colleagues."""
    documents = _own_items(
        actor, document_ids, boxes.document_get_for_user, _("One of the attachments is not a document of yours.")
    )
    if any(document.hidden_from_doctors_at for document in documents):
        raise ValidationError(_("One of the attachments is hidden from doctors: show it again in your Welbox first."))
    return documents


def _attachable_studies(actor, kind: str, study_ids: list[int]) -> list[Study]:
    """Studies of the sender's own Medbox; only doctors send them, and only to colleagues."""
    if not study_ids:
        return []
    if kind != ConversationKind.INTRAMED or not actor.is_doctor:
        raise ValidationError(_("Radiology studies can be sent only between doctors, in Intramed."))
    return _own_items(
        actor, study_ids, dicom_selectors.study_get_for_user, _("One of the studies is not in your Medbox.")
    )


def _deidentified_copies(actor, studies: list[Study]) -> list:
    """For each study, a ZIP of its de-identified copy staged for the sender's Medbox (it counts
    against their quota), to travel as an ordinary attachment instead of the study itself.
    Made before the message's transaction (a large study takes a while to copy) and filed in it
    (``_file_copies``): a process that dies in between leaves no copy in the Medbox, and what
    the copies held is given back by boxes' expiry of staged files."""
    copies = []
    try:
        for study in studies:
            path, written, _left_out = dicom_services.study_export_deidentified(actor=actor, study=study)
            try:
                if not written:
                    raise ValidationError(
                        _("No image of “%(study)s” can be copied without identifying data (they carry burned-in text).")
                        % {"study": study}
                    )
                name = _("%(study)s, de-identified copy.zip") % {"study": str(study).replace("/", "-")}
                with open(path, "rb") as stream:
                    copies.append(
                        box_services.document_stage(
                            actor=actor,
                            box=study.box,
                            folder=study.folder,
                            category=Category.IMAGING,
                            name=name,
                            stream=stream,
                            mime="application/zip",
                        )
                    )
            finally:
                path.unlink(missing_ok=True)
    except BaseException:
        _discard_copies(copies)
        raise
    return copies


@contextlib.contextmanager
def _deidentified_copies_unless_refused(actor, studies: list[Study]):
    """The staged copies to attach (none without studies); given up again if the message is refused."""
    copies = _deidentified_copies(actor, studies)
    try:
        yield copies
    except BaseException:
        _discard_copies(copies)
        raise


def _discard_copies(copies: list) -> None:
    for staged in copies:
        box_services.document_stage_discard(staged=staged)


def _file_copies(copies: list) -> list[int]:
    """Inside the message's transaction: the staged copies become documents of the Medbox."""
    return [box_services.document_file_staged(staged=staged).pk for staged in copies]


def _attach(
    actor, conversation: Conversation, message: Message, documents: list, studies: Sequence[Study] = ()
) -> list[Attachment]:
    doctor, patient = (
        _doctor_and_patient(conversation) if conversation.kind == ConversationKind.DOCTOR_PATIENT else (None, None)
    )
    attachments = []
    for document in documents:
        copy = None
        if doctor is not None and patient is not None and actor.pk == doctor.pk:
            # "Attachments reach the patient's Welbox": a copy that is the patient's from now on,
            # filed outside their quota like every document the platform delivers.
            with document.file.open("rb") as stream:
                copy = box_services.document_store_system(
                    box=box_services.box_for(patient),
                    category=Category.OTHER,
                    name=document.name,
                    stream=stream,
                    mime=document.mime,
                )
        elif doctor is not None and patient is not None and actor.pk == patient.pk:
            # A patient's attachment is a share with the doctor, by reference, revocable in the Welbox.
            box_services.document_share(actor=actor, document=document, doctor=doctor)
        attachments.append(
            Attachment.objects.create(
                message=message,
                document=document,
                delivered_copy=copy,
                name=document.name,
                size=document.size,
                mime=document.mime,
            )
        )
    for study in studies:
        # By reference: each colleague reads the study where it is, until the sender stops sharing it.
        for colleague in _others(actor, conversation):
            dicom_services.study_share(actor=actor, study=study, doctor=colleague)
        attachments.append(
            Attachment.objects.create(
                message=message, study=study, name=str(study), size=study.size, mime="application/dicom"
            )
        )
    return attachments


def _append(
    actor,
    conversation: Conversation,
    text: str,
    documents: Sequence = (),
    studies: Sequence[Study] = (),
    client_key: str = "",
) -> Message:
    # The conversation's row is locked (or new in this transaction): the next number is ours.
    seq = conversation.last_seq + 1
    message = Message.objects.create(conversation=conversation, sender=actor, text=text, client_key=client_key, seq=seq)
    attachments = _attach(actor, conversation, message, list(documents), list(studies))
    Conversation.objects.filter(pk=conversation.pk).update(last_message_at=message.created_at, last_seq=seq)
    # The sender has read their own message.
    Participant.objects.filter(conversation=conversation, user=actor).update(last_read_message_id=message.pk)
    url = conversation_place(conversation.pk)
    # The title names the sender, never the content: it may reach an e-mail inbox.
    title = _("New message from %(name)s") % {"name": actor.get_full_name()}
    others = _others(actor, conversation)
    # Whoever has the conversation open sees the message arrive there: no notification.
    viewing = presence.viewing_among([other.pk for other in others], url)
    notify_many(
        [
            Tell(recipient=recipient, kind=NOTIFICATION_KIND, title=title, url=url)
            for recipient in others
            if recipient.pk not in viewing
        ]
    )
    payload = message_payload(message, attachments)
    push_on_commit(group_name(conversation.pk), {"type": "message.new", "message": payload})
    return message


def message_send(
    *,
    actor,
    conversation: Conversation,
    text: str,
    document_ids: Sequence[int] = (),
    study_ids: Sequence[int] = (),
    deidentified: bool = False,
    client_key: str = "",
) -> Message:
    """Send a message, with documents of one's box and (Intramed) studies of one's Medbox: shared
    by reference, or with ``deidentified`` as de-identified copies instead.

    With ``client_key``, sending again is safe: the message already stored under that key is
    returned (and told to the conversation again) instead of a second one, whatever the text
    says; it is returned even if the sender could no longer write there, as it was sent when
    they could."""
    text = _clean_text(text)
    client_key = _clean_client_key(client_key)
    try:
        return _store(actor, conversation, text, document_ids, study_ids, deidentified, client_key)
    except (IntegrityError, ValidationError, PermissionDenied):
        # The first send pays nothing for its key. Only a refusal looks for a message stored
        # under it: the unique key refusing a repeat, or a rule that no longer lets the sender
        # write (replies turned off, a link ended) after the first send went through.
        if client_key and (repeat := _already_sent(actor, conversation.pk, client_key)) is not None:
            return repeat
        raise


def _store(
    actor,
    conversation: Conversation,
    text: str,
    document_ids: Sequence[int],
    study_ids: Sequence[int],
    deidentified: bool,
    client_key: str,
) -> Message:
    studies = _attachable_studies(actor, conversation.kind, list(study_ids))
    if deidentified and studies:
        _check_can_send(actor, _with_participants(conversation.pk))  # before copying anything
    with _deidentified_copies_unless_refused(actor, studies if deidentified else []) as copies, transaction.atomic():
        conversation = _with_participants(conversation.pk, lock=True)
        _check_can_send(actor, conversation)
        documents = _attachable(actor, conversation, [*document_ids, *_file_copies(copies)])
        # A repeated key fails the insert (messaging_one_message_per_client_key), even when two
        # repeats race: the conversation's lock orders them, and the second finds the first.
        return _append(actor, conversation, text, documents, [] if deidentified else studies, client_key)


@transaction.atomic
def conversation_start_with_patient(
    *, actor, patient, text: str, subject: str = "", allow_replies: bool = False, document_ids: Sequence[int] = ()
) -> Conversation:
    """A doctor writes to a linked patient, free of charge, at any time."""
    if not actor.is_doctor:
        raise PermissionDenied
    text = _clean_text(text)
    if not care_link_is_active(doctor=actor, patient=patient):
        raise ValidationError(_("You can write only to patients linked to you."))
    documents = _attachable(actor, None, list(document_ids))
    conversation = Conversation.objects.create(
        kind=ConversationKind.DOCTOR_PATIENT,
        subject=subject.strip()[:200],
        created_by=actor,
        patient_replies_allowed=allow_replies,
    )
    Participant.objects.bulk_create([Participant(conversation=conversation, user=u) for u in (actor, patient)])
    _append(actor, _with_participants(conversation.pk), text, documents)
    return conversation


def conversation_start_intramed(
    *,
    actor,
    doctors: list,
    text: str,
    subject: str = "",
    document_ids: Sequence[int] = (),
    study_ids: Sequence[int] = (),
    deidentified: bool = False,
) -> Conversation:
    """Intramed: any registered doctor may start a conversation with any others (small groups)."""
    if not actor.is_doctor:
        raise PermissionDenied
    text = _clean_text(text)
    others = {d.pk: d for d in doctors if d.pk != actor.pk}
    if not others:
        raise ValidationError(_("Choose at least one colleague."))
    if len(others) + 1 > MAX_INTRAMED_PARTICIPANTS:
        raise ValidationError(_("A conversation can have at most %(n)d doctors.") % {"n": MAX_INTRAMED_PARTICIPANTS})
    if any(not d.is_doctor or not d.is_active for d in others.values()):
        raise ValidationError(_("Intramed is only between registered doctors."))
    studies = _attachable_studies(actor, ConversationKind.INTRAMED, list(study_ids))
    with _deidentified_copies_unless_refused(actor, studies if deidentified else []) as copies, transaction.atomic():
        documents = _attachable(actor, None, [*document_ids, *_file_copies(copies)])
        conversation = Conversation.objects.create(
            kind=ConversationKind.INTRAMED, subject=subject.strip()[:200], created_by=actor
        )
        Participant.objects.bulk_create(
            [Participant(conversation=conversation, user=u) for u in (actor, *others.values())]
        )
        _append(actor, _with_participants(conversation.pk), text, documents, [] if deidentified else studies)
    return conversation


@transaction.atomic
def conversation_mark_read(*, actor, conversation: Conversation, up_to_message_id: int | None = None) -> int:
    """Move the actor's read position forward (never back); tell the others, for their receipts."""
    newest = conversation.messages.order_by("-id").values_list("id", flat=True).first() or 0
    target = min(up_to_message_id or newest, newest)
    updated = Participant.objects.filter(conversation=conversation, user=actor, last_read_message_id__lt=target).update(
        last_read_message_id=target
    )
    if updated:
        push_on_commit(group_name(conversation.pk), {"type": "message.read", "user": actor.pk, "up_to": target})
    return target


@transaction.atomic
def conversation_set_replies(*, actor, conversation: Conversation, allowed: bool) -> None:
    if conversation.kind != ConversationKind.DOCTOR_PATIENT or not actor.is_doctor:
        raise PermissionDenied
    if not conversation.participants.filter(user=actor).exists():
        raise PermissionDenied
    Conversation.objects.filter(pk=conversation.pk).update(patient_replies_allowed=allowed)


ERASED_MESSAGE_TEXT = ""


@transaction.atomic
def messages_erase_of_sender(*, user) -> int:
    """Empty the messages ``user`` wrote and drop their attachments' rows (their account is being
    erased); what the others wrote stays theirs. Returns how many messages still had a text; run
    again, it finds none."""
    messages = Message.objects.filter(sender=user)
    Attachment.objects.filter(message__in=messages).delete()
    return messages.exclude(text=ERASED_MESSAGE_TEXT).update(text=ERASED_MESSAGE_TEXT)
