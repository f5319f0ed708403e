"""The FHIR R4 interactions: ``metadata`` (the CapabilityStatement), read and search-type of the
resource types in ``telemed.fhir.resources.KINDS``, and the SMART configuration.

A read finds the row through the pages' selector for the person and records what the page
records (a document's opening, a study's viewing); anything the person may not see, or that does
not exist, is the same 404. A search lists what the person's pages list, a page at a time
(``_count``, ``_page``), as a ``searchset`` Bundle; like the pages' lists it is not an opening
of each row. Unknown search parameters are ignored, as FHIR asks by default: the Bundle's
``self`` link names only those applied."""

import base64
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from telemed.api.fhir.access_log import record_listed, record_read
from telemed.api.fhir.http import (
    PATIENT_SCOPE,
    USER_SCOPE,
    Refusal,
    caller,
    fhir_response,
    invalid,
    not_found,
    refusal_response,
)
from telemed.boxes.views import document_file_response
from telemed.fhir.resources import KINDS, BadValue, Kind, MissingParameter

DEFAULT_COUNT = 20
MAX_COUNT = 100
FHIR_VERSION = "4.0.1"
# When what the CapabilityStatement says last changed.
CAPABILITY_DATE = "2026-12-06"
# A document's bytes inside a Binary resource travel as base64 in memory: beyond this size the
# file is only sent as itself (a Binary read without ``Accept: application/fhir+json``).
BINARY_JSON_MAX_BYTES = 10 * 1024 * 1024


def _kind(type_name: str) -> Kind:
    kind = KINDS.get(type_name)
    if kind is None:
        raise Refusal(404, "not-supported", _("This resource type is not supported."))
    return kind


def _answering(view):
    """Every refusal of a view as an OperationOutcome."""

    def answer(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except Refusal as refusal:
            return refusal_response(refusal)

    answer.__name__ = view.__name__
    answer.__doc__ = view.__doc__
    return never_cache(require_GET(answer))


def _base(request: HttpRequest) -> str:
    return request.build_absolute_uri(reverse("fhir:metadata")).removesuffix("metadata").rstrip("/")


@_answering
def read(request: HttpRequest, type_name: str, object_id: str) -> HttpResponse:
    kind = _kind(type_name)
    user = caller(request)
    row = kind.one(user, object_id)
    if row is None:
        raise not_found()
    if kind.name == "Binary":
        return _binary(request, row)
    record_read(request, kind.name, row)
    return fhir_response(kind.resource(_base(request), row))


def _wants_resource(request: HttpRequest) -> bool:
    accept = request.headers.get("Accept", "")
    return "application/fhir+json" in accept or "application/json" in accept


def _binary(request: HttpRequest, document) -> HttpResponse:
    """A Binary is the document itself; asked as ``application/fhir+json``, the Binary resource
    with the bytes in base64 (up to BINARY_JSON_MAX_BYTES)."""
    if not _wants_resource(request):
        record_read(request, "Binary", document)
        return document_file_response(document, inline=False)
    if document.size > BINARY_JSON_MAX_BYTES:
        raise Refusal(
            406,
            "too-costly",
            _(
                "This file is too large to be sent inside a FHIR resource: ask for it without Accept: application/fhir+json."
            ),
        )
    with document.file.open("rb") as handle:
        data = base64.b64encode(handle.read()).decode()
    record_read(request, "Binary", document)
    return fhir_response(
        {
            "resourceType": "Binary",
            "id": str(document.pk),
            "contentType": document.mime,
            "securityContext": {"reference": f"DocumentReference/{document.pk}"},
            "data": data,
        }
    )


def _positive(value: str | None, default: int, highest: int) -> int:
    try:
        number = int(value or "")
    except ValueError:
        return default
    return min(max(number, 1), highest)


def _found(kind: Kind, user, request: HttpRequest):
    """The rows a search finds, in order, and the parameters it applied."""
    if kind.computed_search is not None:
        return kind.computed_search(user, request.GET)
    rows = kind.readable(user)
    applied: list[tuple[str, str]] = []
    for param in kind.params:
        for value in request.GET.getlist(param.name):
            values = [part for part in value.split(",") if part.strip()]
            if not values:
                continue
            try:
                rows = param.apply(rows, values)
            except BadValue as error:
                raise BadValue(str(error), param.name) from None
            applied.append((param.name, value))
    return rows.order_by(*kind.order).distinct(), applied


@_answering
def search(request: HttpRequest, type_name: str) -> HttpResponse:
    kind = _kind(type_name)
    user = caller(request)
    if not kind.search:
        raise Refusal(404, "not-supported", _("This resource type is not supported."))
    try:
        rows, applied = _found(kind, user, request)
    except BadValue as error:
        raise invalid(
            _("The search parameter %(name)s has a value that is not valid: %(value)s.")
            % {"name": error.args[1], "value": str(error.args[0])[:100]}
        ) from None
    except MissingParameter as error:
        raise invalid(str(error)) from None
    count = _positive(request.GET.get("_count"), DEFAULT_COUNT, MAX_COUNT)
    page = Paginator(rows, count).get_page(request.GET.get("_page"))
    url = request.build_absolute_uri(reverse("fhir:search", args=[kind.name]))

    def link(relation: str, number: int) -> dict:
        return {"relation": relation, "url": f"{url}?{urlencode([*applied, ('_count', count), ('_page', number)])}"}

    links = [link("self", page.number), link("first", 1)]
    if page.has_previous():
        links.append(link("previous", page.previous_page_number()))
    if page.has_next():
        links.append(link("next", page.next_page_number()))
    links.append(link("last", page.paginator.num_pages))
    rows = list(page.object_list)
    record_listed(request, kind.name, rows)
    entries = []
    for row in rows:
        resource = kind.resource(_base(request), row)
        entries.append(
            {
                "fullUrl": f"{_base(request)}/{kind.name}/{resource['id']}",
                "resource": resource,
                "search": {"mode": "match"},
            }
        )
    return fhir_response(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "timestamp": timezone.now().isoformat(timespec="seconds"),
            "total": page.paginator.count,
            "link": links,
            "entry": entries,
        }
    )


