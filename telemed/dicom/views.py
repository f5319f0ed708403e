"""The DICOM pages and endpoints: parse, call a service or a selector, answer.

The CD import protocol (driven by static/dicom/import.js):

* ``POST /dicom/imports/`` (``folder``) → 201 JSON ``{id, files_url, batch_url, finish_url, report_url}``.
* ``POST /dicom/imports/<id>/batch`` with whole files one after the other (``<size> <path>\n``
  then the bytes, see dicom/batches.py) → 200 JSON ``{files: [{path, received, size, code?,
  error?}]}``; how the page sends a CD's small files.
* ``POST /dicom/imports/<id>/files`` with ``Upload-Path`` (the file's path inside the CD,
  percent-encoded UTF-8), ``Upload-Length`` (the file's size), ``Upload-Offset`` and the
  raw chunk as body → 200 JSON ``{path, received, size}``. The first chunk of a file
  reserves its size in the box (413 ``quota`` when it does not fit); a chunk at the wrong
  offset is 409 with the right ``Upload-Offset``; a chunk that arrives short is 400 and
  changes nothing.
* ``POST /dicom/imports/<id>/finish`` → 202; the task worker imports the CD; the report
  page (``GET /dicom/imports/<id>/``, JSON with ``Accept: application/json``) follows it.

Chunk and batch bodies are read from the request stream in blocks as they arrive (never
``request.body``; telemed/streaming.py).
"""

from pathlib import Path
from urllib.parse import unquote

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from telemed.accounts.views import refusal_text
from telemed.boxes import selectors as box_selectors
from telemed.boxes import services as box_services
from telemed.boxes.models import BoxKind
from telemed.boxes.views import form_errors_text, record_visibility_change
from telemed.dicom import batches, forms, frames, imports, receiving, rendering, selectors, services
from telemed.dicom.models import ImportState, SkipReason

VIEWER_IMAGES_MAX = 5000


def _json_error(message: str, code: str, status: int, **extra) -> JsonResponse:
    return JsonResponse({"error": message, "code": code, **extra}, status=status)


def _box_user(request: HttpRequest):
    if not (request.user.is_patient or request.user.is_doctor):
        raise PermissionDenied
    return box_services.box_for(request.user)


# --- lists and the import page ----------------------------------------------------------------------


@login_required
def study_list(request: HttpRequest) -> HttpResponse:
    box = _box_user(request)
    context = {
        "box": box,
        "is_medbox": box.kind == BoxKind.MEDBOX,
        "studies": selectors.studies_owned_by(request.user)[:500],
        "shared": selectors.studies_shared_with(request.user)[:500] if request.user.is_doctor else [],
        "imports": selectors.cd_import_list_for_user(request.user)[:10],
    }
    return render(request, "dicom/studies.html", context)


def _import_form(request: HttpRequest, box, data=None) -> forms.ImportStartForm:
    return forms.ImportStartForm(
        data,
        folders=box_selectors.folder_list_for_user(request.user),
        medbox=box.kind == BoxKind.MEDBOX,
        auto_id="import_%s",
    )


@login_required
@require_GET
def import_page(request: HttpRequest) -> HttpResponse:
    box = _box_user(request)
    initial_folder = request.GET.get("folder")
    form = _import_form(request, box)
    if initial_folder and initial_folder.isdigit():
        form.initial["folder"] = int(initial_folder)
    context = {
        "box": box,
        "is_medbox": box.kind == BoxKind.MEDBOX,
        "usage": box_selectors.box_usage(box),
        "form": form,
        "chunk_bytes": 8 * 1024 * 1024,
    }
    return render(request, "dicom/import.html", context)


