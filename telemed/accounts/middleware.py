"""Doctors and platform staff must pass their second factor before any page but the ones that
let them do so (the back office at /admin/ included); an account must give the consents the
notices in force ask for before any page but the notices themselves; every logged-in browser is
noted so that the account can list and end its sessions."""

from channels.db import database_sync_to_async
from django.contrib.auth import logout
from django.contrib.auth.models import AnonymousUser
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.models import Device

from telemed.accounts.consents import consents_missing
from telemed.accounts.second_factor import has_confirmed_authenticator
from telemed.accounts.sessions import session_close_sockets, session_seen, session_too_old

# Views reachable between password and TOTP code.
OPEN_BEFORE_SECOND_FACTOR = frozenset(
    {
        "accounts:totp_setup",
        "accounts:totp_verify",
        "accounts:logout",
        "accounts:verify_email",
        "accounts:password_reset_confirm",
        "accounts:email_change_confirm",
        "set_language",
        "healthz",
        # The installed app's own files: a browser fetches them for any page, and a service
        # worker's script may not be answered with a redirect.
        "portal:manifest",
        "portal:service_worker",
        "portal:offline",
    }
)


def answers_half_logins_itself(view):
    """Mark a view that checks the login on its own and refuses a session short of the second
    factor or of the consents in its own terms: the API answers a JSON 401 or 403 to an app,
    where a redirect to a page would mean nothing."""
    view.answers_half_logins_itself = True
    return view


class SecondFactorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = request.user
        if not (user.is_authenticated and user.needs_second_factor) or user.is_verified():
            return None
        if getattr(view_func, "answers_half_logins_itself", False):
            return None
        match = request.resolver_match
        view_name = match.view_name if match is not None else None
        if view_name == "accounts:totp_setup" and has_confirmed_authenticator(user):
            # Enrolling before the second factor is for accounts that have none: otherwise a
            # stolen password would replace the real authenticator with the thief's.
            return redirect(reverse("accounts:totp_verify"))
        if view_name in OPEN_BEFORE_SECOND_FACTOR:
            return None
        return redirect(reverse("accounts:totp_verify") + "?" + urlencode({"next": request.get_full_path()}))


# Views reachable while consents are missing: the page that asks for them and what it links to.
OPEN_BEFORE_CONSENTS = OPEN_BEFORE_SECOND_FACTOR | {
    "accounts:consents_renew",
    "accounts:notice",
    "accounts:notice_version",
}


class ConsentMiddleware:
    """A new version of the privacy notice or of the terms, or a required consent withdrawn: the
    account is asked (again) before any other page (accounts.consents)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = request.user
        if not user.is_authenticated or (user.needs_second_factor and not user.is_verified()):
            return None  # the second factor comes first (SecondFactorMiddleware)
        if getattr(view_func, "answers_half_logins_itself", False):
            return None
        match = request.resolver_match
        if match is not None and match.view_name in OPEN_BEFORE_CONSENTS:
            return None
        if not consents_missing(user):
            return None
        return redirect(reverse("accounts:consents_renew") + "?" + urlencode({"next": request.get_full_path()}))


class AccountSessionMiddleware:
    """Notes each logged-in browser (at most every few minutes) for the account's session list,
    and logs out a session older than its absolute age."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and session_too_old(request):
            session_close_sockets(session_key=request.session.session_key)
            logout(request)
        response = self.get_response(request)
        # After the view: a login or logout in this very request has already changed the session.
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            session_seen(request=request)
        return response


class SecondFactorWebsocketMiddleware:
    """The same rule for WebSockets, which no HTTP middleware sees: a doctor or staff member past
    the password only is anonymous to every consumer (which then closes with 4401), so a stolen
    password cannot read or send a message live. Goes inside Channels' AuthMiddlewareStack."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        user = scope.get("user")
        if user is not None and user.is_authenticated and user.needs_second_factor:
            if not await database_sync_to_async(self._passed_second_factor)(scope["session"], user):
                scope = dict(scope, user=AnonymousUser())
        return await self.inner(scope, receive, send)

    @staticmethod
    def _passed_second_factor(session, user) -> bool:
        # As django-otp's OTPMiddleware: the session names a confirmed device of this very user.
        persistent_id = session.get(DEVICE_ID_SESSION_KEY)
        device = Device.from_persistent_id(persistent_id) if persistent_id else None
        return device is not None and device.user_id == user.pk and device.confirmed
