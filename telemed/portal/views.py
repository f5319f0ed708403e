"""The platform's front door: the home page, each role's dashboard, /healthz and /ping, and what
makes it an app on the home screen (manifest, service worker, offline page)."""

import json

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django.views.i18n import set_language

from telemed.accounts import forms as account_forms
from telemed.accounts import selectors as accounts
from telemed.accounts import services as account_services
from telemed.accounts.models import Role
from telemed.lib.redirects import same_site_path
from telemed.portal import installable, selectors
from telemed.portal.health import platform_health


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/home.html", {"specialties": accounts.specialty_list()})


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    user = request.user
    context: dict = {}
    if user.role == Role.DOCTOR:
        doctor = user.doctor_profile
        context = {
            "doctor": doctor,
            "certifications": accounts.certification_summary(doctor),
            "secretaries": accounts.secretaries_of_doctor(doctor),
            "invitations": accounts.invitations_sent_by(user),
            "invite_form": account_forms.InviteForm(),
            "certification_form": account_forms.CertificationUploadForm(),
            "work": selectors.doctor_work(user),
        }
        steps = selectors.doctor_first_steps(user)
        # Shown until every step is done; then the dashboard is about the work alone.
        context["first_steps"] = [] if all(step.done for step in steps) else steps
    elif user.role == Role.PATIENT:
        context = {"overview": selectors.patient_overview(user)}
    elif user.role == Role.SECRETARY:
        context = {"doctors": accounts.doctors_of_secretary(user)}
    elif user.role == Role.STRUCTURE_MANAGER:
        context = {
            "structure": user.structure_manager_profile.structure,
            "doctors": accounts.doctors_of_structure_manager(user),
            "invitations": accounts.invitations_sent_by(user),
            "invite_form": account_forms.InviteForm(),
        }
    elif user.role == Role.STAFF or user.is_staff:
        if user.role != Role.STAFF:
            return redirect("admin:index")
        context = {"pending_certifications": accounts.pending_certification_count()}
    return render(request, f"portal/dashboard_{user.role}.html", context)


@require_POST
def language_set(request: HttpRequest) -> HttpResponse:
    """Switch the interface language; a logged-in user's e-mails follow the same choice."""
    response = set_language(request)
    if response.has_header("Location"):
        # Django's view follows any relative URL ("abc") or the Referer: only a same-site path here.
        response["Location"] = same_site_path(response["Location"], "/")
    if request.user.is_authenticated:
        account_services.user_set_language(actor=request.user, language=request.POST.get("language", ""))
    return response


@never_cache
def ping(request: HttpRequest) -> HttpResponse:
    """The cheapest page there is: "ok", no template, no database. Benchmarks measure the stack with it."""
    return HttpResponse("ok", content_type="text/plain")


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    report = platform_health()
    return JsonResponse(report, status=200 if report["ok"] else 503)


def manifest(request: HttpRequest) -> HttpResponse:
    return JsonResponse(
        installable.manifest(), content_type="application/manifest+json", json_dumps_params={"ensure_ascii": False}
    )


def offline(request: HttpRequest) -> HttpResponse:
    """What the service worker shows when a page cannot be reached. It never names anyone: the
    worker fetches it without cookies, and it renders nothing of the request's user."""
    return render(request, "portal/offline.html", {"icon": installable.icon_url("icon-192.png")})


def service_worker(request: HttpRequest) -> HttpResponse:
    """/sw.js, at the root so that its scope is the whole site."""
    urls = installable.precache()
    offline_page = render_to_string("portal/offline.html", {"icon": installable.icon_url("icon-192.png")})
    context = {
        "version": installable.cache_version(urls, offline_page.encode()),
        "precache": json.dumps(urls),
        "offline_url": json.dumps(urls[0]),
        "icon": json.dumps(installable.icon_url("icon-192.png")),
    }
    response = render(request, "portal/sw.js", context, content_type="text/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = "/"
    # Browsers look for a new worker at each visit; no cache in between may answer for it.
    response["Cache-Control"] = "no-cache"
    return response