@login_required
@require_POST
def import_create(request: HttpRequest) -> HttpResponse:
    box = _box_user(request)
    form = _import_form(request, box, request.POST)
    if not form.is_valid():
        return _json_error(form_errors_text(form), "invalid", 400)
    try:
        cd_import = receiving.cd_import_start(actor=request.user, folder=form.cleaned_data["folder"])
    except ValidationError as error:
        return _json_error(refusal_text(error), error.code or "invalid", 400)
    return JsonResponse(
        {
            "id": str(cd_import.pk),
            "files_url": reverse("dicom:import_file", args=[cd_import.pk]),
            "batch_url": reverse("dicom:import_batch", args=[cd_import.pk]),
            "finish_url": reverse("dicom:import_finish", args=[cd_import.pk]),
            "cancel_url": reverse("dicom:import_cancel", args=[cd_import.pk]),
            "report_url": reverse("dicom:import_detail", args=[cd_import.pk]),
        },
        status=201,
    )


def _header_int(request: HttpRequest, name: str) -> int | None:
    value = request.headers.get(name, "")
    return int(value) if value.isascii() and value.isdigit() and len(value) < 19 else None


@login_required
@never_cache
@require_POST
def import_file(request: HttpRequest, import_id) -> HttpResponse:
    cd_import = selectors.cd_import_get_for_user(request.user, import_id)
    raw_path = request.headers.get("Upload-Path", "")
    try:
        path = unquote(raw_path, errors="strict")
    except UnicodeDecodeError:
        path = ""
    offset, total = _header_int(request, "Upload-Offset"), _header_int(request, "Upload-Length")
    length = _header_int(request, "Content-Length")
    if not path or offset is None or total is None:
        return _json_error(_("Upload-Path, Upload-Offset and Upload-Length are required."), "headers", 400)
    if length is None and total != 0:
        return _json_error(_("The chunk must declare its length."), "length", 411)
    try:
        entry = receiving.cd_import_receive(
            actor=request.user,
            cd_import=cd_import,
            path=path,
            offset=offset,
            total=total,
            stream=request,
            length=length,
        )
    except imports.QuotaExceeded as error:
        return _json_error(refusal_text(error), "quota", 413, needed=error.needed, free=error.free)
    except imports.ImportConflict as error:
        response = _json_error(refusal_text(error), error.code, 409)
        response["Upload-Offset"] = str(error.received)
        return response
    except ValidationError as error:
        status = {"size": 413, "too_big": 413, "too_many": 413, "beyond": 413}.get(error.code, 400)
        return _json_error(refusal_text(error), error.code or "invalid", status)
    response = JsonResponse({"path": entry.path, "received": entry.received, "size": entry.size})
    response["Upload-Offset"] = str(entry.received)
    return response


@login_required
@never_cache
@require_POST
def import_batch(request: HttpRequest, import_id) -> HttpResponse:
    """Whole files of the CD one after the other in one body (dicom/batches.py)."""
    cd_import = selectors.cd_import_get_for_user(request.user, import_id)
    length = _header_int(request, "Content-Length")
    if length is None:
        return _json_error(_("The batch must declare its length."), "length", 411)
    try:
        files = batches.cd_import_receive_batch(actor=request.user, cd_import=cd_import, stream=request, length=length)
    except ValidationError as error:
        return _json_error(refusal_text(error), error.code or "batch", 400)
    return JsonResponse({"files": files})


@login_required
@require_POST
def import_finish(request: HttpRequest, import_id) -> HttpResponse:
    cd_import = selectors.cd_import_get_for_user(request.user, import_id)
    try:
        receiving.cd_import_finish(actor=request.user, cd_import=cd_import)
    except ValidationError as error:
        return _json_error(refusal_text(error), error.code or "state", 409)
    return JsonResponse({"report_url": reverse("dicom:import_detail", args=[cd_import.pk])}, status=202)


@login_required
@require_POST
def import_cancel(request: HttpRequest, import_id) -> HttpResponse:
    cd_import = selectors.cd_import_get_for_user(request.user, import_id)
    try:
        receiving.cd_import_cancel(actor=request.user, cd_import=cd_import)
    except ValidationError as error:
        return _json_error(refusal_text(error), error.code or "state", 409)
    return JsonResponse({"state": cd_import.state})


def _import_status(cd_import) -> dict:
    return {
        "state": cd_import.state,
        "finished": cd_import.state in {ImportState.DONE, ImportState.FAILED, ImportState.CANCELLED},
        "received_files": cd_import.received_files,
        "imported": cd_import.imported_count,
        "skipped": cd_import.skipped_count,
    }


