"""Conversations: Intramed (doctor to doctor) and doctor to patient."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

MAX_MESSAGE_LENGTH = 20_000
MAX_ATTACHMENTS = 10
MAX_INTRAMED_PARTICIPANTS = 10
MAX_CLIENT_KEY_LENGTH = 64


class ConversationKind(models.TextChoices):
    INTRAMED = "intramed", _("Intramed (between doctors)")
    DOCTOR_PATIENT = "doctor_patient", _("Doctor and patient")


class Conversation(models.Model):
    kind = models.CharField(max_length=20, choices=ConversationKind.choices)
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    last_message_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # Doctor-to-patient only: free replies are off by default (the paid consult is the
    # patient's way to ask for advice); the doctor may allow them in a conversation.
    patient_replies_allowed = models.BooleanField(default=False)
    # The number of the newest message (see Message.seq); moved under the row's lock by each send.
    last_seq = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        ordering = ["-last_message_at", "-id"]

    def __str__(self) -> str:
        return self.subject or f"{self.get_kind_display()} #{self.pk}"


class Participant(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversation_memberships"
    )
    joined_at = models.DateTimeField(auto_now_add=True)
    # Read receipts: the newest message this participant has seen (ids grow with time).
    last_read_message_id = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("participant")
        verbose_name_plural = _("participants")
        constraints = [models.UniqueConstraint(fields=["conversation", "user"], name="messaging_one_membership")]
        indexes = [models.Index(fields=["user", "conversation"])]


class Message(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="messages_sent")
    text = models.TextField(max_length=MAX_MESSAGE_LENGTH)
    created_at = models.DateTimeField(auto_now_add=True)
    # 1, 2, 3… within the conversation, without gaps: a live page that receives number 7 when the
    # newest it shows is 5 knows it missed one (its process may have died before telling it) and
    # asks for it. Ids alone cannot tell: they are shared by every conversation.
    seq = models.PositiveIntegerField(default=0)
    # The sending page's own name for this message (random, unique per sender and conversation):
    # a page that lost its connection sends the message again with the same key, and gets back
    # the one already stored instead of a second copy. Empty when the sender gave none.
    client_key = models.CharField(max_length=MAX_CLIENT_KEY_LENGTH, blank=True, default="")

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["id"]
        indexes = [models.Index(fields=["conversation", "id"]), models.Index(fields=["sender", "id"])]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "sender", "client_key"],
                condition=~models.Q(client_key=""),
                name="messaging_one_message_per_client_key",
            )
        ]

    def __str__(self) -> str:
        return self.text[:60]


class Attachment(models.Model):
    """A document or a DICOM study sent with a message, by reference to the sender's box. A
    doctor's attachment to a patient is also filed into the patient's Welbox (``delivered_copy``):
    it stays theirs even if the doctor later deletes the original or the link ends. A study sent
    in Intramed is shared with the colleagues in the conversation and opens in the viewer."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    document = models.ForeignKey("boxes.Document", null=True, on_delete=models.SET_NULL, related_name="+")
    study = models.ForeignKey("dicom.Study", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    delivered_copy = models.ForeignKey(
        "boxes.Document", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    mime = models.CharField(max_length=100)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["id"]
