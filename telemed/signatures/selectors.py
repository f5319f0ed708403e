"""Reads of signatures data, scoped to the asking user; and the public verification of a PDF."""

from dataclasses import dataclass
from typing import BinaryIO

from django.db.models import QuerySet
from django.utils import timezone

from telemed.signatures import verification
from telemed.signatures.models import (
    CertificateAuthority,
    DeviceState,
    RemoteCredential,
    RemoteSignerProvider,
    SignatureRecord,
    SigningAttempt,
    SigningCertificate,
    SigningDevice,
)


def usable_certificate(user) -> SigningCertificate | None:
    now = timezone.now()
    return (
        SigningCertificate.objects.select_related("authority")
        .filter(doctor=user, revoked_at__isnull=True, not_before__lte=now, not_after__gt=now)
        .order_by("-created_at")
        .first()
    )


def latest_certificate(user) -> SigningCertificate | None:
    return SigningCertificate.objects.filter(doctor=user).order_by("-created_at").first()


def remote_credential(user) -> RemoteCredential | None:
    return RemoteCredential.objects.select_related("provider").filter(doctor=user).first()


def has_remote_signer(user) -> bool:
    return RemoteCredential.objects.filter(doctor=user).exists()


def live_device(user) -> SigningDevice | None:
    return SigningDevice.objects.filter(user=user, state__in=[DeviceState.ACTIVE, DeviceState.LOCKED]).first()


def pending_device(user) -> SigningDevice | None:
    return SigningDevice.objects.filter(user=user, state=DeviceState.PENDING).order_by("-created_at").first()


@dataclass(frozen=True)
class SigningStatus:
    """What a doctor's pages need to know: can this doctor sign, and with what."""

    device: SigningDevice | None
    certificate: SigningCertificate | None
    remote: RemoteCredential | None

    @property
    def can_sign(self) -> bool:
        if self.remote is not None:
            return True
        return self.device is not None and self.device.state == DeviceState.ACTIVE and self.certificate is not None

    @property
    def locked(self) -> bool:
        return self.remote is None and self.device is not None and self.device.state == DeviceState.LOCKED


def signing_status(user) -> SigningStatus:
    return SigningStatus(device=live_device(user), certificate=usable_certificate(user), remote=remote_credential(user))


def recent_attempts(user, limit: int = 10) -> QuerySet[SigningAttempt]:
    return SigningAttempt.objects.filter(user=user)[:limit]


def active_providers() -> QuerySet[RemoteSignerProvider]:
    return RemoteSignerProvider.objects.filter(active=True)


def record_by_public_id(public_id) -> SignatureRecord | None:
    """Public: what the QR code on a document leads to (no patient data is in a record)."""
    return SignatureRecord.objects.filter(public_id=public_id).first()


def trust_roots_der() -> list[bytes]:
    """Roots whose signatures the platform vouches for: its own CAs and the registered providers'."""
    roots = [bytes(der) for der in CertificateAuthority.objects.values_list("certificate_der", flat=True)]
    roots += [
        bytes(der)
        for der in RemoteSignerProvider.objects.exclude(root_certificate_der=b"").values_list(
            "root_certificate_der", flat=True
        )
    ]
    return roots


def current_authority_certificate_der() -> bytes | None:
    current = CertificateAuthority.objects.order_by("-created_at").values_list("certificate_der", flat=True).first()
    return bytes(current) if current is not None else None


@dataclass(frozen=True)
class SignatureFinding:
    check: verification.SignatureCheck
    record: SignatureRecord | None  # the platform's record of this exact signed revision

    @property
    def matches_record(self) -> bool:
        return self.record is not None


@dataclass(frozen=True)
class VerificationOutcome:
    """The answer of the public page for one uploaded PDF."""

    readable: bool
    problem: str
    findings: list[SignatureFinding]
    expected: SignatureRecord | None  # the record the QR code pointed at, when arrived from one

    @property
    def signed(self) -> bool:
        return bool(self.findings)

    @property
    def valid(self) -> bool:
        """Valid for the platform: every signature intact, valid and trusted; the last one covers
        the whole file; and it is a document the platform signed (the expected one, if any)."""
        if not self.findings or not all(f.check.ok for f in self.findings):
            return False
        last = self.findings[-1]
        if not last.check.covers_whole_file or last.record is None:
            return False
        return self.expected is None or last.record.pk == self.expected.pk

    @property
    def modified_after_signing(self) -> bool:
        return bool(self.findings) and not self.findings[-1].check.covers_whole_file

    @property
    def tampered(self) -> bool:
        return any(not f.check.intact or not f.check.valid for f in self.findings)

    @property
    def untrusted(self) -> bool:
        return any(f.check.intact and f.check.valid and not f.check.trusted for f in self.findings)

    @property
    def matches_expected(self) -> bool:
        return self.expected is not None and any(f.record and f.record.pk == self.expected.pk for f in self.findings)


def document_verify(stream: BinaryIO, *, expected: SignatureRecord | None = None) -> VerificationOutcome:
    """Check any PDF's signatures against the platform's trust roots and records. Stores nothing."""
    inspection = verification.inspect_pdf(stream, trust_roots_der=trust_roots_der())
    if not inspection.readable:
        return VerificationOutcome(readable=False, problem=inspection.problem, findings=[], expected=expected)
    hashes = [c.signed_revision_sha256 for c in inspection.signatures if c.signed_revision_sha256]
    records = {r.sha256: r for r in SignatureRecord.objects.filter(sha256__in=hashes)}
    findings = [
        SignatureFinding(
            check=check,
            record=records.get(check.signed_revision_sha256) if check.intact and check.valid else None,
        )
        for check in inspection.signatures
    ]
    return VerificationOutcome(readable=True, problem="", findings=findings, expected=expected)
