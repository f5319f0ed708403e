"""The arithmetic of the signing device's time-based codes (RFC 6238, via django-otp's TOTP)."""

import base64
import secrets
from urllib.parse import quote, urlencode

from django_otp.oath import TOTP

from telemed.signatures.models import SigningDevice
from telemed.signatures.sealing import seal, unseal

STEP_SECONDS = 30
DIGITS = 6
# One step either way: a phone whose clock is a little off still works.
TOLERANCE_STEPS = 1
ISSUER = "telemed firma"


def _purpose(device: SigningDevice) -> str:
    return f"signing-totp:{device.user_id}"


def new_sealed_secret(device: SigningDevice) -> bytes:
    return seal(secrets.token_bytes(20), purpose=_purpose(device))


def secret_of(device: SigningDevice) -> bytes:
    return unseal(device.sealed_secret, purpose=_purpose(device))


def secret_base32(device: SigningDevice) -> str:
    return base64.b32encode(secret_of(device)).decode().rstrip("=")


def matching_step(device: SigningDevice, code: str, *, min_step: int | None) -> int | None:
    """The time step the code belongs to (not before ``min_step``), or None."""
    code = (code or "").strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    totp = TOTP(secret_of(device), step=STEP_SECONDS, digits=DIGITS)
    if totp.verify(int(code), tolerance=TOLERANCE_STEPS, min_t=min_step):
        return totp.t()
    return None


def code_at(device: SigningDevice, at: float) -> str:
    """The code the device's app shows at the Unix time ``at`` (the demo data plays the app,
    and so do the tests)."""
    generator = TOTP(secret_of(device), step=STEP_SECONDS, digits=DIGITS)
    generator.time = at
    return f"{generator.token():0{DIGITS}d}"


def provisioning_uri(device: SigningDevice) -> str:
    """otpauth:// URI for the enrolment QR code, labelled apart from the login's code."""
    label = quote(f"{ISSUER}:{device.user.email}")
    query = urlencode({"secret": secret_base32(device), "issuer": ISSUER, "digits": DIGITS, "period": STEP_SECONDS})
    return f"otpauth://totp/{label}?{query}"
