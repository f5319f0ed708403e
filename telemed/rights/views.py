"""The data rights pages: asking for the export, following it, downloading it."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from telemed.audit.models import AuditAction
from telemed.audit.services import audit_record
from telemed.rights import selectors, services
from telemed.rights.models import ExportState


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
