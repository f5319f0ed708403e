"""Thin HTTP layer of accounts: parse, call a service or a selector, render."""

import base64

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.http import urlencode
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_POST

from telemed.accounts import consents, credentials, forms, second_factor, selectors, services, sessions
from telemed.accounts.models import ConsentKind, InvitationKind, NoticeKind
from telemed.lib.redirects import next_path

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def add_service_errors(form, error: ValidationError) -> None:
    """Attach a service's ValidationError to the form, on the field it names when the form has it."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


def refusal_text(error: ValidationError) -> str:
    """A service's ValidationError as one line: for a flash message or a JSON answer."""
    return " ".join(error.messages)


def flash_refusal(request: HttpRequest, error: ValidationError) -> None:
    """Show each message of a service's ValidationError on the next page (a form-less POST)."""
    for message in error.messages:
        messages.error(request, message)


def _safe_next(request: HttpRequest, default: str) -> str:
    """The platform's one rule for next= (lib.redirects): a path of this site, else ``default``."""
    return next_path(request, default)


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    form_class = forms.LoginForm
    redirect_authenticated_user = True

    def get_redirect_url(self):
        # Django's own check lets a bare word ("abc") through as a relative URL.
        return next_path(self.request, "")


class LogoutView(auth_views.LogoutView):
    def get_redirect_url(self):
        return next_path(self.request, "")


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    # The pages' live sockets were opened with this session: they go with it.
    sessions.session_close_sockets(session_key=request.session.session_key)
    response = LogoutView.as_view()(request)
    # What the browser kept of the session's pages (caches, an interrupted upload's notes) goes too.
    response["Clear-Site-Data"] = '"cache", "storage"'
    return response


def password_reset(request: HttpRequest) -> HttpResponse:
    form = forms.PasswordResetRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.password_reset_request(email=form.cleaned_data["email"])
        return render(request, "accounts/password_reset_sent.html", {"email": form.cleaned_data["email"]})
    return render(request, "accounts/password_reset.html", {"form": form}, status=400 if form.errors else 200)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:login")

    def form_valid(self, form):
        response = super().form_valid(form)
        credentials.password_reset_completed(user=form.user, request=self.request)
        messages.success(self.request, _("Your password has been changed. You can log in with the new one."))
        return response


