"""The doctor–patient link: the patient's recorded consent behind every doctor-initiated contact."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class LinkStatus(models.TextChoices):
    REQUESTED = "requested", _("Asked by the patient, waiting for the doctor")
    INVITED = "invited", _("Invited by the doctor, waiting for the patient")
    ACTIVE = "active", _("Active")
    DECLINED = "declined", _("Declined")
    REVOKED = "revoked", _("Revoked")


OPEN_STATUSES = (LinkStatus.REQUESTED, LinkStatus.INVITED, LinkStatus.ACTIVE)


class CareLink(models.Model):
    """One doctor, one patient. Active only once the patient has consented (``consented_at``,
    with the exact wording they agreed to). A doctor invitation by e-mail may exist before the
    patient has an account: then ``patient`` is empty and ``invited_email`` says who."""

    doctor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="care_links_as_doctor")
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="care_links_as_patient"
    )
    invited_email = models.EmailField(blank=True)
    token = models.CharField(max_length=64, unique=True, null=True, blank=True)
    status = models.CharField(max_length=10, choices=LinkStatus.choices)
    message = models.CharField(_("message"), max_length=500, blank=True)
    consent_text = models.TextField(blank=True)
    consented_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # At most one open link per pair: a new request after a revocation starts a new row.
            models.UniqueConstraint(
                fields=["doctor", "patient"],
                condition=Q(status__in=["requested", "invited", "active"]),
                name="care_one_open_link_per_pair",
            ),
            models.CheckConstraint(
                condition=~Q(status="active") | Q(consented_at__isnull=False, patient__isnull=False),
                name="care_active_needs_consent",
            ),
        ]
        indexes = [models.Index(fields=["patient", "status"]), models.Index(fields=["doctor", "status"])]
        verbose_name = _("care link")
        verbose_name_plural = _("care links")

    def __str__(self) -> str:
        return f"{self.doctor} → {self.patient or self.invited_email} ({self.status})"
