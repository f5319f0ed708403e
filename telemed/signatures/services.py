"""Every use case of signatures that changes state. One transaction each; the actor is checked here.

Signing is two steps, so that higher apps can sign inside their own transaction:

1. ``signing_authorize(actor=…, code=…, documents=n)`` checks the code the doctor typed (the
   signing TOTP for the platform certificate, or the provider's OTP for a remote qualified signer)
   and commits the outcome on its own: failures are counted and logged even though the caller
   then stops. Call it outside any transaction of yours.
2. ``documents_sign(authorization=…, documents=[…])`` signs the PDFs and writes the platform's
   record of each signature, inside the caller's transaction: if the caller rolls back, nothing
   of the signature stays.
"""

import asyncio
import hashlib
import logging
import tempfile
import uuid
from dataclasses import dataclass, field
from typing import BinaryIO, cast

import aiohttp
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from pyhanko.sign import signers
from pyhanko.sign.general import SigningError

from telemed.accounts.models import User
from telemed.signatures import authority, csc, pades, selectors, totp
from telemed.signatures.models import (
    CertificateAuthority,
    DeviceState,
    RemoteCredential,
    RemoteSignerProvider,
    SignatureBackend,
    SignatureRecord,
    SigningAttempt,
    SigningAttemptOutcome,
    SigningCertificate,
    SigningDevice,
)
from telemed.signatures.sealing import seal, unseal

logger = logging.getLogger("telemed.signatures")

MAX_FAILED_CODES = 5
BATCH_LIMIT = 50
CA_KEY_PURPOSE = "ca-key"
SIGNING_SPOOL_BYTES = 4 * 1024 * 1024


def _certificate_key_purpose(serial: str) -> str:
    return f"signing-key:{serial}"


def _token_purpose(doctor_id: int) -> str:
    return f"csc-token:{doctor_id}"


def _require_doctor(actor) -> None:
    if not getattr(actor, "is_doctor", False) or not actor.is_active:
        raise PermissionDenied


# --- the platform certification authority ---------------------------------------------


@transaction.atomic
def certificate_authority_create(*, name: str = "telemed Certification Authority") -> CertificateAuthority:
    """A new platform CA; from now on it issues the certificates. Older CAs stay for verification."""
    issued = authority.create_authority(name=name, now=timezone.now())
    return CertificateAuthority.objects.create(
        name=name,
        certificate_der=issued.certificate_der,
        sealed_key=seal(issued.private_key_der, purpose=CA_KEY_PURPOSE),
        not_after=issued.not_after,
    )


def _current_authority() -> CertificateAuthority:
    current = CertificateAuthority.objects.order_by("-created_at").first()
    if current is not None and current.not_after > timezone.now():
        return current
    if settings.PRODUCTION:
        raise ImproperlyConfigured("no platform certification authority: run manage.py signing_ca_create")
    # Development only: the first signature of a fresh `make run` needs no extra command.
    logger.warning("creating a development certification authority")
    return certificate_authority_create(name="telemed Development Certification Authority")


# --- certificates ---------------------------------------------------------------------------


def _codice_fiscale(doctor) -> str:
    profile = getattr(doctor, "doctor_profile", None)
    if profile is None:
        raise ValidationError(_("Only a doctor with a complete profile can have a signing certificate."))
    return profile.codice_fiscale


@transaction.atomic
def signing_certificate_issue(*, actor) -> SigningCertificate:
    """Issue the actor (a doctor) a fresh certificate from the platform CA."""
    _require_doctor(actor)
    ca = _current_authority()
    issued = authority.issue_doctor_certificate(
        authority_certificate_der=bytes(ca.certificate_der),
        authority_key_der=unseal(bytes(ca.sealed_key), purpose=CA_KEY_PURPOSE),
        first_name=actor.first_name,
        last_name=actor.last_name,
        codice_fiscale=_codice_fiscale(actor),
        now=timezone.now(),
    )
    serial = str(issued.serial_number)
    return SigningCertificate.objects.create(
        doctor=actor,
        authority=ca,
        serial_number=serial,
        subject=issued.subject,
        certificate_der=issued.certificate_der,
        sealed_key=seal(issued.private_key_der, purpose=_certificate_key_purpose(serial)),
        not_before=issued.not_before,
        not_after=issued.not_after,
    )


