"""The box pages and the resumable-upload endpoints: parse, call a service or a selector, answer.

The upload protocol (a small tus-like protocol over plain HTTP, driven by
static/boxes/upload.js):

* ``POST /box/uploads/`` with ``name``, ``size``, ``category``, ``folder`` → 201,
  ``Location`` and JSON ``{id, url, offset, size}``; the space is reserved here, so
  a file that does not fit is refused (413, ``code: "quota"``) before any byte.
* ``PATCH /box/uploads/<id>`` with ``Upload-Offset`` and the raw chunk as body
  (optionally ``Upload-Checksum: sha256 <hex>``) → 204 with the new
  ``Upload-Offset``; the last chunk answers 201 with the document's address.
  A chunk at the wrong offset is 409 with the right ``Upload-Offset``.
* ``HEAD`` (or ``GET``) ``/box/uploads/<id>`` → the offset to resume from after a drop.
* ``DELETE /box/uploads/<id>`` → cancelled, space released.

Chunk bodies are read from the request stream in blocks (never ``request.body``).
"""

from csp.decorators import csp_replace, csp_update
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import FileSystemStorage, default_storage
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_http_methods, require_POST

from telemed.accounts.views import refusal_text
from telemed.audit.models import AuditAction
from telemed.boxes import forms, hiding, selectors, services, sniffing, uploads
from telemed.boxes.models import BoxKind, Category, UploadState

SIGNED_URL_SECONDS = 60
# Documents listed a page at a time, the newest first: a Welbox of years holds hundreds.
DOCUMENTS_PAGE_SIZE = 50
DOWNLOAD_BLOCK = 1024 * 1024


def _box_or_403(request: HttpRequest):
    if not (request.user.is_patient or request.user.is_doctor):
        raise PermissionDenied
    return services.box_for(request.user)


def _box_context(request: HttpRequest, box) -> dict:
    return {
        "box": box,
        "usage": selectors.box_usage(box),
        "is_medbox": box.kind == BoxKind.MEDBOX,
        "upload_limits": {
            "max_file": uploads.MAX_FILE_BYTES,
            "chunk": uploads.FIRST_CHUNK_BYTES,
            "chunk_max": uploads.MAX_CHUNK_BYTES,
        },
    }


@login_required
@csp_update({"frame-src": ["'self'"]})
def box_home(request: HttpRequest) -> HttpResponse:
    box = _box_or_403(request)
    folders = selectors.folder_list_for_user(request.user).annotate(document_count=Count("documents"))
    search = forms.SearchForm(request.GET or None, folders=folders, auto_id="search_%s")
    filters = search.filters()
    documents = selectors.document_list_for_user(request.user, **filters).select_related("folder")
    page = Paginator(documents, DOCUMENTS_PAGE_SIZE).get_page(request.GET.get("page"))
    # The links to the other pages keep the search.
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        **_box_context(request, box),
        "folders": folders,
        "search": search,
        "documents": page.object_list,
        "page": page,
        "page_query": query.urlencode(),
        "filtered": any(filters.values()),
        "upload_form": forms.UploadForm(folders=folders, initial={"folder": filters["folder"]}, auto_id="upload_%s"),
        "folder_form": forms.FolderForm(patients=selectors.patients_for_folders(request.user), auto_id="folder_%s"),
        "shared_count": selectors.documents_shared_with(request.user).count() if request.user.is_doctor else 0,
        "categories": Category.choices,
    }
    if box.kind == BoxKind.WELBOX and filters["folder"] is not None:
        context["share_doctors"] = selectors.doctors_to_share_with()
        context["folder_shares"] = selectors.shares_of_folder(request.user, filters["folder"])
    return render(request, "boxes/box.html", context)


@login_required
def space(request: HttpRequest) -> HttpResponse:
    """Where the quota refusal leads: what takes the space, and how to get more."""
    box = _box_or_403(request)
    largest = selectors.document_list_for_user(request.user).filter(counts_against_quota=True).order_by("-size")[:20]
    return render(request, "boxes/space.html", {**_box_context(request, box), "largest": largest})


