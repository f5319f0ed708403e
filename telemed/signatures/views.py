import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from telemed.accounts.views import add_service_errors
from telemed.signatures import forms, selectors, services, totp


def _doctor(request: HttpRequest) -> None:
    if not request.user.is_doctor:
        raise PermissionDenied


def _qr_data_uri(text: str) -> str:
    return segno.make(text, error="m").svg_data_uri(scale=5, dark="#111", border=2)


def _device_page(request, *, code_form=None, remote_form=None, enrol=False, status=200) -> HttpResponse:
    signing = selectors.signing_status(request.user)
    context = {
        "signing": signing,
        "latest_certificate": selectors.latest_certificate(request.user),
        "attempts": selectors.recent_attempts(request.user),
        "code_form": code_form or forms.CodeForm(),
        "remote_form": remote_form or forms.RemoteSignerForm(providers=selectors.active_providers()),
        "has_providers": selectors.active_providers().exists(),
    }
    if enrol or signing.device is None:
        device = services.signing_device_enrol_start(actor=request.user)
        context.update(enrol=True, qr=_qr_data_uri(totp.provisioning_uri(device)), secret=totp.secret_base32(device))
    return render(request, "signatures/device.html", context, status=status)


@login_required
def device(request: HttpRequest) -> HttpResponse:
    """The doctor's signing page: enrol the authenticator app, see the certificate and the log."""
    _doctor(request)
    if request.method != "POST":
        return _device_page(request, enrol=request.GET.get("enrol") == "1")
    form = forms.CodeForm(request.POST)
    if form.is_valid():
        try:
            services.signing_device_confirm(actor=request.user, code=form.cleaned_data["code"])
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Your signing device is active: you can now sign reports and prescriptions."))
            return redirect("signatures:device")
    return _device_page(request, code_form=form, enrol=True, status=400)


@login_required
@require_POST
def remote_configure(request: HttpRequest) -> HttpResponse:
    _doctor(request)
    form = forms.RemoteSignerForm(request.POST, providers=selectors.active_providers())
    if form.is_valid():
        try:
            services.remote_signer_configure(
                actor=request.user,
                provider=form.cleaned_data["provider"],
                credential_id=form.cleaned_data["credential_id"],
                access_token=form.cleaned_data["access_token"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("From now on you sign with your qualified remote signature."))
            return redirect("signatures:device")
    return _device_page(request, remote_form=form, status=400)


@login_required
@require_POST
def remote_remove(request: HttpRequest) -> HttpResponse:
    _doctor(request)
    services.remote_signer_remove(actor=request.user)
    messages.info(request, _("Your remote signature is no longer used: you sign with the platform certificate."))
    return redirect("signatures:device")


def ca_certificate(request: HttpRequest) -> HttpResponse:
    """The platform CA certificate, so that anyone can add it to their PDF reader's trusted roots."""
    der = selectors.current_authority_certificate_der()
    if der is None:
        raise Http404
    response = HttpResponse(der, content_type="application/pkix-cert")
    response["Content-Disposition"] = 'attachment; filename="telemed-ca.cer"'
    return response


def _too_large(request: HttpRequest) -> bool:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return True
    # Refused before Django reads the body: a huge upload is never spooled to disk.
    return length > settings.SIGNATURE_VERIFY_MAX_BYTES + 64 * 1024


def _verify(request: HttpRequest, expected) -> HttpResponse:
    context = {"expected": expected, "limit_mb": max(1, settings.SIGNATURE_VERIFY_MAX_BYTES // (1024 * 1024))}
    if request.method != "POST":
        return render(request, "signatures/verify.html", {**context, "form": forms.VerifyForm()})
    if _too_large(request):
        message = _("The file is larger than %(limit)d MB.") % {"limit": context["limit_mb"]}
        return render(
            request,
            "signatures/verify.html",
            {**context, "form": forms.VerifyForm(), "upload_error": message},
            status=413,
        )
    form = forms.VerifyForm(request.POST, request.FILES)
    if not form.is_valid():
        return render(request, "signatures/verify.html", {**context, "form": form}, status=400)
    upload = form.cleaned_data["document"]
    if upload.size > settings.SIGNATURE_VERIFY_MAX_BYTES:
        form.add_error("document", _("The file is larger than %(limit)d MB.") % {"limit": context["limit_mb"]})
        return render(request, "signatures/verify.html", {**context, "form": form}, status=413)
    if upload.size == 0:
        form.add_error("document", _("The file is empty."))
        return render(request, "signatures/verify.html", {**context, "form": form}, status=400)
    with upload.open("rb") as stream:
        outcome = selectors.document_verify(stream, expected=expected)
    # Nothing of the upload is kept: Django removes its temporary file at the end of the request.
    return render(
        request,
        "signatures/verify.html",
        {**context, "form": forms.VerifyForm(), "outcome": outcome, "file_name": upload.name[:120]},
        status=200 if outcome.readable else 400,
    )


# The verification page changes nothing and belongs to no session, so a forged post can do no harm;
# exempting it also keeps the CSRF check from reading (and spooling) an oversized body first.
@csrf_exempt
def verify(request: HttpRequest) -> HttpResponse:
    """Public: anyone uploads a PDF and learns whether its signature is valid and ours."""
    return _verify(request, expected=None)


@csrf_exempt
def verify_document(request: HttpRequest, public_id) -> HttpResponse:
    """Public: where the QR code of a document leads; shows the record and checks an uploaded copy."""
    record = selectors.record_by_public_id(public_id)
    if record is None:
        raise Http404
    return _verify(request, expected=record)