def register_choice(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/register_choice.html")


def _register(request, form_class, template: str, register, next_url: str) -> HttpResponse:
    """Shared flow of every public registration: validate, call the service, log in, move on."""
    if request.user.is_authenticated:
        return redirect("portal:dashboard")
    form = form_class(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = register(form)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            login(request, user, backend=MODEL_BACKEND)
            messages.success(request, _("Welcome to telemed! We have sent you an e-mail to confirm your address."))
            # A patient who came from an invitation goes back to it; a doctor enrols TOTP first.
            return redirect(_safe_next(request, next_url) if next_url == reverse("portal:dashboard") else next_url)
    return render(request, template, {"form": form}, status=400 if form.errors else 200)


def register_patient(request: HttpRequest) -> HttpResponse:
    return _register(
        request,
        forms.PatientRegistrationForm,
        "accounts/register_patient.html",
        lambda form: services.patient_register(
            person=form.person(language=get_language()[:2]),
            identity=form.identity(),
            shared_space=form.cleaned_data["consent_shared_space"],
        ),
        reverse("portal:dashboard"),
    )


def register_doctor(request: HttpRequest) -> HttpResponse:
    def register(form):
        data = form.cleaned_data
        return services.doctor_register(
            person=form.person(language=get_language()[:2]),
            identity=form.identity(),
            ordine_province=data["ordine_province"],
            ordine_number=data["ordine_number"],
            partita_iva=data["partita_iva"],
            iban=data["iban"],
            practice_address=data["practice_address"],
            practice_city=data["practice_city"],
            practice_postcode=data["practice_postcode"],
            practice_province=data["practice_province"],
            specialties=list(data["specialties"]),
            languages=list(data["languages"]),
            certifications=form.certifications(),
            presentation=data["presentation"],
            title=data.get("title") or "",
        )

    return _register(
        request, forms.DoctorRegistrationForm, "accounts/register_doctor.html", register, reverse("accounts:totp_setup")
    )


def register_structure(request: HttpRequest) -> HttpResponse:
    def register(form):
        data = form.cleaned_data
        return services.structure_manager_register(
            person=form.person(language=get_language()[:2]),
            phone=data["phone"],
            structure_name=data["structure_name"],
            partita_iva=data["partita_iva"],
            address=data["address"],
            city=data["city"],
            province=data["province"],
        )

    return _register(
        request,
        forms.StructureRegistrationForm,
        "accounts/register_structure.html",
        register,
        reverse("portal:dashboard"),
    )


@cache_control(private=True)  # opened by a secret link, often without a session
def verify_email(request: HttpRequest, token: str) -> HttpResponse:
    try:
        services.email_verify(token=token)
    except ValidationError as error:
        return render(request, "accounts/verify_email.html", {"error": error.messages[0]}, status=400)
    return render(request, "accounts/verify_email.html", {"verified": True})


@login_required
@require_POST
def verify_email_resend(request: HttpRequest) -> HttpResponse:
    services.email_verification_resend(actor=request.user)
    messages.info(request, _("We have sent you a new confirmation e-mail."))
    return redirect("portal:dashboard")


def _qr_data_uri(text: str) -> str:
    return segno.make(text, error="m").svg_data_uri(scale=5, dark="#111", border=2)


_NEW_RECOVERY_CODES = "_telemed_new_recovery_codes"


def _show_recovery_codes(request: HttpRequest, codes: list[str], next_url: str) -> HttpResponse:
    """Codes are shown once, on the page after the change (kept in the session until then)."""
    request.session[_NEW_RECOVERY_CODES] = codes
    return redirect(reverse("accounts:recovery_codes") + "?" + urlencode({"next": next_url}))


@login_required
def totp_setup(request: HttpRequest) -> HttpResponse:
    """First enrolment of an authenticator app: mandatory for doctors and staff, before anything else.
    An account that already has one replaces it from the security page, past its second factor."""
    if second_factor.has_confirmed_authenticator(request.user):
        if request.user.is_verified():
            return redirect("accounts:totp_replace")
        return redirect("accounts:totp_verify")
    device = second_factor.totp_enrolment_start(actor=request.user)
    form = forms.TOTPCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = second_factor.totp_enrolment_confirm(request=request, device=device, code=form.cleaned_data["code"])
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Two-factor authentication is active."))
            return _show_recovery_codes(request, codes, _safe_next(request, reverse("portal:dashboard")))
    secret = base64.b32encode(device.bin_key).decode()
    return render(
        request,
        "accounts/totp_setup.html",
        {"form": form, "qr": _qr_data_uri(device.config_url), "secret": secret},
        status=400 if form.errors else 200,
    )


@login_required
def totp_verify(request: HttpRequest) -> HttpResponse:
    if not second_factor.has_confirmed_authenticator(request.user):
        return redirect("accounts:totp_setup")
    form = forms.SecondFactorCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            second_factor.second_factor_login(request=request, code=form.cleaned_data["code"])
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            return redirect(_safe_next(request, reverse("portal:dashboard")))
    next_url = _safe_next(request, "")
    return render(
        request, "accounts/totp_verify.html", {"form": form, "next": next_url}, status=400 if form.errors else 200
    )


@login_required
def recovery_codes(request: HttpRequest) -> HttpResponse:
    """The recovery codes just made, shown this once."""
    codes = request.session.pop(_NEW_RECOVERY_CODES, None)
    if not codes:
        return redirect("accounts:security")
    return render(
        request,
        "accounts/recovery_codes.html",
        {"codes": codes, "next": _safe_next(request, reverse("portal:dashboard"))},
    )


@login_required
def security(request: HttpRequest) -> HttpResponse:
    """Password, e-mail, second factor, recovery codes, sessions and the account's security trail."""
    return _security_page(request)


def _security_page(request: HttpRequest, status: int = 200, **forms_given) -> HttpResponse:
    user = request.user
    context = {
        "password_form": forms_given.get("password_form") or forms.PasswordChangeForm(),
        "email_form": forms_given.get("email_form") or forms.EmailChangeForm(),
        "codes_form": forms_given.get("codes_form") or forms.ReauthenticationForm(),
        "sessions_form": forms_given.get("sessions_form") or forms.SessionsEndForm(),
        "sessions": selectors.account_sessions(user),
        "current_session_key": request.session.session_key,
        "events": selectors.security_events(user),
        "has_second_factor": user.needs_second_factor or second_factor.has_confirmed_authenticator(user),
        "recovery_codes_left": second_factor.recovery_codes_left(user),
    }
    return render(request, "accounts/security.html", context, status=status)


@login_required
@require_POST
def password_change(request: HttpRequest) -> HttpResponse:
    form = forms.PasswordChangeForm(request.POST)
    if form.is_valid():
        try:
            credentials.password_change(
                request=request,
                current_password=form.cleaned_data["current_password"],
                new_password=form.cleaned_data["new_password1"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Your password has been changed. Your other devices have been logged out."))
            return redirect("accounts:security")
    return _security_page(request, status=400, password_form=form)


@login_required
@require_POST
def email_change(request: HttpRequest) -> HttpResponse:
    form = forms.EmailChangeForm(request.POST)
    if form.is_valid():
        try:
            credentials.email_change_request(
                request=request,
                new_email=form.cleaned_data["email"],
                current_password=form.cleaned_data["current_password"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(
                request,
                _("We have sent a confirmation link to %(email)s: your address changes when you open it.")
                % {"email": form.cleaned_data["email"]},
            )
            return redirect("accounts:security")
    return _security_page(request, status=400, email_form=form)


@cache_control(private=True)  # opened by a secret link, often without a session
def email_change_confirm(request: HttpRequest, token: str) -> HttpResponse:
    try:
        user = credentials.email_change_confirm(token=token, request=request)
    except ValidationError as error:
        return render(request, "accounts/email_change_done.html", {"error": error.messages[0]}, status=400)
    return render(request, "accounts/email_change_done.html", {"email": user.email})


@login_required
@require_POST
def sessions_end_others(request: HttpRequest) -> HttpResponse:
    form = forms.SessionsEndForm(request.POST)
    if not form.is_valid():
        return _security_page(request, status=400, sessions_form=form)
    try:
        ended = credentials.sessions_end_others(
            request=request,
            current_password=form.cleaned_data["current_password"],
            session_id=form.cleaned_data["session"],
        )
    except ValidationError as error:
        add_service_errors(form, error)
        return _security_page(request, status=400, sessions_form=form)
    messages.success(
        request,
        ngettext("%(count)d other device has been logged out.", "%(count)d other devices have been logged out.", ended)
        % {"count": ended},
    )
    return redirect("accounts:security")


@login_required
@require_POST
def recovery_codes_regenerate(request: HttpRequest) -> HttpResponse:
    form = forms.ReauthenticationForm(request.POST)
    if form.is_valid():
        try:
            codes = second_factor.recovery_codes_regenerate(
                request=request, password=form.cleaned_data["password"], code=form.cleaned_data["code"]
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            return _show_recovery_codes(request, codes, reverse("accounts:security"))
    return _security_page(request, status=400, codes_form=form)


@login_required
def totp_replace(request: HttpRequest) -> HttpResponse:
    """Move the second factor to a new phone: reached only past the second factor (middleware)."""
    if not second_factor.has_confirmed_authenticator(request.user):
        return redirect("accounts:totp_setup")
    recovered = second_factor.verified_with_recovery_code(request)
    device = second_factor.totp_enrolment_start(actor=request.user)
    form = forms.TOTPReplaceForm(request.POST or None, current_code_needed=not recovered)
    if request.method == "POST" and form.is_valid():
        try:
            second_factor.totp_replace(
                request=request,
                password=form.cleaned_data["password"],
                current_code=form.cleaned_data.get("current_code", ""),
                new_device=device,
                new_code=form.cleaned_data["new_code"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Your new authenticator app is active; the old one no longer works."))
            return redirect("accounts:security")
    secret = base64.b32encode(device.bin_key).decode()
    return render(
        request,
        "accounts/totp_replace.html",
        {"form": form, "qr": _qr_data_uri(device.config_url), "secret": secret, "recovered": recovered},
        status=400 if form.errors else 200,
    )


@cache_control(private=True)  # opened by a secret link, often without a session
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """Landing page of an invitation link: register (new secretary), or log in and accept."""
    invitation = selectors.invitation_by_token(token)
    context = {"invitation": invitation, "open": invitation.is_open}
    if not invitation.is_open:
        return render(request, "accounts/invitation.html", context, status=410)
    if request.user.is_authenticated:
        if request.method == "POST":
            try:
                services.invitation_accept(actor=request.user, token=token)
            except ValidationError as error:
                messages.error(request, error.messages[0])
            else:
                messages.success(request, _("Invitation accepted."))
                return redirect("portal:dashboard")
        return render(request, "accounts/invitation.html", context)
    if invitation.kind == InvitationKind.SECRETARY and not selectors.email_is_registered(invitation.email):
        form = forms.SecretaryRegistrationForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                user = services.secretary_register_from_invitation(
                    token=token,
                    person=form.person(email=invitation.email, language=get_language()[:2]),
                    phone=form.cleaned_data["phone"],
                )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                login(request, user, backend=MODEL_BACKEND)
                messages.success(request, _("Welcome to telemed!"))
                return redirect("portal:dashboard")
        context["form"] = form
        return render(request, "accounts/invitation.html", context, status=400 if form.errors else 200)
    return render(request, "accounts/invitation.html", context)


@login_required
def profile_edit(request: HttpRequest) -> HttpResponse:
    """Everyone sees their own data; a doctor edits the public profile and practice data, a patient
    the phone number. What only staff may correct is shown with the address to write to."""
    user = request.user
    if user.is_doctor:
        form_class, initial = forms.DoctorProfileForm, forms.DoctorProfileForm.initial_for(user.doctor_profile)
        update = lambda data: services.doctor_profile_update(actor=user, **data)  # noqa: E731
    elif user.is_patient:
        form_class, initial = forms.PatientProfileForm, {"phone": user.patient_profile.phone}
        update = lambda data: services.patient_profile_update(actor=user, **data)  # noqa: E731
    else:
        form_class = None
    form = form_class(request.POST or None, initial=initial) if form_class is not None else None
    if form is not None and request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        for many in ("specialties", "languages"):
            if many in data:
                data[many] = list(data[many])
        try:
            update(data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Your profile has been saved."))
            return redirect("accounts:profile_edit")
    context = {"form": form, "identity": selectors.own_identity_data(user), "support_email": settings.SUPPORT_EMAIL}
    return render(
        request, "accounts/profile_edit.html", context, status=400 if form is not None and form.errors else 200
    )


@login_required
def certification_file(request: HttpRequest, certification_id: int) -> HttpResponse:
    certification = selectors.certification_get_for_user(request.user, certification_id)
    response = FileResponse(certification.file.open("rb"), content_type=certification.content_type)
    response["Content-Disposition"] = "inline"
    return response


@login_required
@require_POST
def certification_upload(request: HttpRequest) -> HttpResponse:
    form = forms.CertificationUploadForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.doctor_certification_add(actor=request.user, upload=form.upload())
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, _("Certification uploaded: it is now pending verification."))
    else:
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    return redirect("portal:dashboard")


def _invite_by_email(request: HttpRequest, invite) -> HttpResponse:
    """A doctor invites a secretary, or a structure a doctor: the same form, the same messages."""
    form = forms.InviteForm(request.POST)
    if form.is_valid():
        try:
            invite(actor=request.user, email=form.cleaned_data["email"])
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, _("Invitation sent to %(email)s.") % {"email": form.cleaned_data["email"]})
    else:
        messages.error(request, _("Enter a valid e-mail address."))
    return redirect("portal:dashboard")


@login_required
@require_POST
def secretary_invite(request: HttpRequest) -> HttpResponse:
    return _invite_by_email(request, services.secretary_invite)


@login_required
@require_POST
def secretary_remove(request: HttpRequest, secretary_id: int) -> HttpResponse:
    services.secretary_remove(actor=request.user, secretary_id=secretary_id)
    messages.success(request, _("The secretary no longer works for you."))
    return redirect("portal:dashboard")


@login_required
@require_POST
def structure_doctor_invite(request: HttpRequest) -> HttpResponse:
    return _invite_by_email(request, services.structure_doctor_invite)


@login_required
@require_POST
def structure_doctor_detach(request: HttpRequest, doctor_id: int) -> HttpResponse:
    services.structure_doctor_detach(actor=request.user, doctor_id=doctor_id)
    messages.success(request, _("The doctor is no longer part of the structure."))
    return redirect("portal:dashboard")


# --- the notices and the consents (accounts.consents) ----------------------------------------------


def _notice_page(request: HttpRequest, kind: str, version: str | None) -> HttpResponse:
    if kind not in NoticeKind.values:
        raise Http404
    notice = consents.notice_get(kind, version)
    if notice is None:
        raise Http404
    context = {
        "notice": notice,
        "paragraphs": [p.strip() for p in notice.body.split("\n\n") if p.strip()],
        "versions": consents.notice_versions(kind),
    }
    return render(request, "accounts/notice.html", context)


def notice(request: HttpRequest, kind: str) -> HttpResponse:
    """The privacy notice or the terms in force, public."""
    return _notice_page(request, kind, None)


def notice_version(request: HttpRequest, kind: str, version: str) -> HttpResponse:
    """An earlier (or the current) version, as it was agreed to."""
    return _notice_page(request, kind, version)


@login_required
def consents_renew(request: HttpRequest) -> HttpResponse:
    """Asked before any page when the notices changed or a required consent was withdrawn."""
    user = request.user
    missing = consents.consents_missing(user)
    destination = next_path(request, reverse("portal:dashboard"))
    if not missing:
        return redirect(destination)
    form = forms.ConsentsRenewForm(
        request.POST or None,
        missing=missing,
        ask_shared_space=user.is_patient,
        shared_space=consents.has_shared_space(user),
    )
    if request.method == "POST" and form.is_valid():
        consents.consents_renew(user=user, given=form.given())
        messages.success(request, _("Thank you: your choices are recorded."))
        return redirect(destination)
    context = {"form": form, "next": destination, "in_force": consents.notices_in_force()}
    return render(request, "accounts/consents_renew.html", context, status=400 if form.errors else 200)


@login_required
def consents_page(request: HttpRequest) -> HttpResponse:
    """The account's consents: what each allows, when it was given, and (a patient) withdrawing one."""
    return render(request, "accounts/consents.html", {"lines": consents.consent_overview(request.user)})


@login_required
@require_POST
def consent_withdraw(request: HttpRequest) -> HttpResponse:
    try:
        withdrawn = consents.consent_withdraw(user=request.user, kind=request.POST.get("kind", ""))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        if withdrawn:
            messages.success(
                request, _("Consent withdrawn. %(stops)s") % {"stops": consents.WITHDRAWING_STOPS[request.POST["kind"]]}
            )
    return redirect("accounts:consents")


@login_required
@require_POST
def consent_give(request: HttpRequest) -> HttpResponse:
    """Give a withdrawable consent again (the shared clinical space, after withdrawing it)."""
    kind = request.POST.get("kind", "")
    if kind not in consents.WITHDRAWABLE or not request.user.is_patient:
        messages.error(request, _("This consent cannot be given here."))
    else:
        consents.consents_give(user=request.user, kinds=[ConsentKind(kind)])
        messages.success(request, _("Thank you: your choices are recorded."))
    return redirect("accounts:consents")