@login_required
@never_cache
@require_GET
def import_detail(request: HttpRequest, import_id) -> HttpResponse:
    cd_import = selectors.cd_import_get_for_user(request.user, import_id)
    if "application/json" in request.headers.get("Accept", ""):
        return JsonResponse(_import_status(cd_import))
    reasons = dict(SkipReason.choices)
    totals = sorted(
        ((reasons.get(code, code), count) for code, count in (cd_import.skipped_by_reason or {}).items()),
        key=lambda item: -item[1],
    )
    skips = selectors.import_skips(cd_import)
    context = {
        "cd_import": cd_import,
        "status": _import_status(cd_import),
        "studies": cd_import.studies.select_related("study").order_by("study__study_date"),
        "totals": totals,
        "skips": skips[: imports.MAX_SKIP_ROWS],
        "listed": skips.count(),
    }
    return render(request, "dicom/import_report.html", context)


# --- a study: the page, the viewer's data, the images ------------------------------------------------


@login_required
def study_detail(request: HttpRequest, study_id: int) -> HttpResponse:
    study = selectors.study_get_for_user(request.user, study_id)
    services.study_viewed(actor=request.user, study=study, request=request)
    owner = study.box.owner_id == request.user.pk
    context = {
        "study": study,
        "series_list": selectors.series_list_for_study(study),
        "owner": owner,
        "patient": services.study_patient(study),
        "presets": [
            ("lung", _("Lung"), rendering.PRESETS["lung"]),
            ("bone", _("Bone"), rendering.PRESETS["bone"]),
            ("soft", _("Soft tissue"), rendering.PRESETS["soft"]),
            ("brain", _("Brain"), rendering.PRESETS["brain"]),
        ],
    }
    if owner:
        context["shares"] = selectors.study_shares(request.user, study)
    if owner and study.box.kind == BoxKind.WELBOX:
        # A patient shares from here; a doctor shares a Medbox study by sending it in Intramed.
        context["share_form"] = forms.ShareForm(doctors=box_selectors.doctors_to_share_with(), auto_id="share_%s")
    return render(request, "dicom/study.html", context)


@login_required
@require_GET
def series_images(request: HttpRequest, series_id: int) -> HttpResponse:
    """The viewer's stack: every frame of every image of the series, in order."""
    series = selectors.series_get_for_user(request.user, series_id)
    images = []
    for instance in selectors.instances_of_series(series).filter(frames__gt=0).only("pk", "number", "frames"):
        url = reverse("dicom:instance_image", args=[instance.pk])
        for frame in range(instance.frames):
            images.append({"url": f"{url}?frame={frame}", "number": instance.number, "frame": frame})
            if len(images) >= VIEWER_IMAGES_MAX:
                break
        if len(images) >= VIEWER_IMAGES_MAX:
            break
    return JsonResponse(
        {"series": {"id": series.pk, "description": str(series), "modality": series.modality}, "images": images}
    )


def _render(instance, *, frame: int, window, size) -> HttpResponse:
    try:
        return frames.png_response(frames.frame_png(instance, frame=frame, window=window, size=size))
    except rendering.CannotRender:
        return _json_error(
            _("This image cannot be displayed (its data is damaged or its compression is not supported)."),
            "render",
            422,
        )


@login_required
@require_GET
def instance_image(request: HttpRequest, instance_id: int) -> HttpResponse:
    instance = selectors.instance_get_for_user(request.user, instance_id)
    form = forms.RenderForm(request.GET)
    if not form.is_valid():
        return _json_error(form_errors_text(form), "invalid", 400)
    data = form.cleaned_data
    frame = data.get("frame") or 0
    if not instance.frames:
        return _json_error(_("This object of the study is not an image."), "not_image", 404)
    if frame >= instance.frames:
        return _json_error(_("This image has no such frame."), "frame", 404)
    window = rendering.Window(data["wc"], data["ww"]) if data.get("wc") is not None else None
    services.series_viewed(actor=request.user, series=instance.series, request=request)
    return _render(instance, frame=frame, window=window, size=data.get("size") or None)


