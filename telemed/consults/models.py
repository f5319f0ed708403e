"""Info requests and consults: what a patient asks a doctor, its thread, its deadline and its state."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from telemed.accounts.models import DoctorProfile


class InfoStatus(models.TextChoices):
    OPEN = "open", _("waiting for an answer")
    ANSWERED = "answered", _("answered")
    REJECTED = "rejected", _("not an administrative question")


class InfoRequest(models.Model):
    """A free, administrative question (documents, opening hours, how to book) to a doctor's office."""

    doctor = models.ForeignKey(
        DoctorProfile, on_delete=models.PROTECT, related_name="info_requests", verbose_name=_("doctor")
    )
    patient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="info_requests_sent")
    text = models.TextField(_("question"), max_length=4000)
    status = models.CharField(_("status"), max_length=10, choices=InfoStatus.choices, default=InfoStatus.OPEN)
    answer = models.TextField(_("answer"), max_length=4000, blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("handled by"),
    )
    handled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(_("sent"), default=timezone.now)
    # The key the request form carried: the same form sent twice stores one request.
    idempotency_key = models.UUIDField(unique=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["doctor", "status", "created_at"], name="consults_info_inbox")]
        verbose_name = _("info request")
        verbose_name_plural = _("info requests")

    def __str__(self) -> str:
        return f"Info {self.pk} → {self.doctor}"


class ConsultStatus(models.TextChoices):
    REQUESTED = "requested", _("requested")
    IN_PROGRESS = "in_progress", _("in progress")
    ANSWERED = "answered", _("answered")
    CLOSED = "closed", _("closed")
    DECLINED = "declined", _("declined by the doctor")
    CANCELLED = "cancelled", _("cancelled")
    EXPIRED = "expired", _("expired")


# The states in which the doctor still owes an answer: the deadline is watched only here.
OPEN_STATES = frozenset({ConsultStatus.REQUESTED, ConsultStatus.IN_PROGRESS})
# The states in which doctor and patient can still write in the thread.
THREAD_STATES = frozenset({ConsultStatus.REQUESTED, ConsultStatus.IN_PROGRESS, ConsultStatus.ANSWERED})


class Consult(models.Model):
    """A paid written consult. ``service_kind`` is the billing service it was priced as: "base",
    "imaging" or "priority" (a priority consult may carry radiology studies too)."""

    doctor = models.ForeignKey(
        DoctorProfile, on_delete=models.PROTECT, related_name="consults", verbose_name=_("doctor")
    )
    patient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="consults_asked")
    service_kind = models.CharField(_("service"), max_length=10)
    question = models.TextField(_("question"), max_length=8000)
    status = models.CharField(
        _("status"), max_length=12, choices=ConsultStatus.choices, default=ConsultStatus.REQUESTED
    )
    # What the patient saw and accepted: the breakdown (pricing.Breakdown.to_dict) and the deadline.
    breakdown = models.JSONField()
    patient_total = models.DecimalField(_("total"), max_digits=9, decimal_places=2)
    response_value = models.PositiveSmallIntegerField()
    response_unit = models.CharField(max_length=12)
    accepted_at = models.DateTimeField(_("sent"))
    deadline = models.DateTimeField(_("answer due by"))
    started_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    decline_reason = models.TextField(_("reason"), max_length=2000, blank=True)
    report = models.OneToOneField(
        "reports.Report",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="consult",
        verbose_name=_("report"),
    )
    overdue_notified_at = models.DateTimeField(null=True, blank=True)
    idempotency_key = models.UUIDField(unique=True)
    # An Info request the consult was reformulated from, if any.
    from_info = models.ForeignKey(InfoRequest, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-accepted_at"]
        indexes = [
            models.Index(fields=["doctor", "status", "deadline"], name="consults_queue"),
            models.Index(fields=["patient", "accepted_at"], name="consults_of_patient"),
            models.Index(fields=["status", "deadline"], name="consults_overdue"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(service_kind__in=["base", "imaging", "priority"]), name="consults_paid_kind"
            ),
            models.CheckConstraint(
                condition=~Q(status="answered") | Q(report__isnull=False, answered_at__isnull=False),
                name="consults_answered_has_report",
            ),
        ]
        verbose_name = _("consult")
        verbose_name_plural = _("consults")

    def __str__(self) -> str:
        return f"Consult {self.pk} → {self.doctor}"

    @property
    def is_priority(self) -> bool:
        return self.service_kind == "priority"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATES

    @property
    def is_overdue(self) -> bool:
        return self.is_open and self.deadline <= timezone.now()

    @property
    def thread_open(self) -> bool:
        return self.status in THREAD_STATES

    @property
    def engagement(self) -> str:
        return f"consult:{self.pk}"


class ConsultStudy(models.Model):
    """A radiology study of the patient's Welbox that goes with the consult (shared by reference)."""

    consult = models.ForeignKey(Consult, on_delete=models.CASCADE, related_name="studies")
    study = models.ForeignKey("dicom.Study", on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("consult study")
        verbose_name_plural = _("consult studies")
        constraints = [models.UniqueConstraint(fields=["consult", "study"], name="consults_study_once")]


class ConsultMessage(models.Model):
    consult = models.ForeignKey(Consult, on_delete=models.CASCADE, related_name="messages")
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField(max_length=8000, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("consult message")
        verbose_name_plural = _("consult messages")
        ordering = ["created_at", "pk"]


class ConsultAttachment(models.Model):
    """A document of the sender's box. The patient's travels as a share with the doctor; the
    doctor's reaches the patient as a copy in their Welbox (``delivered_copy``)."""

    consult = models.ForeignKey(Consult, on_delete=models.CASCADE, related_name="attachments")
    message = models.ForeignKey(
        ConsultMessage, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments"
    )
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    document = models.ForeignKey("boxes.Document", null=True, on_delete=models.SET_NULL, related_name="+")
    delivered_copy = models.ForeignKey(
        "boxes.Document", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    mime = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("consult attachment")
        verbose_name_plural = _("consult attachments")
        ordering = ["created_at", "pk"]
