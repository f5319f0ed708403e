"""The API's one entry point: ``/api/v1/``, its OpenAPI 3.1 document (``openapi.json``, built by
django-ninja from the schemas of the code) and the browsable docs (``docs``, Swagger UI from
django-ninja's own static files: no CDN, no inline script, so the site's CSP holds)."""

import json

from django.http import HttpRequest
from ninja import NinjaAPI, Schema, Swagger
from ninja.openapi.docs import render_template

from telemed.accounts.middleware import answers_half_logins_itself
from telemed.api import (
    agenda,
    consults,
    conversations,
    directory,
    documents,
    errors,
    info,
    notifications,
    payments,
    studies,
    visits,
)
from telemed.api.auth import access, scoped
from telemed.api.errors import ERRORS
from telemed.api.throttling import TokenRateThrottle


class SwaggerWithCsrf(Swagger):
    """Swagger UI sending the session's CSRF token with every request (the cookie is HttpOnly, so
    the page carries it): ninja adds it only when the API's global auth asks for CSRF, and here
    each operation names its own."""

    def render_page(self, request: HttpRequest, api: NinjaAPI, **kwargs):
        self.settings["url"] = self.get_openapi_url(api, kwargs)
        context = {"swagger_settings": json.dumps(self.settings, indent=1), "api": api, "add_csrf": True}
        return render_template(request, self.template, self.template_cdn, context)


class TelemedAPI(NinjaAPI):
    def _get_urls(self):
        """Every operation checks the login itself (``auth``): a session short of the second factor
        or of the consents gets the API's JSON refusal, not the pages' redirect. The docs page and
        the root stay pages."""
        patterns = super()._get_urls()
        for pattern in patterns:
            if pattern.name not in ("openapi-view", "api-root"):
                answers_half_logins_itself(pattern.callback)
        return patterns

    def get_openapi_schema(self, *args, **kwargs):
        """ninja lists an operation's schemes without scopes and appends ``openapi_extra``'s own
        requirement (``auth.scoped``): keep each scheme once, with the scope it needs."""
        schema = super().get_openapi_schema(*args, **kwargs)
        for operations in schema["paths"].values():
            for operation in operations.values():
                if "security" in operation:
                    merged: dict[str, list] = {}
                    for requirement in operation["security"]:
                        for name, scopes in requirement.items():
                            merged[name] = sorted(set(merged.get(name, [])) | set(scopes))
                    operation["security"] = [{name: scopes} for name, scopes in merged.items()]
        return schema


api = TelemedAPI(
    title="telemed API",
    version="1",
    description=(
        "The REST API of telemed for apps and hospital systems. Apps authenticate with OAuth 2.1 "
        "(authorization code with PKCE at /o/authorize/ and /o/token/, refresh tokens, revocation at "
        "/o/revoke_token/); the browsable docs use the browser's own session. Errors are JSON "
        '`{"detail": …, "errors": [{"field": …, "message": …}]}` in the language of Accept-Language '
        "(Italian by default)."
    ),
    urls_namespace="api-v1",
    docs=SwaggerWithCsrf(),
    throttle=[TokenRateThrottle()],
)
errors.install(api)


class Me(Schema):
    id: int
    name: str
    email: str
    role: str


@api.get(
    "/me",
    response={200: Me, **ERRORS},
    auth=access(None),
    openapi_extra=scoped(None),
    tags=["account"],
    summary="Who the token is for",
)
def me(request: HttpRequest):
    user = request.user
    return {"id": user.pk, "name": user.display_name, "email": user.email, "role": user.role}


api.add_router("/directory", directory.router)
api.add_router("", consults.router)
api.add_router("", documents.router)
api.add_router("", notifications.router)
api.add_router("", info.router)
api.add_router("", agenda.router)
api.add_router("", visits.router)
api.add_router("", conversations.router)
api.add_router("", studies.router)
api.add_router("", payments.router)