@transaction.atomic
def signing_certificate_revoke(*, actor, certificate: SigningCertificate, reason: str) -> SigningCertificate:
    """Platform staff revoke a certificate (lost phone, compromised account): it never signs again."""
    if not actor.is_staff:
        raise PermissionDenied
    certificate = SigningCertificate.objects.select_for_update().get(pk=certificate.pk)
    if certificate.revoked_at is not None:
        raise ValidationError(_("This certificate is already revoked."))
    certificate.revoked_at = timezone.now()
    certificate.revocation_reason = reason.strip()[:200]
    certificate.save(update_fields=["revoked_at", "revocation_reason"])
    logger.warning("signing certificate %s of user %s revoked", certificate.serial_number, certificate.doctor_id)
    return certificate


# --- the signing device (TOTP) ----------------------------------------------------------


def _transition(device: SigningDevice, to: str) -> None:
    """The one place where a signing device changes state; anything else is refused."""
    allowed = {
        DeviceState.PENDING: {DeviceState.ACTIVE, DeviceState.REPLACED},
        DeviceState.ACTIVE: {DeviceState.LOCKED, DeviceState.REPLACED},
        DeviceState.LOCKED: {DeviceState.REPLACED},
        DeviceState.REPLACED: set(),
    }
    if to not in allowed[DeviceState(device.state)]:
        raise ValidationError(_("This signing device cannot change from “%(from)s” to “%(to)s”.") % {
            "from": DeviceState(device.state).label, "to": DeviceState(to).label})  # fmt: skip
    now = timezone.now()
    device.state = to
    if to == DeviceState.ACTIVE:
        device.confirmed_at = now
    elif to == DeviceState.LOCKED:
        device.locked_at = now
    device.save()


@transaction.atomic
def signing_device_enrol_start(*, actor) -> SigningDevice:
    """The pending device whose secret the enrolment page shows as a QR code (reused until confirmed)."""
    _require_doctor(actor)
    device = SigningDevice.objects.filter(user=actor, state=DeviceState.PENDING).order_by("-created_at").first()
    if device is None:
        device = SigningDevice(user=actor, created_at=timezone.now())
        device.sealed_secret = totp.new_sealed_secret(device)
        device.save()
    return device


def signing_device_confirm(*, actor, code: str) -> SigningDevice:
    """The first code from the app activates the device (replacing any older one, locked or not)
    and, when the doctor has no usable certificate and no remote signer, issues one."""
    _require_doctor(actor)
    with transaction.atomic():
        device = (
            SigningDevice.objects.select_for_update()
            .filter(user=actor, state=DeviceState.PENDING)
            .order_by("-created_at")
            .first()
        )
        if device is None:
            raise ValidationError({"code": _("Start the enrolment again: scan the new QR code first.")})
        step = totp.matching_step(device, code, min_step=None)
        if step is not None:
            for old in SigningDevice.objects.select_for_update().filter(
                user=actor, state__in=[DeviceState.ACTIVE, DeviceState.LOCKED]
            ):
                _transition(old, DeviceState.REPLACED)
            device.last_used_step = step
            _transition(device, DeviceState.ACTIVE)
            if selectors.usable_certificate(actor) is None and not selectors.has_remote_signer(actor):
                signing_certificate_issue(actor=actor)
            return device
    raise ValidationError({"code": _("The code is not right. Check the time on your phone and try again.")})


# --- remote qualified signers (CSC API) -------------------------------------------------


def _run(coroutine):
    # Each call gets its own event loop: signing runs in the request's worker thread, never on
    # the server's own loop, so CPU-bound signing cannot stall other requests.
    return asyncio.run(coroutine)


async def _fetch_credential(connection: csc.Connection):
    async with aiohttp.ClientSession() as session:
        available = await csc.credentials_list(session, connection)
        if connection.credential_id not in available:
            raise csc.RemoteSignerError("unknown_credential")
        return await csc.credential_info(session, connection)


