"""Who calls the API: an app with an OAuth 2.1 bearer token, or a person's own browser session
(the browsable docs). Each operation names the scope it needs; a session stands for every scope
(it is the person themself, past the same login, second factor and consents as every page).

A token that is valid but was not granted the operation's scope is refused with 403 and
``WWW-Authenticate: Bearer error="insufficient_scope", scope="…"`` (RFC 6750 §3.1): the app
learns which scope to ask the person for, instead of a 401 that would send it to log in again.

The token's checks are django-oauth-toolkit's own (``verify_request``: known, not expired, not
revoked, the scope granted); on top of them the account must still be active and must have given
the consents in force, as ``ConsentMiddleware`` asks of every page (a token outlives a new
privacy notice; the app is told to send the person to the site)."""

from django.conf import settings
from django.http import HttpRequest
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from ninja.errors import AuthenticationError, HttpError
from ninja.security import APIKeyCookie
from ninja.security.base import AuthBase
from oauth2_provider.oauth2_backends import get_oauthlib_core

from telemed.accounts.consents import consents_missing


class ConsentsMissing(HttpError):
    """The account owes the consents of a new notice: only the site can ask for them."""

    def __init__(self) -> None:
        super().__init__(
            403, str(_("Accept the updated privacy notice and terms on the website before using this app."))
        )


class InsufficientScope(HttpError):
    """A live token of the person that was not granted ``scope``."""

    def __init__(self, scope: str) -> None:
        self.scope = scope
        super().__init__(
            403,
            str(_("This app has no permission for this (%(scope)s): it must ask you for it again.") % {"scope": scope}),
        )


class SecondFactorMissing(AuthenticationError):
    """A doctor's (or staff's) session past the password only: the API answers 401, not the
    redirect to the code page that the pages get."""

    def __init__(self) -> None:
        super().__init__(
            401,
            str(
                _(
                    "Enter the code of your authenticator app on the website first: this session has not passed the second factor."
                )
            ),
        )


class OAuthToken(AuthBase):
    """``Authorization: Bearer <token>``, a token of this platform's OAuth server with ``scope``.

    The OpenAPI document describes it as the OAuth 2 authorization-code flow with PKCE."""

    openapi_type = "oauth2"

    def __init__(self, scope: str | None) -> None:
        if scope is not None and scope not in settings.API_SCOPES:
            raise ValueError(f"unknown API scope {scope!r}")
        self.scope = scope
        with translation.override("en"):  # the document is for developers: one language, English
            scopes = {name: str(label) for name, label in settings.API_SCOPES.items()}
        self.openapi_flows = {
            "authorizationCode": {
                "authorizationUrl": "/o/authorize/",
                "tokenUrl": "/o/token/",
                "refreshUrl": "/o/token/",
                "scopes": scopes,
            }
        }
        super().__init__()

    def __call__(self, request: HttpRequest):
        header = request.headers.get("Authorization", "")
        if not header.lower().startswith("bearer "):
            return None
        # Known, live and not revoked first (no scope asked): a token short of the scope is a 403.
        valid, oauth_request = get_oauthlib_core().verify_request(request, scopes=[])
        if not valid or oauth_request is None:
            return None
        user = oauth_request.user
        if user is None or not user.is_active:
            return None
        if consents_missing(user):
            raise ConsentsMissing()
        if self.scope is not None and not oauth_request.access_token.allow_scopes([self.scope]):
            raise InsufficientScope(self.scope)
        request.user = user
        # The token itself, for the per-token rate limit (throttling.TokenRateThrottle).
        request.api_token_id = oauth_request.access_token.pk
        return user


class BrowserSession(APIKeyCookie):
    """The person's own session cookie, with Django's CSRF check on writes.

    The API's views are left alone by the middleware that sends a half-logged-in browser to the
    code page or to the notice (``answers_half_logins_itself``): here such a session is a JSON
    401 (second factor) or 403 (consents)."""

    param_name = settings.SESSION_COOKIE_NAME

    def authenticate(self, request: HttpRequest, key: str | None):
        user = request.user
        if not (user.is_authenticated and user.is_active):
            return None
        if user.needs_second_factor and not user.is_verified():
            raise SecondFactorMissing()
        if consents_missing(user):
            raise ConsentsMissing()
        return user


_session = BrowserSession(csrf=True)


def access(scope: str | None = None) -> list:
    """The ``auth`` of an operation that needs ``scope`` (None: any token of the person)."""
    return [OAuthToken(scope), _session]


def scoped(scope: str | None = None, **extra) -> dict:
    """The ``openapi_extra`` of such an operation: its security requirement names the scope (ninja
    lists the schemes with no scope)."""
    return {"security": [{"OAuthToken": [scope] if scope else []}, {"BrowserSession": []}], **extra}
