"""The data rights pages: the export (asking, following, downloading) and the deletion of the account."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.http import require_POST

from telemed.accounts.second_factor import has_confirmed_authenticator
from telemed.accounts.views import add_service_errors, flash_refusal
from telemed.audit.models import AuditAction
from telemed.audit.services import audit_record, audit_retention_months
from telemed.rights import erasure, forms, selectors, services
from telemed.rights.models import ErasureState, ExportState


def _require_box_holder(user) -> None:
    if not (user.is_patient or user.is_doctor):
        raise PermissionDenied


@login_required
def export_page(request: HttpRequest) -> HttpResponse:
    _require_box_holder(request.user)
    if request.method == "POST":
        _export, created = services.export_request(actor=request.user)
        if created:
            messages.success(request, _("Your export is being prepared: you will be notified when it is ready."))
        return redirect("rights:export")
    export = selectors.export_latest_of(request.user)
    preparing = export is not None and export.state in (ExportState.QUEUED, ExportState.RUNNING)
    return render(request, "rights/export.html", {"export": export, "preparing": preparing})


@login_required
@never_cache
def export_download(request: HttpRequest, export_id) -> HttpResponse:
    export = selectors.export_get_for_user(request.user, export_id)
    if export.state != ExportState.READY or not export.file_name:
        raise Http404
    patient = request.user if request.user.is_patient else None
    audit_record(actor=request.user, action=AuditAction.EXPORT, target=export, patient=patient, request=request)
    response = FileResponse(default_storage.open(export.file_name, "rb"), content_type="application/zip")
    response["Content-Disposition"] = content_disposition_header(True, f"telemed-{export.created_at:%Y-%m-%d}.zip")
    response["Content-Length"] = str(export.size)
    return response


def _erasure_form(request: HttpRequest, data=None) -> forms.ErasureAskForm:
    user = request.user
    return forms.ErasureAskForm(data, code_needed=user.needs_second_factor or has_confirmed_authenticator(user))


def _erasure_page(request: HttpRequest, form: forms.ErasureAskForm, status: int = 200) -> HttpResponse:
    context = {
        "form": form,
        "erasure": selectors.erasure_open_of(request.user),
        "grace_days": erasure.grace_period().days,
        "access_log_months": audit_retention_months(),
    }
    return render(request, "rights/erasure.html", context, status=status)


@login_required
def erasure_page(request: HttpRequest) -> HttpResponse:
    """What is erased and what is kept, and the form that asks for the deletion (or its state)."""
    _require_box_holder(request.user)
    if request.method != "POST":
        return _erasure_page(request, _erasure_form(request))
    form = _erasure_form(request, request.POST)
    if form.is_valid():
        try:
            erasure.erasure_ask(
                request=request,
                password=form.cleaned_data["password"],
                code=form.cleaned_data.get("current_code", ""),
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(
                request, _("We have sent a confirmation link to %(email)s.") % {"email": request.user.email}
            )
            return redirect("rights:erasure")
    return _erasure_page(request, form, status=400)


@login_required
@require_POST
def erasure_cancel(request: HttpRequest) -> HttpResponse:
    _require_box_holder(request.user)
    try:
        erasure.erasure_cancel(actor=request.user, request=request)
    except ValidationError as error:
        flash_refusal(request, error)
    else:
        messages.success(request, _("The deletion is cancelled: your account stays as it is."))
    return redirect("rights:erasure")


@cache_control(private=True)  # opened by a secret link, often without a session
def erasure_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The mailed link shows a button (mail scanners open links; only the button confirms)."""
    if request.method != "POST":
        return render(request, "rights/erasure_confirm.html", {"token": token})
    try:
        confirmed = erasure.erasure_confirm(token=token, request=request)
    except ValidationError as error:
        return render(request, "rights/erasure_confirm.html", {"error": error.messages[0]}, status=400)
    return render(request, "rights/erasure_confirm.html", {"confirmed": confirmed, "scheduled": ErasureState.SCHEDULED})