@login_required
def shared_with_me(request: HttpRequest) -> HttpResponse:
    if not request.user.is_doctor:
        raise PermissionDenied
    box = services.box_for(request.user)
    search = forms.SearchForm(request.GET or None, folders=selectors.folder_list_for_user(request.user).none())
    filters = search.filters()
    filters.pop("folder")
    documents = selectors.documents_shared_with(request.user, **filters)
    return render(
        request,
        "boxes/shared_with_me.html",
        {**_box_context(request, box), "documents": documents[:500], "search": search},
    )


@login_required
@csp_update({"frame-src": ["'self'"]})
def document_detail(request: HttpRequest, document_id: int) -> HttpResponse:
    document = selectors.document_get_for_user(request.user, document_id)
    owner = document.box.owner_id == request.user.pk
    context = {
        "document": document,
        "owner": owner,
        "previewable": document.mime in sniffing.PREVIEWABLE,
        "is_pdf": document.mime == sniffing.PDF,
    }
    if owner:
        folders = selectors.folder_list_for_user(request.user)
        context.update(
            _box_context(request, document.box),
            rename_form=forms.RenameForm(initial={"name": document.name}),
            move_form=forms.MoveForm(
                folders=folders, initial={"folder": document.folder, "category": document.category}
            ),
            shares=selectors.shares_of_document(request.user, document),
        )
        if document.box.kind == BoxKind.WELBOX:
            context["share_form"] = forms.ShareForm(doctors=selectors.doctors_to_share_with())
    return render(request, "boxes/document.html", context)


def document_file_response(document, *, inline: bool) -> HttpResponse:
    disposition = content_disposition_header(not inline, document.name)
    if not inline and not isinstance(default_storage, FileSystemStorage):
        # Object storage: a short-lived signed link; the bytes never pass through here.
        url = default_storage.url(
            document.file.name,
            parameters={"ResponseContentDisposition": disposition, "ResponseContentType": document.mime},
            expire=SIGNED_URL_SECONDS,
        )
        response = HttpResponseRedirect(url)
    else:
        response = FileResponse(document.file.open("rb"), content_type=document.mime)
        response.block_size = DOWNLOAD_BLOCK
        response["Content-Disposition"] = disposition
        response["Content-Length"] = str(document.size)
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@never_cache
def document_download(request: HttpRequest, document_id: int) -> HttpResponse:
    document = selectors.document_get_for_user(request.user, document_id)
    services.document_opened(actor=request.user, document=document, action=AuditAction.DOWNLOAD, request=request)
    return document_file_response(document, inline=False)


@login_required
@never_cache
@xframe_options_sameorigin
# Framed by the document page of this site only; the file itself may run nothing.
@csp_replace({"frame-ancestors": ["'self'"], "default-src": ["'none'"], "img-src": ["'self'"], "style-src": ["'self'"]})
def document_preview(request: HttpRequest, document_id: int) -> HttpResponse:
    document = selectors.document_get_for_user(request.user, document_id)
    if document.mime not in sniffing.PREVIEWABLE:
        raise Http404
    services.document_opened(actor=request.user, document=document, action=AuditAction.VIEW, request=request)
    return document_file_response(document, inline=True)


def _back(request: HttpRequest, document=None) -> HttpResponse:
    if document is not None:
        return redirect("boxes:document", document.pk)
    return redirect("boxes:home")


def form_errors_text(form) -> str:
    """A form's errors as one line, for a flash message or a JSON error."""
    return " ".join(str(message) for errors in form.errors.values() for message in errors)


@login_required
@require_POST
def document_rename(request: HttpRequest, document_id: int) -> HttpResponse:
    document = selectors.document_get_for_user(request.user, document_id, owned=True)
    form = forms.RenameForm(request.POST)
    if not form.is_valid():
        messages.error(request, form_errors_text(form))
        return _back(request, document)
    try:
        services.document_rename(actor=request.user, document=document, name=form.cleaned_data["name"], request=request)
    except ValidationError as error:
        messages.error(request, refusal_text(error))
    else:
        messages.success(request, _("Renamed."))
    return _back(request, document)


