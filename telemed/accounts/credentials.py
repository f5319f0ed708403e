"""Password and e-mail address: changed by the account holder, told to the account.

Rules:
- A password is changed with the current one; the session in use stays logged in (and past its
  second factor), every other session of the account is logged out.
- A password set through the reset link logs out every session.
- An e-mail address is changed with the current password; the new address must confirm with a
  signed link (valid one day) mailed to it, and the old address is told at once. The change
  happens only if the account still has the old address and the new one is still free.
- A wrong current password counts against the account's second-factor throttle, so that a
  stolen session cannot be used to guess the password either.
- Each change is a ``SecurityEvent``, e-mailed to the account.
"""

import datetime

from django.contrib.auth import password_validation, update_session_auth_hash
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from telemed.accounts import sessions, tasks
from telemed.accounts.models import SecurityEventKind, User
from telemed.accounts.second_factor import locked_refusal, throttled_attempt
from telemed.accounts.security_log import security_event_record
from telemed.lib.text import account_email

EMAIL_CHANGE_SALT = "telemed.accounts.email-change"
EMAIL_CHANGE_MAX_AGE = datetime.timedelta(days=1)


def _check_current_password(request: HttpRequest, password: str) -> None:
    user = request.user
    outcome = throttled_attempt(user, request, lambda: user.check_password(password or ""))
    if outcome == "locked":
        raise locked_refusal()
    if outcome == "wrong":
        raise ValidationError({"current_password": _("The current password is not right.")})


def password_change(*, request: HttpRequest, current_password: str, new_password: str) -> None:
    user = request.user
    if not user.is_authenticated:
        raise PermissionDenied
    _check_current_password(request, current_password)
    try:
        password_validation.validate_password(new_password, user)
    except ValidationError as error:
        raise ValidationError({"new_password1": error.messages}) from error
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        security_event_record(user=user, kind=SecurityEventKind.PASSWORD_CHANGED, request=request)
    # The session in use keeps working (and keeps its second factor); the others are logged out.
    update_session_auth_hash(request, user)
    sessions.sessions_end(user=user, keep_session_key=request.session.session_key)


@transaction.atomic
def password_reset_completed(*, user: User, request: HttpRequest | None = None) -> None:
    """After a password set through the e-mailed link: every session ends and the account is told."""
    sessions.sessions_end(user=user)
    security_event_record(user=user, kind=SecurityEventKind.PASSWORD_RESET, request=request)


def email_change_token(*, user: User, new_email: str) -> str:
    return signing.dumps({"u": user.pk, "old": user.email, "new": new_email}, salt=EMAIL_CHANGE_SALT)


def email_change_request(*, request: HttpRequest, new_email: str, current_password: str) -> None:
    """Mail a confirmation link to ``new_email`` and tell the current address."""
    user = request.user
    if not user.is_authenticated:
        raise PermissionDenied
    new_email = account_email(new_email)
    if new_email == account_email(user.email):
        raise ValidationError({"email": _("This is already your e-mail address.")})
    _check_current_password(request, current_password)
    if User.objects.filter(email__iexact=new_email).exists():
        raise ValidationError({"email": _("An account with this e-mail address already exists.")})
    with transaction.atomic():
        security_event_record(user=user, kind=SecurityEventKind.EMAIL_CHANGE_REQUESTED, request=request)
        tasks.send_email_change_confirmation.enqueue(
            user_id=user.pk, token=email_change_token(user=user, new_email=new_email)
        )


def email_change_confirm(*, token: str, request: HttpRequest | None = None) -> User:
    """The new address confirms: the account takes it, both addresses are told."""
    try:
        data = signing.loads(token, salt=EMAIL_CHANGE_SALT, max_age=EMAIL_CHANGE_MAX_AGE)
    except signing.SignatureExpired as exc:
        raise ValidationError(
            _("This confirmation link has expired. Ask for the change again from your security page.")
        ) from exc
    except (signing.BadSignature, ValueError) as exc:
        raise ValidationError(_("This confirmation link is not valid.")) from exc
    try:
        with transaction.atomic():
            user = User.objects.select_for_update().filter(pk=data.get("u"), email=data.get("old")).first()
            if user is None:
                raise ValidationError(_("This confirmation link is not valid any more."))
            if User.objects.filter(email__iexact=data.get("new")).exclude(pk=user.pk).exists():
                raise ValidationError(_("An account with this e-mail address already exists."))
            previous = user.email
            user.email = data["new"]
            user.email_verified_at = timezone.now()
            user.save(update_fields=["email", "email_verified_at"])
            security_event_record(
                user=user, kind=SecurityEventKind.EMAIL_CHANGED, request=request, previous_email=previous
            )
    except IntegrityError as exc:
        raise ValidationError(_("An account with this e-mail address already exists.")) from exc
    return user


def sessions_end_others(*, request: HttpRequest, current_password: str, session_id: int | None = None) -> int:
    """ "Log out everywhere else" (or only the device ``session_id``), after the password; the
    session in use is never ended here (that is the logout button)."""
    user = request.user
    if not user.is_authenticated:
        raise PermissionDenied
    _check_current_password(request, current_password)
    with transaction.atomic():
        ended = sessions.sessions_end(user=user, keep_session_key=request.session.session_key, only_id=session_id)
        security_event_record(user=user, kind=SecurityEventKind.SESSIONS_ENDED, request=request)
    return ended
