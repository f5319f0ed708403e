"""The second factor of doctors and staff: enrolment, login, replacement, recovery codes, lockout.

Rules:
- An account enrols an authenticator app before its second factor only while it has **no**
  confirmed one. Replacing a confirmed authenticator needs a session that already passed the
  second factor, the current password and a current proof (a code of the current app or a recovery
  code; a session that logged in with a recovery code has just given that proof).
- One confirmed authenticator per account: a replacement deletes the old one in the same
  transaction that confirms the new one.
- Ten single-use recovery codes (django-otp's static tokens, 80 random bits each) are made at
  enrolment and on request after re-authentication; making new ones voids the old. They are shown
  once. A code is spent by deleting its row: of two sessions racing with the same code, one wins.
- Wrong codes, wrong recovery codes and wrong passwords typed to re-authenticate are counted per
  account, whatever the session: after ``SECOND_FACTOR_FAILURE_LIMIT`` in a row the second factor
  is refused for ``SECOND_FACTOR_COOLOFF`` (the account is told by e-mail). The count is committed
  before the refusal is raised, so a caller's rollback cannot undo it. django-otp's own back-off
  per device still applies on top.
- Replacing the authenticator ends every other session of the account (the old phone may be
  lost or stolen); the staff reset ends them all.
- Staff may reset an account's second factor (the person lost both phone and codes): every device
  and session of the account goes, the account is told by e-mail and the reset is in the trail.
- Each change is a ``SecurityEvent`` (see ``security_log``).
"""

import re
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from telemed.accounts import sessions
from telemed.accounts.models import SecondFactorThrottle, SecurityEventKind, User
from telemed.accounts.security_log import security_event_record
from telemed.lib import formatting

RECOVERY_CODE_COUNT = 10
_TOTP_SHAPE = re.compile(r"^\d{6}$")


# --- the per-account throttle ---------------------------------------------------------------------


def _locked(throttle: SecondFactorThrottle, now) -> bool:
    return (
        throttle.failures >= settings.SECOND_FACTOR_FAILURE_LIMIT
        and throttle.last_failure_at is not None
        and now - throttle.last_failure_at < settings.SECOND_FACTOR_COOLOFF
    )


def second_factor_locked(user: User) -> bool:
    throttle = SecondFactorThrottle.objects.filter(user=user).first()
    return throttle is not None and _locked(throttle, timezone.now())