def remote_signer_configure(
    *, actor, provider: RemoteSignerProvider, credential_id: str, access_token: str = ""
) -> RemoteCredential:
    """Record the doctor's remote-signature credential after the provider confirms it and its
    certificate names this doctor (same codice fiscale)."""
    _require_doctor(actor)
    if not provider.active:
        raise ValidationError({"provider": _("This provider is not available any more.")})
    credential_id = credential_id.strip()
    if not credential_id:
        raise ValidationError({"credential_id": _("Type the credential ID your provider gave you.")})
    connection = csc.Connection(
        base_url=provider.base_url, credential_id=credential_id, access_token=access_token.strip()
    )
    try:
        info = _run(_fetch_credential(connection))
    except csc.RemoteSignerError as exc:
        logger.warning("remote signer %s refused credential for user %s: %s", provider.pk, actor.pk, exc)
        if exc.code == "unreachable":
            raise ValidationError(_("The signature provider cannot be reached now. Try again later.")) from exc
        raise ValidationError(
            {"credential_id": _("The provider does not know this credential, or refused access to it.")}
        ) from exc
    certificate_der = info.signing_cert.dump()
    if authority.fiscal_code_of(certificate_der) != _codice_fiscale(actor).upper():
        raise ValidationError(
            {"credential_id": _("The certificate of this credential belongs to someone else (another codice fiscale).")}
        )
    with transaction.atomic():
        RemoteCredential.objects.filter(doctor=actor).delete()
        return RemoteCredential.objects.create(
            doctor=actor,
            provider=provider,
            credential_id=credential_id,
            sealed_access_token=seal(access_token.strip().encode(), purpose=_token_purpose(actor.pk)),
            certificate_der=certificate_der,
            subject=authority.common_name_of(certificate_der),
        )


@transaction.atomic
def remote_signer_remove(*, actor) -> None:
    _require_doctor(actor)
    RemoteCredential.objects.filter(doctor=actor).delete()


# --- signing -------------------------------------------------------------------------------


@dataclass
class SigningAuthorization:
    """Permission to sign ``documents`` PDFs, obtained with one code. Use it once."""

    actor: User
    documents: int
    backend: str
    certificate_der: bytes
    certificate_serial: str
    signer_name: str
    fiscal_code: str
    chain_der: list[bytes] = field(default_factory=list)
    private_key_der: bytes = b""
    remote: tuple | None = None  # (connection, credential info, CSC authorisation) for a remote signer
    used: bool = False


@dataclass(frozen=True)
class DocumentToSign:
    public_id: uuid.UUID
    title: str  # what the platform's record calls it (no patient data: the record is public)
    reason: str  # the text of the visible signature
    pdf: BinaryIO


@dataclass(frozen=True)
class SignedDocument:
    public_id: uuid.UUID
    record: SignatureRecord
    pdf: BinaryIO  # seekable, at 0; a spooled temporary file
    sha256: str
    size: int


def _log(actor, outcome: str, *, device: SigningDevice | None = None, documents: int = 0) -> None:
    SigningAttempt.objects.create(user=actor, device=device, outcome=outcome, documents=documents)
    if outcome != SigningAttemptOutcome.SIGNED:
        logger.warning("signing refused for user %s: %s", actor.pk, outcome)


def _check_local_code(actor, code: str, documents: int) -> tuple[str, SigningDevice | None]:
    """Evaluate the code and commit the counters; returns the outcome (raising comes after the commit)."""
    with transaction.atomic():
        device = (
            SigningDevice.objects.select_for_update()
            .filter(user=actor, state__in=[DeviceState.ACTIVE, DeviceState.LOCKED])
            .first()
        )
        if device is None:
            _log(actor, SigningAttemptOutcome.NO_DEVICE)
            return SigningAttemptOutcome.NO_DEVICE, None
        if device.state == DeviceState.LOCKED:
            _log(actor, SigningAttemptOutcome.LOCKED, device=device)
            return SigningAttemptOutcome.LOCKED, device
        step = totp.matching_step(device, code, min_step=device.last_used_step + 1)
        if step is not None:
            device.last_used_step = step
            device.failed_attempts = 0
            device.save(update_fields=["last_used_step", "failed_attempts"])
            _log(actor, SigningAttemptOutcome.SIGNED, device=device, documents=documents)
            return SigningAttemptOutcome.SIGNED, device
        reused = totp.matching_step(device, code, min_step=None) is not None
        device.failed_attempts += 1
        device.save(update_fields=["failed_attempts"])
        if device.failed_attempts >= MAX_FAILED_CODES:
            _transition(device, DeviceState.LOCKED)
        outcome = SigningAttemptOutcome.REUSED_CODE if reused else SigningAttemptOutcome.WRONG_CODE
        _log(actor, outcome, device=device)
        return outcome, device


