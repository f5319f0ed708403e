"""The platform's front door: the home page, each role's dashboard, /healthz and /ping."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django.views.i18n import set_language

from telemed.accounts import forms as account_forms
from telemed.accounts import selectors as accounts
from telemed.accounts import services as account_services
from telemed.accounts.models import Role
from telemed.lib.redirects import same_site_path
from telemed.portal import selectors
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
