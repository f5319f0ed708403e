"""Signing devices, certificates, remote signers and the platform's record of every signature."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class CertificateAuthority(models.Model):
    """The platform's own certification authority (made by ``manage.py signing_ca_create``).

    The newest row issues new certificates; older ones stay so that what they signed still verifies.
    """

    name = models.CharField(max_length=200)
    certificate_der = models.BinaryField()
    sealed_key = models.BinaryField()
    not_after = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("certification authority")
        verbose_name_plural = _("certification authorities")

    def __str__(self) -> str:
        return self.name


class SigningCertificate(models.Model):
    """A doctor's X.509 signing certificate issued by the platform CA; its key is sealed at rest."""

    doctor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="signing_certificates")
    authority = models.ForeignKey(CertificateAuthority, on_delete=models.PROTECT, related_name="certificates")
    serial_number = models.CharField(max_length=60, unique=True)
    subject = models.CharField(max_length=300)
    certificate_der = models.BinaryField()
    sealed_key = models.BinaryField()
    not_before = models.DateTimeField()
    not_after = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revocation_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("signing certificate")
        verbose_name_plural = _("signing certificates")

    def __str__(self) -> str:
        return self.subject

    def usable_at(self, moment) -> bool:
        return self.revoked_at is None and self.not_before <= moment < self.not_after


class DeviceState(models.TextChoices):
    PENDING = "pending", _("Waiting for the first code")
    ACTIVE = "active", _("Active")
    LOCKED = "locked", _("Locked after too many wrong codes")
    REPLACED = "replaced", _("Replaced")


class SigningDevice(models.Model):
    """The authenticator app with which a doctor confirms each signature.

    Separate from the login's second factor on purpose: signing is a distinct act of will, and the
    login picks the user's one confirmed django-otp device.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="signing_devices")
    state = models.CharField(max_length=10, choices=DeviceState.choices, default=DeviceState.PENDING)
    sealed_secret = models.BinaryField()
    failed_attempts = models.PositiveSmallIntegerField(default=0)
    # The TOTP time step of the last accepted code: a code is accepted once, and never an older one.
    last_used_step = models.BigIntegerField(default=-1)
    created_at = models.DateTimeField(default=timezone.now)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    locked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"], condition=Q(state__in=["active", "locked"]), name="signatures_one_live_device"
            )
        ]
        verbose_name = _("signing device")
        verbose_name_plural = _("signing devices")

    def __str__(self) -> str:
        return f"{self.user} ({self.state})"


class SigningAttemptOutcome(models.TextChoices):
    SIGNED = "signed", _("Signed")
    WRONG_CODE = "wrong_code", _("Wrong code")
    REUSED_CODE = "reused_code", _("Code already used")
    LOCKED = "locked", _("Device locked")
    NO_DEVICE = "no_device", _("No signing device")
    REMOTE_REFUSED = "remote_refused", _("Refused by the remote signer")


class SigningAttempt(models.Model):
    """The log of every attempt to confirm a signature, successful or not."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="signing_attempts")
    device = models.ForeignKey(SigningDevice, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    outcome = models.CharField(max_length=20, choices=SigningAttemptOutcome.choices)
    documents = models.PositiveIntegerField(default=0)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("signing attempt")
        verbose_name_plural = _("signing attempts")
        ordering = ["-at"]


class RemoteSignerProvider(models.Model):
    """A qualified trust service provider speaking the Cloud Signature Consortium API, set up by staff."""

    name = models.CharField(_("name"), max_length=120)
    base_url = models.URLField(_("CSC API base URL"), help_text=_("e.g. https://provider.example/csc/v1"))
    # The provider's root: signatures made through it verify as trusted on the platform's page.
    root_certificate_der = models.BinaryField(blank=True, default=b"")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("remote signature provider")
        verbose_name_plural = _("remote signature providers")

    def __str__(self) -> str:
        return self.name


class RemoteCredential(models.Model):
    """A doctor's qualified remote-signature contract: with it, the doctor signs through the provider."""

    doctor = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="remote_credential")
    provider = models.ForeignKey(RemoteSignerProvider, on_delete=models.PROTECT, related_name="credentials")
    credential_id = models.CharField(_("credential ID"), max_length=200)
    sealed_access_token = models.BinaryField(blank=True, default=b"")
    certificate_der = models.BinaryField()
    subject = models.CharField(max_length=300)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("remote signature credential")
        verbose_name_plural = _("remote signature credentials")


class SignatureBackend(models.TextChoices):
    LOCAL = "local", _("Platform certificate")
    REMOTE = "remote", _("Qualified remote signature")


class SignatureRecord(models.Model):
    """What the platform signed: the public page compares uploaded files with these rows."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="signature_records")
    signer_name = models.CharField(max_length=200)
    signer_fiscal_code = models.CharField(max_length=16)
    backend = models.CharField(max_length=10, choices=SignatureBackend.choices)
    certificate_serial = models.CharField(max_length=60)
    level = models.CharField(max_length=10)
    title = models.CharField(max_length=200)
    sha256 = models.CharField(max_length=64, db_index=True)
    size = models.PositiveBigIntegerField()
    signed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-signed_at"]
        verbose_name = _("signature record")
        verbose_name_plural = _("signature records")

    def __str__(self) -> str:
        return f"{self.title} — {self.signer_name}"
