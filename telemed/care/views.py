from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_POST

from telemed.care import selectors, services
from telemed.care.consent import consent_text
from telemed.care.forms import CareInviteForm, CareRequestForm
from telemed.care.models import LinkStatus


@login_required
def links(request: HttpRequest) -> HttpResponse:
    user = request.user
    all_links = list(selectors.links_of(user))
    context = {
        "active": [link for link in all_links if link.status == LinkStatus.ACTIVE],
        "waiting_for_me": [
            link
            for link in all_links
            if (link.status == LinkStatus.REQUESTED and link.doctor_id == user.pk)
            or (link.status == LinkStatus.INVITED and link.patient_id == user.pk)
        ],
        "waiting_for_them": [
            link
            for link in all_links
            if (link.status == LinkStatus.REQUESTED and link.patient_id == user.pk)
            or (link.status == LinkStatus.INVITED and link.doctor_id == user.pk)
        ],
        "invite_form": CareInviteForm() if user.is_doctor else None,
    }
    if user.is_patient:
        context["consents"] = {link.pk: consent_text(link.doctor.get_full_name()) for link in context["waiting_for_me"]}
    return render(request, "care/links.html", context)


def _run(request, action, success: str) -> HttpResponse:
    try:
        action()
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, success)
    return redirect("care:links")


@login_required
@require_POST
def invite(request: HttpRequest) -> HttpResponse:
    form = CareInviteForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect("care:links")
    return _run(
        request,
        lambda: services.care_invite(
            actor=request.user, email=form.cleaned_data["email"], message=form.cleaned_data["message"]
        ),
        _("Invitation sent. The patient is linked to you once they accept."),
    )


@login_required
def request_link(request: HttpRequest, doctor_id: int) -> HttpResponse:
    """GET: what asking means (the consent the patient gives) and the button that asks; POST: ask."""
    doctor = selectors.doctor_to_link(doctor_id)
    if request.method != "POST":
        return render(
            request,
            "care/request_confirm.html",
            {"doctor": doctor, "form": CareRequestForm(), "consent": consent_text(doctor.get_full_name())},
        )
    form = CareRequestForm(request.POST)
    message = form.cleaned_data["message"] if form.is_valid() else ""
    return _run(
        request,
        lambda: services.care_request(actor=request.user, doctor=doctor, message=message),
        # Addressed to the patient: Italian agrees with their sex ("Sarai collegata").
        pgettext(request.user.grammar_context, "Request sent. You are linked once the doctor accepts."),
    )


@login_required
@require_POST
def accept(request: HttpRequest, link_id: int) -> HttpResponse:
    link = selectors.link_get_for_user(request.user, link_id)
    return _run(request, lambda: services.care_accept(actor=request.user, link=link), _("You are now linked."))


@login_required
@require_POST
def decline(request: HttpRequest, link_id: int) -> HttpResponse:
    link = selectors.link_get_for_user(request.user, link_id)
    return _run(request, lambda: services.care_decline(actor=request.user, link=link), _("Declined."))


@login_required
@require_POST
def revoke(request: HttpRequest, link_id: int) -> HttpResponse:
    link = selectors.link_get_for_user(request.user, link_id)
    return _run(request, lambda: services.care_revoke(actor=request.user, link=link), _("The link has ended."))


@cache_control(private=True)  # opened by a secret link, often without a session
def join(request: HttpRequest, token: str) -> HttpResponse:
    """Landing page of an e-mailed invitation: sign up or log in as a patient, then accept."""
    link = selectors.invitation_by_token(token)
    if not request.user.is_authenticated:
        here = urlencode({"next": request.get_full_path()})
        return render(
            request,
            "care/join.html",
            {
                "link": link,
                "register_url": reverse("accounts:register_patient") + "?" + here,
                "login_url": reverse("accounts:login") + "?" + here,
            },
        )
    try:
        services.care_invitation_claim(actor=request.user, token=token)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect("care:links")
