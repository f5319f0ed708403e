"""Every refusal of the API as JSON ``{"detail": …, "errors": […]}`` in the person's language
(Accept-Language, Italian by default): what a page would say, never a 500 for what a client
sends."""

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, Throttled
from ninja.errors import ValidationError as RequestValidationError

from telemed.api.auth import InsufficientScope, SecondFactorMissing


class FieldError(Schema):
    field: str
    message: str


class Error(Schema):
    detail: str
    errors: list[FieldError] = []


# A download's body: the document's own type, whatever it is.
FILE_CONTENT = {"*/*": {"schema": {"type": "string", "format": "binary"}}}

# Declared on every operation, so that the OpenAPI document lists every answer a client can get:
# 400 for what the request says (a field), 409 for a request the object's state refuses (a consult
# not yet started cannot be answered).
ERRORS = {400: Error, 401: Error, 403: Error, 404: Error, 409: Error, 429: Error}


def _answer(api: NinjaAPI, request: HttpRequest, status: int, detail: str, errors=()) -> HttpResponse:
    return api.create_response(request, {"detail": detail, "errors": list(errors)}, status=status)


def _request_errors(error: RequestValidationError) -> list[dict]:
    found = []
    for item in error.errors:
        location = ".".join(str(part) for part in item.get("loc", ()) if part not in ("body", "query", "path"))
        found.append({"field": location or "request", "message": _("This value is not valid.")})
    return found


def _service_errors(error: DjangoValidationError) -> tuple[str, list[dict]]:
    if hasattr(error, "error_dict"):
        errors = [
            {"field": "request" if field == "__all__" else field, "message": str(message)}
            for field, messages in error.message_dict.items()
            for message in messages
        ]
    else:
        errors = [{"field": "request", "message": str(message)} for message in error.messages]
    return " ".join(item["message"] for item in errors), errors


def install(api: NinjaAPI) -> None:
    @api.exception_handler(RequestValidationError)
    def request_not_valid(request, error):
        return _answer(
            api, request, 400, _("The request is not valid: check the fields listed."), _request_errors(error)
        )

    @api.exception_handler(DjangoValidationError)
    def refused(request, error):
        detail, errors = _service_errors(error)
        return _answer(api, request, 400 if hasattr(error, "error_dict") else 409, detail, errors)

    @api.exception_handler(MultiPartParserError)
    def unreadable(request, error):
        # A body the request says is multipart but is not (no boundary): read while checking the token.
        return _answer(api, request, 400, _("The body of the request cannot be read."))

    @api.exception_handler(AuthenticationError)
    def not_authenticated(request, error):
        if isinstance(error, SecondFactorMissing):
            response = _answer(api, request, 401, str(error))
        else:
            response = _answer(api, request, 401, _("Log in first: this needs a valid access token."))
        # RFC 6750 §3: a token was sent and is not (or no longer) valid; no token, the realm only.
        sent_token = request.headers.get("Authorization", "").lower().startswith("bearer ")
        response["WWW-Authenticate"] = (
            'Bearer realm="telemed", error="invalid_token"' if sent_token else 'Bearer realm="telemed"'
        )
        return response

    @api.exception_handler(InsufficientScope)
    def insufficient_scope(request, error):
        response = _answer(api, request, 403, str(error))
        response["WWW-Authenticate"] = f'Bearer realm="telemed", error="insufficient_scope", scope="{error.scope}"'
        return response

    @api.exception_handler(PermissionDenied)
    def forbidden(request, error):
        return _answer(api, request, 403, _("You are not allowed to do this."))

    @api.exception_handler(Http404)
    def not_found(request, error):
        return _answer(api, request, 404, _("Not found."))

    @api.exception_handler(Throttled)
    def throttled(request, error):
        return _answer(api, request, 429, _("Too many requests: wait a moment and try again."))

    @api.exception_handler(HttpError)
    def http_error(request, error):
        if error.status_code == 400 and str(error).startswith("Cannot parse request body"):  # ninja's own words
            return _answer(api, request, 400, _("The body of the request is not valid JSON."))
        if error.status_code == 403 and str(error) == "CSRF check Failed":
            return _answer(api, request, 403, _("The page is out of date (CSRF check): reload it and try again."))
        return _answer(api, request, error.status_code, str(error))