def locked_refusal() -> ValidationError:
    minutes = int(settings.SECOND_FACTOR_COOLOFF.total_seconds() // 60)
    return ValidationError(
        {
            "code": _("Too many wrong codes for this account. Try again in %(duration)s.")
            % {"duration": formatting.minutes(minutes)}
        }
    )


def throttled_attempt(user: User, request: HttpRequest | None, check: Callable[[], bool]) -> str:
    """Run ``check`` under the account's throttle and commit its count: "ok", "wrong" or "locked".

    The throttle row is locked for the check, so that parallel sessions are counted one by one."""
    with transaction.atomic():
        throttle, _created = SecondFactorThrottle.objects.get_or_create(user=user)
        throttle = SecondFactorThrottle.objects.select_for_update().get(pk=throttle.pk)
        now = timezone.now()
        if _locked(throttle, now):
            return "locked"
        if throttle.last_failure_at and now - throttle.last_failure_at >= settings.SECOND_FACTOR_COOLOFF:
            throttle.failures = 0  # an old run of failures does not count against a new one
        if check():
            throttle.failures = 0
            throttle.save(update_fields=["failures"])
            return "ok"
        throttle.failures += 1
        throttle.last_failure_at = now
        throttle.save(update_fields=["failures", "last_failure_at"])
        if throttle.failures == settings.SECOND_FACTOR_FAILURE_LIMIT:
            security_event_record(user=user, kind=SecurityEventKind.SECOND_FACTOR_LOCKED, request=request)
        return "wrong"


# --- codes ------------------------------------------------------------------------------------------


def normalise_recovery_code(code: str) -> str:
    """Recovery codes are shown as ``abcd-efgh-ijkl-mnop``; people type them with or without dashes."""
    return re.sub(r"[^0-9a-z]", "", (code or "").lower())[:32]


def _format_recovery_code(token: str) -> str:
    return "-".join(token[i : i + 4] for i in range(0, len(token), 4))


def _totp_matches(device: TOTPDevice, code: str) -> bool:
    # verify_token also honours django-otp's back-off per device and refuses a replayed code.
    return bool(_TOTP_SHAPE.match(code)) and device.verify_token(code)


def _recovery_code_spent(user: User, code: str) -> bool:
    token = normalise_recovery_code(code)
    if len(token) != 16:
        return False
    deleted, _rows = StaticToken.objects.filter(device__user=user, device__confirmed=True, token=token).delete()
    return deleted > 0


def _confirmed_totp(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def _recovery_device(user: User) -> StaticDevice:
    device = StaticDevice.objects.filter(user=user).order_by("id").first()
    if device is None:
        device = StaticDevice.objects.create(user=user, name=_("Recovery codes"), confirmed=True)
    return device


def _new_recovery_codes(user: User) -> list[str]:
    """Void the account's recovery codes and make ten new ones (returned once, formatted)."""
    device = _recovery_device(user)
    device.token_set.all().delete()
    tokens = []
    while len(tokens) < RECOVERY_CODE_COUNT:
        # 16 base32 characters: 80 random bits each.
        token = (StaticToken.random_token() + StaticToken.random_token())[:16]
        if token not in tokens:
            tokens.append(token)
    StaticToken.objects.bulk_create(StaticToken(device=device, token=token) for token in tokens)
    return [_format_recovery_code(token) for token in tokens]


def recovery_codes_left(user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def has_confirmed_authenticator(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def verified_with_recovery_code(request: HttpRequest) -> bool:
    persistent_id = request.session.get(DEVICE_ID_SESSION_KEY) or ""
    return persistent_id.startswith("otp_static.")


# --- enrolment and login ----------------------------------------------------------------------------


def totp_enrolment_start(*, actor: User) -> TOTPDevice:
    """The unconfirmed device whose secret the enrolment page shows as a QR code (reused until confirmed)."""
    device = TOTPDevice.objects.filter(user=actor, confirmed=False).order_by("-id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=actor, name=_("Authenticator app"), confirmed=False)
    return device


def _refuse(outcome: str, wrong: ValidationError) -> None:
    if outcome == "locked":
        raise locked_refusal()
    if outcome == "wrong":
        raise wrong


def _wrong_code() -> ValidationError:
    return ValidationError({"code": _("The code is not right. Check the time on your phone and try again.")})


def totp_enrolment_confirm(*, request: HttpRequest, device: TOTPDevice, code: str) -> list[str]:
    """First enrolment: the first code from the app confirms it. Returns the new recovery codes.

    Refused for an account that already has a confirmed authenticator: that is a replacement
    (``totp_replace``), which asks for more than a session past the password."""
    user = request.user
    if device.user_id != user.pk or device.confirmed or has_confirmed_authenticator(user):
        raise PermissionDenied
    _refuse(throttled_attempt(user, request, lambda: _totp_matches(device, (code or "").strip())), _wrong_code())
    with transaction.atomic():
        if TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).exists():
            raise PermissionDenied  # another session enrolled meanwhile
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = _new_recovery_codes(user)
        security_event_record(user=user, kind=SecurityEventKind.SECOND_FACTOR_ENROLLED, request=request)
    otp_login(request, device)
    return codes


def second_factor_login(*, request: HttpRequest, code: str) -> None:
    """Second step of a login: a code of the authenticator app, or one recovery code."""
    user = request.user
    device = _confirmed_totp(user)
    if device is None:
        raise PermissionDenied
    code = (code or "").strip()
    if _TOTP_SHAPE.match(code.replace(" ", "")):
        allowed, _detail = device.verify_is_allowed()
        if not allowed:
            raise ValidationError(
                {"code": _("Too many wrong codes. Wait a few seconds, then type the code your app shows now.")}
            )
        _refuse(throttled_attempt(user, request, lambda: _totp_matches(device, code.replace(" ", ""))), _wrong_code())
        otp_login(request, device)
        return
    outcome = throttled_attempt(user, request, lambda: _recovery_code_spent(user, code))
    _refuse(outcome, ValidationError({"code": _("This recovery code is not valid, or it was already used.")}))
    security_event_record(user=user, kind=SecurityEventKind.RECOVERY_CODE_USED, request=request)
    otp_login(request, _recovery_device(user))


# --- re-authentication, replacement, new recovery codes --------------------------------------------


def _reauthenticate(request: HttpRequest, *, password: str, code: str | None) -> None:
    """The current password and, unless ``code`` is None, a current proof of the second factor."""
    user = request.user
    if not (user.is_authenticated and user.is_verified()):
        raise PermissionDenied
    outcome = throttled_attempt(user, request, lambda: user.check_password(password or ""))
    _refuse(outcome, ValidationError({"password": _("The password is not right.")}))
    if code is None:
        return
    device = _confirmed_totp(user)

    def proof() -> bool:
        given = (code or "").strip().replace(" ", "")
        if _TOTP_SHAPE.match(given):
            return device is not None and _totp_matches(device, given)
        return _recovery_code_spent(user, given)

    outcome = throttled_attempt(user, request, proof)
    _refuse(
        outcome,
        ValidationError({"current_code": _("This code is not right: use your current app or a recovery code.")}),
    )


def reauthenticate(request: HttpRequest, *, password: str, code: str) -> None:
    """Confirm it is the account holder before a sensitive action of another app (deleting the
    account): the current password and, for an account with a second factor, a current code or a
    recovery code. Wrong ones count against the account's throttle like any other."""
    user = request.user
    if not user.is_authenticated:
        raise PermissionDenied
    if user.needs_second_factor or has_confirmed_authenticator(user):
        _reauthenticate(request, password=password, code=code)
        return
    outcome = throttled_attempt(user, request, lambda: user.check_password(password or ""))
    _refuse(outcome, ValidationError({"password": _("The password is not right.")}))


def totp_replace(
    *, request: HttpRequest, password: str, current_code: str, new_device: TOTPDevice, new_code: str
) -> None:
    """Move the account's second factor to a new app (a new phone, or after a lost one)."""
    user = request.user
    if new_device.user_id != user.pk or new_device.confirmed:
        raise PermissionDenied
    current = None if verified_with_recovery_code(request) else current_code
    _reauthenticate(request, password=password, code=current)
    outcome = throttled_attempt(user, request, lambda: _totp_matches(new_device, (new_code or "").strip()))
    _refuse(
        outcome,
        ValidationError(
            {"new_code": _("The code of the new app is not right. Check the time on your phone and try again.")}
        ),
    )
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=True).delete()
        new_device.confirmed = True
        new_device.save(update_fields=["confirmed"])
        security_event_record(user=user, kind=SecurityEventKind.SECOND_FACTOR_REPLACED, request=request)
        # The old phone may be in someone else's hands: its sessions (and their sockets) end.
        sessions.sessions_end(user=user, keep_session_key=request.session.session_key)
    otp_login(request, new_device)


def recovery_codes_regenerate(*, request: HttpRequest, password: str, code: str) -> list[str]:
    """Ten new recovery codes (the old ones stop working), after the password and a current code."""
    _reauthenticate(request, password=password, code=code)
    with transaction.atomic():
        codes = _new_recovery_codes(request.user)
        security_event_record(user=request.user, kind=SecurityEventKind.RECOVERY_CODES_CREATED, request=request)
    return codes


@transaction.atomic
def second_factor_reset_by_staff(*, actor: User, user: User, request: HttpRequest | None = None) -> None:
    """Staff remove every second-factor device of ``user`` (who lost phone and recovery codes) and
    end their sessions; the next login enrols a new app. Staff must have checked who is asking."""
    if not actor.is_staff or actor.pk == user.pk:
        raise PermissionDenied
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    SecondFactorThrottle.objects.filter(user=user).delete()
    sessions.sessions_end(user=user)
    security_event_record(user=user, kind=SecurityEventKind.SECOND_FACTOR_RESET_BY_STAFF, request=request, actor=actor)