def _oauth_urls(request: HttpRequest) -> dict[str, str]:
    return {
        "authorize": request.build_absolute_uri("/o/authorize/"),
        "token": request.build_absolute_uri("/o/token/"),
        "revoke": request.build_absolute_uri("/o/revoke_token/"),
    }


def capability_statement(request: HttpRequest) -> dict:
    """What this server does, built from ``KINDS``: nothing listed that is not served."""
    oauth = _oauth_urls(request)
    resources = []
    for kind in KINDS.values():
        interactions = [{"code": "read"}] + ([{"code": "search-type"}] if kind.search else [])
        entry = {"type": kind.name, "interaction": interactions}
        if kind.search:
            entry["searchParam"] = [
                {"name": param.name, "type": param.type, "documentation": param.documentation} for param in kind.params
            ]
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": CAPABILITY_DATE,
        "kind": "instance",
        "software": {"name": "telemed"},
        "implementation": {"description": "telemed FHIR R4", "url": _base(request)},
        "fhirVersion": FHIR_VERSION,
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "documentation": (
                    "Read-only. Search pages with _count (at most 100) and _page; unknown search "
                    "parameters are ignored. Binary/[id] is the file itself, or the Binary resource "
                    "with Accept: application/fhir+json."
                ),
                "security": {
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                    "code": "SMART-on-FHIR",
                                }
                            ]
                        }
                    ],
                    "description": (
                        f"OAuth 2.1 authorization code with PKCE; scopes {PATIENT_SCOPE} (a patient's own "
                        f"record) and {USER_SCOPE} (what the person sees on the platform)."
                    ),
                    "extension": [
                        {
                            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                            "extension": [{"url": name, "valueUri": value} for name, value in oauth.items()],
                        }
                    ],
                },
                "resource": resources,
            }
        ],
    }


@never_cache
@require_GET
def metadata(request: HttpRequest) -> HttpResponse:
    return fhir_response(capability_statement(request))


@never_cache
@require_GET
def smart_configuration(request: HttpRequest) -> HttpResponse:
    """SMART App Launch discovery (``.well-known/smart-configuration``)."""
    oauth = _oauth_urls(request)
    return JsonResponse(
        {
            "authorization_endpoint": oauth["authorize"],
            "token_endpoint": oauth["token"],
            "revocation_endpoint": oauth["revoke"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
            "scopes_supported": [PATIENT_SCOPE, USER_SCOPE],
            "response_types_supported": ["code"],
            "capabilities": ["client-public", "client-confidential-symmetric", "permission-patient", "permission-user"],
        }
    )