def _refusal(outcome: str, device: SigningDevice | None) -> ValidationError:
    if outcome == SigningAttemptOutcome.NO_DEVICE:
        return ValidationError(
            {"code": _("You have no signing device yet. Enrol your authenticator app for signing first.")}
        )
    if outcome == SigningAttemptOutcome.LOCKED or (device is not None and device.state == DeviceState.LOCKED):
        return ValidationError(
            {
                "code": _(
                    "Signing is locked after too many wrong codes. Enrol your authenticator app again to unlock it."
                )
            }
        )
    if outcome == SigningAttemptOutcome.REUSED_CODE:
        return ValidationError({"code": _("This code has already been used. Wait for the next code in your app.")})
    left = MAX_FAILED_CODES - (device.failed_attempts if device else 0)
    return ValidationError(
        {"code": _("The code is not right. Nothing was signed. Attempts left before signing is locked: %(left)d.")
         % {"left": left}}
    )  # fmt: skip


def _certificate_refusal(actor) -> ValidationError:
    latest = SigningCertificate.objects.filter(doctor=actor).order_by("-created_at").first()
    if latest is not None and latest.revoked_at is not None:
        return ValidationError(
            _("Your signing certificate has been revoked. Nothing was signed. Contact the platform staff.")
        )
    if latest is not None and latest.not_after <= timezone.now():
        return ValidationError(
            _(
                "Your signing certificate has expired. Nothing was signed. Enrol your authenticator app again to get a new one."
            )
        )
    return ValidationError(_("You have no signing certificate. Enrol your authenticator app for signing first."))


async def _authorize_remote(connection: csc.Connection, *, otp: str, documents: int):
    async with aiohttp.ClientSession() as session:
        info = await csc.credential_info(session, connection)
        authorization = await csc.authorize(
            session, connection, otp=otp, signatures=documents, description=f"telemed: {documents} document(s)"
        )
        return info, authorization


def _authorize_remote_signer(actor, credential: RemoteCredential, code: str, documents: int) -> SigningAuthorization:
    token = (
        unseal(bytes(credential.sealed_access_token), purpose=_token_purpose(actor.pk)).decode()
        if credential.sealed_access_token
        else ""
    )
    connection = csc.Connection(
        base_url=credential.provider.base_url, credential_id=credential.credential_id, access_token=token
    )
    try:
        info, csc_authorization = _run(_authorize_remote(connection, otp=code.strip(), documents=documents))
    except csc.RemoteSignerError as exc:
        _log(actor, SigningAttemptOutcome.REMOTE_REFUSED)
        logger.warning("remote signer refused user %s: %s", actor.pk, exc)
        if exc.code == "unreachable":
            raise ValidationError(_("The signature provider cannot be reached now. Nothing was signed.")) from exc
        raise ValidationError(
            {"code": _("Your signature provider refused the code. Nothing was signed. Check the code and try again.")}
        ) from exc
    certificate_der = info.signing_cert.dump()
    _log(actor, SigningAttemptOutcome.SIGNED, documents=documents)
    return SigningAuthorization(
        actor=actor,
        documents=documents,
        backend=SignatureBackend.REMOTE,
        certificate_der=certificate_der,
        certificate_serial=str(info.signing_cert.serial_number),
        signer_name=authority.common_name_of(certificate_der),
        fiscal_code=authority.fiscal_code_of(certificate_der),
        chain_der=[c.dump() for c in info.chain],
        remote=(connection, info, csc_authorization),
    )