@login_required
@require_GET
def series_thumbnail(request: HttpRequest, series_id: int) -> HttpResponse:
    series = selectors.series_get_for_user(request.user, series_id)
    images = list(selectors.instances_of_series(series).filter(frames__gt=0).only("pk", "frames", "file"))
    if not images:
        raise Http404
    middle = images[len(images) // 2]
    return _render(middle, frame=0, window=None, size=rendering.THUMBNAIL_SIZES[0])


# --- sharing, deleting, the de-identified copy --------------------------------------------------------


@login_required
@require_POST
def study_share(request: HttpRequest, study_id: int) -> HttpResponse:
    study = selectors.study_get_for_user(request.user, study_id, owned=True)
    form = forms.ShareForm(request.POST, doctors=box_selectors.doctors_to_share_with())
    if not form.is_valid():
        messages.error(request, form_errors_text(form))
        return redirect("dicom:study", study.pk)
    try:
        services.study_share(actor=request.user, study=study, doctor=form.cleaned_data["doctor"], request=request)
    except (ValidationError, PermissionDenied) as error:
        messages.error(
            request,
            refusal_text(error) if isinstance(error, ValidationError) else _("Only the patient can share a study."),
        )
    else:
        messages.success(
            request,
            pgettext(form.cleaned_data["doctor"].grammar_context, "Shared with %(name)s.")
            % {"name": form.cleaned_data["doctor"].display_name},
        )
    return redirect("dicom:study", study.pk)


@login_required
@require_POST
def study_hide(request: HttpRequest, study_id: int) -> HttpResponse:
    study = selectors.study_get_for_user(request.user, study_id, owned=True)
    record_visibility_change(request, study, hide=True)
    return redirect("dicom:study", study.pk)


@login_required
@require_POST
def study_show(request: HttpRequest, study_id: int) -> HttpResponse:
    study = selectors.study_get_for_user(request.user, study_id, owned=True)
    record_visibility_change(request, study, hide=False)
    return redirect("dicom:study", study.pk)


@login_required
@require_POST
def share_revoke(request: HttpRequest, share_id: int) -> HttpResponse:
    share = selectors.study_share_get_for_owner(request.user, share_id)
    services.study_share_revoke(actor=request.user, share=share, request=request)
    messages.success(request, _("Sharing stopped: the doctor no longer sees it."))
    return redirect("dicom:study", share.study_id)


@login_required
@require_POST
def study_delete(request: HttpRequest, study_id: int) -> HttpResponse:
    study = selectors.study_get_for_user(request.user, study_id, owned=True)
    label = str(study)
    try:
        services.study_delete(actor=request.user, study=study, request=request)
    except ValidationError as error:
        messages.error(request, refusal_text(error))
        return redirect("dicom:study", study.pk)
    messages.success(request, _("“%(name)s” deleted; its space is free again.") % {"name": label})
    return redirect("dicom:studies")


class _RemovedAfterSending(FileResponse):
    """The copy is a scratch file: it goes once it has been sent (or the client went away)."""

    def __init__(self, path: Path, **kwargs):
        self._scratch = path
        super().__init__(open(path, "rb"), **kwargs)  # noqa: SIM115 - closed by Django

    def close(self):
        super().close()
        self._scratch.unlink(missing_ok=True)


@login_required
@require_POST
def study_deidentified(request: HttpRequest, study_id: int) -> HttpResponse:
    study = selectors.study_get_for_user(request.user, study_id)
    try:
        path, written, _left_out = services.study_export_deidentified(actor=request.user, study=study, request=request)
    except ValidationError as error:
        messages.error(request, refusal_text(error))
        return redirect("dicom:study", study.pk)
    if not written:
        path.unlink(missing_ok=True)
        messages.error(
            request, _("No image of this study can be copied without identifying data (they carry burned-in text).")
        )
        return redirect("dicom:study", study.pk)
    response = _RemovedAfterSending(path, content_type="application/zip")
    response["Content-Disposition"] = content_disposition_header(True, f"study-{study.pk}-deidentified.zip")
    return response
