"""Doctors and platform staff must pass their second factor before any page but the ones that
let them do so (the back office at /admin/ included)."""

from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

# Views reachable between password and TOTP code.
OPEN_BEFORE_SECOND_FACTOR = frozenset(
    {
        "accounts:totp_setup",
        "accounts:totp_verify",
        "accounts:logout",
        "accounts:verify_email",
        "accounts:password_reset_confirm",
        "set_language",
        "healthz",
    }
)


class SecondFactorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = request.user
        if not (user.is_authenticated and user.needs_second_factor) or user.is_verified():
            return None
        match = request.resolver_match
        if match is not None and match.view_name in OPEN_BEFORE_SECOND_FACTOR:
            return None
        return redirect(reverse("accounts:totp_verify") + "?" + urlencode({"next": request.get_full_path()}))