def signing_authorize(*, actor, code: str, documents: int) -> SigningAuthorization:
    """Check the doctor's code for signing ``documents`` PDFs. Commits its outcome itself: call it
    outside your transaction. Raises ValidationError with a clear message when refused."""
    _require_doctor(actor)
    if documents < 1:
        raise ValidationError(_("Choose at least one document to sign."))
    if documents > BATCH_LIMIT:
        raise ValidationError(_("At most %(limit)d documents can be signed at once.") % {"limit": BATCH_LIMIT})
    if not (code or "").strip():
        # Not an attempt: an empty field neither counts towards the lockout nor reaches a provider.
        raise ValidationError({"code": _("Type the code your signing app shows now.")})
    credential = selectors.remote_credential(actor)
    if credential is not None:
        return _authorize_remote_signer(actor, credential, code, documents)
    certificate = selectors.usable_certificate(actor)
    outcome, device = _check_local_code(actor, code, documents)
    if outcome != SigningAttemptOutcome.SIGNED:
        raise _refusal(outcome, device)
    if certificate is None:
        raise _certificate_refusal(actor)
    serial = certificate.serial_number
    return SigningAuthorization(
        actor=actor,
        documents=documents,
        backend=SignatureBackend.LOCAL,
        certificate_der=bytes(certificate.certificate_der),
        certificate_serial=serial,
        signer_name=authority.common_name_of(bytes(certificate.certificate_der)),
        fiscal_code=authority.fiscal_code_of(bytes(certificate.certificate_der)),
        chain_der=[bytes(certificate.authority.certificate_der)],
        private_key_der=unseal(bytes(certificate.sealed_key), purpose=_certificate_key_purpose(serial)),
    )


def _spool() -> BinaryIO:
    # A binary file, in memory until it grows: typeshed types it IO[bytes], pyHanko asks for BinaryIO.
    return cast(BinaryIO, tempfile.SpooledTemporaryFile(max_size=SIGNING_SPOOL_BYTES))


async def _sign_all(authorization: SigningAuthorization, documents: list[DocumentToSign], outputs: list[BinaryIO]):
    async with aiohttp.ClientSession() as session:
        timestamper = pades.timestamper_for(settings.SIGNING_TSA_URL, session) if settings.SIGNING_TSA_URL else None
        signer: signers.Signer
        if authorization.backend == SignatureBackend.REMOTE and authorization.remote is not None:
            connection, info, csc_authorization = authorization.remote
            manager = csc.BatchAuthorizationManager(
                connection.session_info, info, csc_authorization, authorization.documents
            )
            signer = csc.remote_signer(session, manager)
        else:
            signer = pades.local_signer(
                certificate_der=authorization.certificate_der,
                private_key_der=authorization.private_key_der,
                chain_der=authorization.chain_der,
            )
        when = timezone.localtime().strftime("%d/%m/%Y %H:%M:%S %Z")
        for document, output in zip(documents, outputs, strict=True):
            document.pdf.seek(0)
            await pades.sign_pdf(
                pdf=document.pdf,
                output=output,
                signer=signer,
                appearance=pades.Appearance(signer_name=authorization.signer_name, reason=document.reason, when=when),
                timestamper=timestamper,
            )


def _digest(stream: BinaryIO) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    stream.seek(0)
    while chunk := stream.read(1024 * 1024):
        digest.update(chunk)
        size += len(chunk)
    stream.seek(0)
    return digest.hexdigest(), size


@transaction.atomic
def documents_sign(*, authorization: SigningAuthorization, documents: list[DocumentToSign]) -> list[SignedDocument]:
    """Sign every document with the authorised certificate and record each signature."""
    if authorization.used:
        raise ValidationError(_("This signing authorisation has already been used. Type a new code."))
    if len(documents) != authorization.documents:
        raise ValidationError(_("The code was given for a different number of documents."))
    authorization.used = True
    outputs = [_spool() for _ in documents]
    try:
        _run(_sign_all(authorization, documents, outputs))
    except (SigningError, csc.RemoteSignerError, aiohttp.ClientError, TimeoutError) as exc:
        for output in outputs:
            output.close()
        logger.warning("signing failed for user %s: %s", authorization.actor.pk, exc)
        raise ValidationError(_("The signature could not be applied. Nothing was signed. Try again.")) from exc
    level = "PAdES-B-T" if settings.SIGNING_TSA_URL else "PAdES-B-B"
    signed = []
    now = timezone.now()
    for document, output in zip(documents, outputs, strict=True):
        sha256, size = _digest(output)
        record = SignatureRecord.objects.create(
            public_id=document.public_id,
            signer=authorization.actor,
            signer_name=authorization.signer_name,
            signer_fiscal_code=authorization.fiscal_code,
            backend=authorization.backend,
            certificate_serial=authorization.certificate_serial,
            level=level,
            title=document.title[:200],
            sha256=sha256,
            size=size,
            signed_at=now,
        )
        signed.append(SignedDocument(public_id=document.public_id, record=record, pdf=output, sha256=sha256, size=size))
    return signed
