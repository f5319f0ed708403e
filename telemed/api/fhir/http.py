"""How the FHIR endpoint answers: ``application/fhir+json``, every refusal an OperationOutcome in
the person's language (Accept-Language, Italian by default), and who is asking.

A caller is an OAuth token of the platform's server (the REST API's own check: known, not
expired, not revoked, an active account that gave the consents in force) with a SMART scope:
``user/*.read`` reads what the person reads on the pages; ``patient/*.read`` is for a patient's
own record (the patient in context is the account itself), so it is no scope for a doctor.
No token is a 401; a token without the scope is a 403 ``insufficient_scope``."""

import json

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja.errors import HttpError
from oauth2_provider.models import get_access_token_model

from telemed.api.auth import OAuthToken
from telemed.api.throttling import TokenRateThrottle

FHIR_JSON = "application/fhir+json; charset=utf-8"
PATIENT_SCOPE = "patient/*.read"
USER_SCOPE = "user/*.read"

_token = OAuthToken(None)
_throttle = TokenRateThrottle()


class Refusal(Exception):
    """An answer other than the resource: its status, OperationOutcome code and text."""

    def __init__(self, status: int, code: str, text: str, headers: dict | None = None) -> None:
        super().__init__(text)
        self.status, self.code, self.text, self.headers = status, code, text, headers or {}


def fhir_response(resource: dict, status: int = 200) -> HttpResponse:
    response = HttpResponse(json.dumps(resource, ensure_ascii=False), status=status, content_type=FHIR_JSON)
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def operation_outcome(code: str, text: str) -> dict:
    return {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": text}]}


def refusal_response(refusal: Refusal) -> HttpResponse:
    response = fhir_response(operation_outcome(refusal.code, refusal.text), status=refusal.status)
    for name, value in refusal.headers.items():
        response[name] = value
    return response


def not_found() -> Refusal:
    # Missing and forbidden are the same answer: nobody learns that an object exists.
    return Refusal(404, "not-found", _("Not found."))


def invalid(text: str) -> Refusal:
    return Refusal(400, "invalid", text)


def caller(request: HttpRequest):
    """The person a request's token is for, checked for a FHIR scope and the rate limit."""
    try:
        user = _token(request)
    except HttpError as error:  # the account owes the consents of a new notice
        raise Refusal(403, "forbidden", str(error)) from None
    if user is None:
        raise Refusal(
            401,
            "login",
            _("Log in first: this needs a valid access token."),
            {"WWW-Authenticate": 'Bearer realm="telemed"'},
        )
    scopes = set(get_access_token_model().objects.get(pk=request.api_token_id).scope.split())
    if not (USER_SCOPE in scopes or (PATIENT_SCOPE in scopes and user.is_patient)):
        needed = PATIENT_SCOPE if user.is_patient else USER_SCOPE
        raise Refusal(
            403,
            "forbidden",
            _("This access token does not allow reading health data in the FHIR format."),
            {"WWW-Authenticate": f'Bearer realm="telemed", error="insufficient_scope", scope="{needed}"'},
        )
    if not _throttle.allow_request(request):
        raise Refusal(
            429,
            "throttled",
            _("Too many requests: wait a moment and try again."),
            {"Retry-After": str(int(_throttle.wait() or 1))},
        )
    return user
