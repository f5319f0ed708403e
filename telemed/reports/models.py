"""Reports (referti) and prescriptions: structured content, versions, and the signed PDF."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class ReportKind(models.TextChoices):
    REPORT = "report", _("Report")
    PRESCRIPTION = "prescription", _("Prescription")


class ReportStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SIGNED = "signed", _("Signed")
    DISCARDED = "discarded", _("Discarded")


def report_pdf_path(instance: "Report", filename: str) -> str:
    return f"private/reports/{instance.doctor_id}/{instance.public_id.hex}.pdf"


class Report(models.Model):
    """One version of a report or prescription. Signed versions never change: a correction is a new
    version whose ``replaces`` points at the one it corrects."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(_("kind"), max_length=20, choices=ReportKind.choices)
    status = models.CharField(_("status"), max_length=10, choices=ReportStatus.choices, default=ReportStatus.DRAFT)
    doctor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reports_written")
    patient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reports_received")
    version = models.PositiveIntegerField(default=1)
    replaces = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaced_by")
    diagnosis = models.TextField(_("diagnosis"), blank=True, max_length=4000)
    findings = models.TextField(_("findings"), blank=True, max_length=8000)
    notes = models.TextField(_("notes"), blank=True, max_length=4000)
    # A prescription of the national service: the numbers the doctor obtained from Sistema TS.
    nre = models.CharField(_("NRE / NRBE number"), max_length=20, blank=True)
    nre_pin = models.CharField(_("PIN"), max_length=10, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    signed_at = models.DateTimeField(null=True, blank=True)
    pdf = models.FileField(upload_to=report_pdf_path, max_length=200, blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    pdf_size = models.PositiveBigIntegerField(default=0)
    signature = models.OneToOneField(
        "signatures.SignatureRecord", null=True, blank=True, on_delete=models.PROTECT, related_name="report"
    )
    delivered_at = models.DateTimeField(null=True, blank=True)
    # Why the doctor may write for a patient without a care link: set only by a higher app's
    # service that verified the relationship itself (e.g. "consult:42"); empty means "care link".
    engagement = models.CharField(max_length=40, blank=True, editable=False)
    # Where a draft with an engagement is signed: the engaging app's page, which signs and delivers
    # it as one step of its own flow (answering the consult, closing the visit). Empty: here.
    sign_url = models.CharField(max_length=200, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="signed") | Q(signed_at__isnull=False, signature__isnull=False),
                name="reports_signed_has_signature",
            ),
        ]
        indexes = [models.Index(fields=["doctor", "status"]), models.Index(fields=["patient", "status"])]
        verbose_name = _("report")
        verbose_name_plural = _("reports")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.public_id.hex[:8]} v{self.version}"

    @property
    def is_draft(self) -> bool:
        return self.status == ReportStatus.DRAFT

    @property
    def signed_elsewhere(self) -> bool:
        """A first version written for an engagement is signed by the app that engaged it."""
        return bool(self.engagement) and self.replaces_id is None

    @property
    def is_signed(self) -> bool:
        return self.status == ReportStatus.SIGNED


class TherapyItem(models.Model):
    """One drug of the therapy: what, how much, when and for how long."""

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="therapy")
    position = models.PositiveSmallIntegerField(default=0)
    drug = models.CharField(_("drug"), max_length=200)
    dose = models.CharField(_("dose"), max_length=100, blank=True)
    schedule = models.CharField(_("schedule"), max_length=200, blank=True)
    duration = models.CharField(_("duration"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("therapy item")
        verbose_name_plural = _("therapy items")
        ordering = ["position", "id"]