@login_required
@require_POST
def document_move(request: HttpRequest, document_id: int) -> HttpResponse:
    document = selectors.document_get_for_user(request.user, document_id, owned=True)
    form = forms.MoveForm(request.POST, folders=selectors.folder_list_for_user(request.user))
    if not form.is_valid():
        messages.error(request, form_errors_text(form))
        return _back(request, document)
    try:
        services.document_move(
            actor=request.user, document=document, folder=form.cleaned_data["folder"],
            category=form.cleaned_data["category"], request=request,
        )  # fmt: skip
    except ValidationError as error:
        messages.error(request, refusal_text(error))
    else:
        messages.success(request, _("Moved."))
    return _back(request, document)


@login_required
@require_POST
def document_delete(request: HttpRequest, document_id: int) -> HttpResponse:
    document = selectors.document_get_for_user(request.user, document_id, owned=True)
    name = document.name
    services.document_delete(actor=request.user, document=document, request=request)
    messages.success(request, _("“%(name)s” deleted; its space is free again.") % {"name": name})
    return _back(request)


@login_required
@require_POST
def document_share(request: HttpRequest, document_id: int) -> HttpResponse:
    document = selectors.document_get_for_user(request.user, document_id, owned=True)
    form = forms.ShareForm(request.POST, doctors=selectors.doctors_to_share_with())
    if not form.is_valid():
        messages.error(request, form_errors_text(form))
        return _back(request, document)
    try:
        services.document_share(
            actor=request.user, document=document, doctor=form.cleaned_data["doctor"], request=request
        )
    except ValidationError as error:
        messages.error(request, refusal_text(error))
    else:
        messages.success(
            request,
            pgettext(form.cleaned_data["doctor"].grammar_context, "Shared with %(name)s.")
            % {"name": form.cleaned_data["doctor"].display_name},
        )
    return _back(request, document)


def record_visibility_change(request: HttpRequest, record, *, hide: bool) -> None:
    """Hide one of the patient's Welbox records from doctors, or show it again (a document here,
    a study in dicom), and say how it went."""
    change = hiding.record_hide_from_doctors if hide else hiding.record_show_to_doctors
    try:
        change(actor=request.user, record=record, request=request)
    except PermissionDenied:
        messages.error(request, _("Only the patient can hide a record of their Welbox."))
    else:
        done = (
            _("Hidden: no doctor sees it now, not even in their lists.")
            if hide
            else _("Visible again to the doctors you share it with.")
        )
        messages.success(request, done)


@login_required
@require_POST
def document_hide(request: HttpRequest, document_id: int) -> HttpResponse:
    document = selectors.document_get_for_user(request.user, document_id, owned=True)
    record_visibility_change(request, document, hide=True)
    return _back(request, document)


@login_required
@require_POST
def document_show(request: HttpRequest, document_id: int) -> HttpResponse:
    document = selectors.document_get_for_user(request.user, document_id, owned=True)
    record_visibility_change(request, document, hide=False)
    return _back(request, document)


@login_required
@require_POST
def share_revoke(request: HttpRequest, share_id: int) -> HttpResponse:
    share = selectors.share_get_for_owner(request.user, share_id)
    services.share_revoke(actor=request.user, share=share, request=request)
    messages.success(request, _("Sharing stopped: the doctor no longer sees it."))
    next_document = request.POST.get("document")
    if next_document and next_document.isdigit():
        return redirect("boxes:document", int(next_document))
    return _back(request)


@login_required
@require_POST
def folder_create(request: HttpRequest) -> HttpResponse:
    _box_or_403(request)
    form = forms.FolderForm(request.POST, patients=selectors.patients_for_folders(request.user))
    if not form.is_valid():
        messages.error(request, form_errors_text(form))
        return _back(request)
    try:
        folder = services.folder_create(
            actor=request.user, name=form.cleaned_data["name"], patient=form.cleaned_data["patient"]
        )
    except ValidationError as error:
        messages.error(request, refusal_text(error))
        return _back(request)
    messages.success(request, _("Folder created."))
    return redirect(reverse("boxes:home") + f"?folder={folder.pk}")


@login_required
@require_POST
def folder_rename(request: HttpRequest, folder_id: int) -> HttpResponse:
    folder = selectors.folder_get_for_user(request.user, folder_id)
    form = forms.RenameForm(request.POST)
    if form.is_valid():
        try:
            services.folder_rename(actor=request.user, folder=folder, name=form.cleaned_data["name"])
        except ValidationError as error:
            messages.error(request, refusal_text(error))
        else:
            messages.success(request, _("Renamed."))
    else:
        messages.error(request, form_errors_text(form))
    return redirect(reverse("boxes:home") + f"?folder={folder.pk}")


@login_required
@require_POST
def folder_delete(request: HttpRequest, folder_id: int) -> HttpResponse:
    folder = selectors.folder_get_for_user(request.user, folder_id)
    try:
        services.folder_delete(actor=request.user, folder=folder)
    except ValidationError as error:
        messages.error(request, refusal_text(error))
        return redirect(reverse("boxes:home") + f"?folder={folder.pk}")
    messages.success(request, _("Folder deleted."))
    return _back(request)


@login_required
@require_POST
def folder_share(request: HttpRequest, folder_id: int) -> HttpResponse:
    folder = selectors.folder_get_for_user(request.user, folder_id)
    form = forms.ShareForm(request.POST, doctors=selectors.doctors_to_share_with())
    if not form.is_valid():
        messages.error(request, form_errors_text(form))
    else:
        try:
            services.folder_share(actor=request.user, folder=folder, doctor=form.cleaned_data["doctor"])
        except ValidationError as error:
            messages.error(request, refusal_text(error))
        else:
            messages.success(
                request,
                pgettext(form.cleaned_data["doctor"].grammar_context, "Folder shared with %(name)s.")
                % {"name": form.cleaned_data["doctor"].display_name},
            )
    return redirect(reverse("boxes:home") + f"?folder={folder.pk}")


# --- uploads ----------------------------------------------------------------------------------


def _json_error(error: ValidationError, status: int, **extra) -> JsonResponse:
    return JsonResponse(
        {"error": refusal_text(error), "code": getattr(error, "code", None) or "invalid", **extra}, status=status
    )


def _quota_refusal(error: services.QuotaExceeded) -> JsonResponse:
    return _json_error(
        error, 413, needed=error.needed, free=error.free,
        delete_url=reverse("boxes:space"), buy_url=reverse("boxes:space") + "#more-space",
    )  # fmt: skip


def _upload_status(upload) -> dict:
    status = {
        "id": str(upload.pk),
        "url": reverse("boxes:upload", args=[upload.pk]),
        "offset": upload.offset,
        "size": upload.size,
        "state": upload.state,
    }
    if upload.state == UploadState.COMPLETE and upload.document_id:
        status["document_url"] = reverse("boxes:document", args=[upload.document_id])
    if upload.state == UploadState.FAILED:
        status["error"] = _("The file was refused.")
    return status


def _with_offset(response: HttpResponse, upload) -> HttpResponse:
    response["Upload-Offset"] = str(upload.offset)
    response["Upload-Length"] = str(upload.size)
    response["Upload-State"] = upload.state
    response["Cache-Control"] = "no-store"
    return response


def _folder_of(request: HttpRequest, folder_id):
    if folder_id in (None, ""):
        return None
    try:
        return selectors.folder_get_for_user(request.user, folder_id)
    except Http404:
        raise ValidationError(_("This folder does not exist."), code="folder") from None


@login_required
@require_POST
def upload_create(request: HttpRequest) -> HttpResponse:
    if not (request.user.is_patient or request.user.is_doctor):
        raise PermissionDenied
    form = forms.UploadStartForm(request.POST)
    if not form.is_valid():
        return JsonResponse({"error": form_errors_text(form), "code": "invalid"}, status=400)
    data = form.cleaned_data
    try:
        upload = uploads.upload_start(
            actor=request.user, name=data["name"], size=data["size"],
            category=data["category"] or Category.OTHER, folder=_folder_of(request, data["folder"]),
        )  # fmt: skip
    except services.QuotaExceeded as error:
        return _quota_refusal(error)
    except ValidationError as error:
        return _json_error(error, 503 if error.code == "storage" else 400)
    response = JsonResponse(_upload_status(upload), status=201)
    response["Location"] = reverse("boxes:upload", args=[upload.pk])
    return _with_offset(response, upload)


def _header_int(request: HttpRequest, name: str) -> int | None:
    value = request.headers.get(name, "")
    return int(value) if value.isascii() and value.isdigit() and len(value) < 19 else None


def _checksum(request: HttpRequest) -> str | None:
    """``Upload-Checksum: sha256 <hex>``; anything else is ignored (the final SHA-256 still guards the file)."""
    algorithm, _, value = request.headers.get("Upload-Checksum", "").partition(" ")
    value = value.strip().lower()
    if algorithm.lower() == "sha256" and len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return value
    return None


@login_required
@never_cache
@require_http_methods(["HEAD", "GET", "PATCH", "DELETE"])
def upload_detail(request: HttpRequest, upload_id) -> HttpResponse:
    upload = selectors.upload_get_for_user(request.user, upload_id)
    if request.method in {"HEAD", "GET"}:
        return _with_offset(JsonResponse(_upload_status(upload)), upload)
    if request.method == "DELETE":
        try:
            uploads.upload_cancel(actor=request.user, upload=upload)
        except ValidationError as error:
            return _with_offset(_json_error(error, 409), upload)
        return _with_offset(HttpResponse(status=204), upload)
    return _upload_patch(request, upload)


def _upload_patch(request: HttpRequest, upload) -> HttpResponse:
    offset = _header_int(request, "Upload-Offset")
    length = _header_int(request, "Content-Length")
    if offset is None:
        return _with_offset(
            JsonResponse(
                {"error": _("The Upload-Offset header is missing or not a number."), "code": "offset"}, status=400
            ),
            upload,
        )
    if length is None:
        return _with_offset(
            JsonResponse({"error": _("The chunk must declare its length."), "code": "length"}, status=411), upload
        )
    try:
        upload = uploads.upload_append(
            actor=request.user, upload=upload, offset=offset, stream=request, length=length,
            sha256=_checksum(request), request=request,
        )  # fmt: skip
    except uploads.UploadConflict as error:
        return _with_offset(_json_error(error, 409), error.upload)
    except ValidationError as error:
        upload.refresh_from_db()
        status = {
            "beyond": 413, "chunk": 413 if length > uploads.MAX_CHUNK_BYTES else 400, "type": 415, "storage": 503,
        }.get(error.code, 400)  # fmt: skip
        return _with_offset(_json_error(error, status), upload)
    if upload.state == UploadState.COMPLETE:
        return _with_offset(JsonResponse(_upload_status(upload), status=201), upload)
    return _with_offset(HttpResponse(status=204), upload)


@login_required
@require_POST
def upload_form(request: HttpRequest) -> HttpResponse:
    """The upload without JavaScript: one multipart request (Django spools the file to disk), same services."""
    _box_or_403(request)
    folders = selectors.folder_list_for_user(request.user)
    form = forms.UploadForm(request.POST, request.FILES, folders=folders)
    if not form.is_valid():
        messages.error(request, form_errors_text(form))
        return _back(request)
    uploaded = form.cleaned_data["file"]
    try:
        upload = uploads.upload_start(
            actor=request.user, name=uploaded.name, size=uploaded.size,
            category=form.cleaned_data["category"], folder=form.cleaned_data["folder"],
        )  # fmt: skip
        uploads.upload_append(
            actor=request.user, upload=upload, offset=0, stream=uploaded, length=uploaded.size, request=request
        )
    except ValidationError as error:
        messages.error(request, refusal_text(error))
        return _back(request)
    messages.success(request, _("“%(name)s” uploaded.") % {"name": upload.name})
    return redirect("boxes:document", upload.document_id)
