"""Thin HTTP layer of consults: parse, call a service or a selector, render."""

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from telemed.accounts import selectors as accounts
from telemed.accounts.views import add_service_errors, flash_refusal
from telemed.audit.models import AuditAction
from telemed.boxes import selectors as box_selectors
from telemed.boxes.services import document_opened
from telemed.boxes.views import document_file_response
from telemed.consults import info_requests, selectors, services
from telemed.consults.forms import (
    AnswerForm,
    ConsultRequestForm,
    DeclineForm,
    InfoAnswerForm,
    InfoRequestForm,
    MessageForm,
    ReportStartForm,
)
from telemed.consults.models import ConsultStatus, InfoStatus
from telemed.dicom import selectors as dicom_selectors
from telemed.notifications.services import notification_mark_read_for_url
from telemed.reports import forms as report_forms

# Consults listed a page at a time (the patient's list, the doctor's queue).
PAGE_SIZE = 30


def _hidden_field_errors(form) -> None:
    """Hidden fields have nowhere to show their errors: say it once at the top of the form."""
    if any(name in form.errors for name in ("key", "info")):
        form.add_error(None, _("The form is out of date: reload the page and send it again."))


def _patient(request: HttpRequest) -> None:
    if not request.user.is_patient:
        raise PermissionDenied


# --- patient ------------------------------------------------------------------------------------


@login_required
def mine(request: HttpRequest) -> HttpResponse:
    if request.user.is_doctor:
        return redirect("consults:queue")
    if request.user.is_secretary:
        return redirect("consults:info_inbox")
    if request.user.is_staff:
        return redirect("consults:overdue")
    _patient(request)
    page = Paginator(selectors.consult_list_for_user(request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request, "consults/mine.html", {"page": page, "infos": selectors.info_list_for_patient(request.user)[:20]}
    )


def _request_form_context(request, doctor, form, offers, info=None) -> dict:
    return {
        "doctor": doctor,
        "form": form,
        "offers": offers,
        "info": info,
        "max_upload_mb": services.UPLOAD_MAX_BYTES // (1024 * 1024),
    }


def _keep_uploads(request, form, uploads) -> list:
    """After a refusal, the chosen files are not lost: filed into the Welbox and ticked in the form
    again (unless the refusal is about the attachments themselves)."""
    if (
        not uploads
        or "uploads" in form.errors
        or "documents" in form.errors
        or any(name in form.errors for name in ("key", "info"))
    ):
        return []
    kept, refused = services.consult_uploads_keep(actor=request.user, uploads=uploads)
    for message in refused:
        form.add_error(None, message)
    if kept:
        form.fields["documents"].choices = [(d.pk, d.name) for d in kept] + list(form.fields["documents"].choices)
        data = form.data.copy()
        for document in kept:
            data.appendlist("documents", str(document.pk))
        form.data = data
    return kept


@login_required
def consult_new(request: HttpRequest, slug: str) -> HttpResponse:
    _patient(request)
    doctor = accounts.doctor_public_profile(slug)
    offers = services.consult_offers(doctor)
    documents = box_selectors.document_list_for_user(request.user).order_by("-created_at")[:200]
    studies = dicom_selectors.studies_owned_by(request.user)[:100]
    kinds = [(offer.kind, offer.label) for offer in offers]
    if request.method == "POST":
        form = ConsultRequestForm(request.POST, kinds=kinds, documents=documents, studies=studies)
        uploads = tuple(
            services.UploadedFile(name=f.name, stream=f, size=f.size)
            for f in request.FILES.getlist("uploads")
            if f.name
        )
        if form.is_valid():
            data = form.cleaned_data
            shown = request.POST.get(f"tariff_{data['kind']}", "")
            draft = services.ConsultDraft(
                kind=data["kind"], question=data["question"], document_ids=tuple(data["documents"]),
                study_ids=tuple(data["studies"]), uploads=uploads,
                shown_tariff_id=int(shown) if shown.isdigit() else None, accepted_terms=data["accept"],
                from_info_id=data.get("info"), idempotency_key=data["key"],
            )  # fmt: skip
            try:
                consult, created = services.consult_request(actor=request.user, doctor=doctor, draft=draft)
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                if created:
                    messages.success(request, _("Your consult was sent. The doctor will answer by the time shown."))
                else:
                    messages.info(request, _("This consult had already been sent: nothing was sent twice."))
                return redirect("consults:detail", consult.pk)
        else:
            _hidden_field_errors(form)
        context = _request_form_context(request, doctor, form, offers)
        context["kept"] = _keep_uploads(request, form, uploads)
        return render(request, "consults/new.html", context, status=400)
    info = selectors.info_get_for_patient(request.user, request.GET.get("info"))
    initial = {"key": uuid.uuid4(), "kind": request.GET.get("kind") or (offers[0].kind if offers else "")}
    if info is not None and info.doctor_id == doctor.pk:
        initial.update(question=info.text, info=info.pk)
    form = ConsultRequestForm(initial=initial, kinds=kinds, documents=documents, studies=studies)
    return render(request, "consults/new.html", _request_form_context(request, doctor, form, offers, info))


@login_required
def info_new(request: HttpRequest, slug: str) -> HttpResponse:
    _patient(request)
    doctor = accounts.doctor_public_profile(slug)
    if request.method == "POST":
        form = InfoRequestForm(request.POST)
        if form.is_valid():
            try:
                info_requests.info_request_send(
                    actor=request.user,
                    doctor=doctor,
                    text=form.cleaned_data["text"],
                    idempotency_key=form.cleaned_data["key"],
                )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, _("Your Info request was sent to the doctor's office."))
                return redirect("consults:mine")
        else:
            _hidden_field_errors(form)
        status = 400
    else:
        form, status = InfoRequestForm(initial={"key": uuid.uuid4()}), 200
    return render(
        request,
        "consults/info_new.html",
        {"doctor": doctor, "form": form, "offered": info_requests.info_offered(doctor)},
        status=status,
    )


@login_required
def cancel(request: HttpRequest, consult_id: int) -> HttpResponse:
    """GET: what cancelling does, and the button that does it (works without JavaScript); POST: cancel."""
    consult = selectors.consult_get_for_user(request.user, consult_id)
    if request.method != "POST":
        if not _can_cancel(request.user, consult):
            return redirect("consults:detail", consult.pk)
        return render(request, "consults/cancel_confirm.html", {"consult": consult})
    try:
        services.consult_cancel(actor=request.user, consult=consult)
    except ValidationError as error:
        flash_refusal(request, error)
    else:
        messages.success(request, _("The consult is cancelled. Nothing will be charged."))
    return redirect("consults:detail", consult.pk)


# --- both parties -------------------------------------------------------------------------------


def _can_cancel(user, consult) -> bool:
    return user.pk == consult.patient_id and (
        consult.status == ConsultStatus.REQUESTED
        or (consult.status == ConsultStatus.IN_PROGRESS and consult.is_overdue)
    )


def _own_documents(user):
    return box_selectors.document_list_for_user(user).order_by("-created_at")[:100]


def _detail(request, consult, *, message_form=None, decline_form=None, answer_form=None, status=200) -> HttpResponse:
    is_doctor = request.user.pk == consult.doctor.user_id
    context = {
        "consult": consult,
        "is_doctor": is_doctor,
        "thread": selectors.consult_messages(consult, viewer=request.user),
        "request_attachments": selectors.consult_request_attachments(consult, viewer=request.user),
        "studies": selectors.consult_studies(consult, viewer=request.user),
        "message_form": message_form or MessageForm(documents=_own_documents(request.user)),
        "decline_form": decline_form or DeclineForm(),
        "report_form": ReportStartForm(),
        "answer_form": answer_form or AnswerForm(),
        "can_cancel": _can_cancel(request.user, consult),
        "charge": selectors.consult_charge(consult) if request.user.pk == consult.patient_id else None,
    }
    return render(request, "consults/detail.html", context, status=status)


@login_required
def detail(request: HttpRequest, consult_id: int) -> HttpResponse:
    consult = selectors.consult_get_for_user(request.user, consult_id)
    notification_mark_read_for_url(actor=request.user, url=request.path)
    return _detail(request, consult)


@login_required
@require_POST
def message(request: HttpRequest, consult_id: int) -> HttpResponse:
    consult = selectors.consult_get_for_user(request.user, consult_id)
    form = MessageForm(request.POST, documents=_own_documents(request.user))
    if form.is_valid():
        try:
            services.consult_message_send(
                actor=request.user,
                consult=consult,
                text=form.cleaned_data["text"],
                document_ids=form.cleaned_data["documents"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            return redirect("consults:detail", consult.pk)
    return _detail(request, consult, message_form=form, status=400)


@login_required
@require_POST
def close(request: HttpRequest, consult_id: int) -> HttpResponse:
    consult = selectors.consult_get_for_user(request.user, consult_id)
    try:
        services.consult_close(actor=request.user, consult=consult)
    except ValidationError as error:
        flash_refusal(request, error)
    return redirect("consults:detail", consult.pk)


@login_required
def attachment(request: HttpRequest, consult_id: int, attachment_id: int) -> HttpResponse:
    consult = selectors.consult_get_for_user(request.user, consult_id)
    document = selectors.attachment_for_user(request.user, consult, attachment_id)
    document_opened(actor=request.user, document=document, action=AuditAction.DOWNLOAD, request=request)
    return document_file_response(document, inline=False)


# --- doctor -------------------------------------------------------------------------------------


@login_required
def queue(request: HttpRequest) -> HttpResponse:
    if not request.user.is_doctor:
        raise PermissionDenied
    # A page at a time: a busy doctor's open consults run to hundreds, and the first page holds
    # what is due first.
    page = Paginator(selectors.consult_queue_for_doctor(request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request, "consults/queue.html", {"page": page, "recent": selectors.consults_recent_for_doctor(request.user)}
    )


def _doctor_action(request, consult_id, action, success: str) -> HttpResponse:
    consult = selectors.consult_get_for_user(request.user, consult_id)
    try:
        action(consult)
    except ValidationError as error:
        flash_refusal(request, error)
    else:
        messages.success(request, success)
    return redirect("consults:detail", consult.pk)


@login_required
@require_POST
def start(request: HttpRequest, consult_id: int) -> HttpResponse:
    return _doctor_action(
        request,
        consult_id,
        lambda c: services.consult_start(actor=request.user, consult=c),
        _("You are working on this consult."),
    )


@login_required
@require_POST
def decline(request: HttpRequest, consult_id: int) -> HttpResponse:
    consult = selectors.consult_get_for_user(request.user, consult_id)
    form = DeclineForm(request.POST)
    if form.is_valid():
        try:
            services.consult_decline(actor=request.user, consult=consult, reason=form.cleaned_data["reason"])
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("The consult is declined; the patient was told why."))
            return redirect("consults:detail", consult.pk)
    return _detail(request, consult, decline_form=form, status=400)


@login_required
@require_POST
def report_start(request: HttpRequest, consult_id: int) -> HttpResponse:
    consult = selectors.consult_get_for_user(request.user, consult_id)
    form = ReportStartForm(request.POST)
    kind = form.cleaned_data["kind"] if form.is_valid() else "report"
    try:
        consult = services.consult_report_start(actor=request.user, consult=consult, kind=kind)
    except ValidationError as error:
        flash_refusal(request, error)
        return redirect("consults:detail", consult.pk)
    return redirect("reports:edit", consult.report.public_id)


@login_required
@require_POST
def answer(request: HttpRequest, consult_id: int) -> HttpResponse:
    consult = selectors.consult_get_for_user(request.user, consult_id)
    form = AnswerForm(request.POST)
    code = form.cleaned_data["code"] if form.is_valid() else ""
    # The report editor's "Sign and send" posts its whole content here.
    from_editor = "therapy-TOTAL_FORMS" in request.POST and consult.report_id is not None
    content = None
    if from_editor:
        content_form, therapy, valid = report_forms.editor_forms(request.POST)
        if not valid:
            messages.error(request, _("Not signed: a field of the report is not valid. Check it and sign again."))
            return redirect("reports:edit", consult.report.public_id)
        content = report_forms.editor_content(content_form, therapy)
    try:
        services.consult_answer(actor=request.user, consult=consult, code=code, content=content)
    except ValidationError as error:
        if from_editor:  # back to the editor, whose text is saved, with the reason
            flash_refusal(request, error)
            return redirect("reports:edit", consult.report.public_id)
        add_service_errors(form, error)
        if not hasattr(error, "error_dict"):
            flash_refusal(request, error)  # a refused move is shown at the top, whatever the page shows below
        return _detail(request, consult, answer_form=form, status=400)
    messages.success(request, _("The consult is answered: the patient finds the signed document in their Welbox."))
    return redirect("consults:detail", consult.pk)


# --- secretary (or doctor without one): the Info inbox --------------------------------------------


@login_required
def info_inbox(request: HttpRequest) -> HttpResponse:
    doctors = list(selectors.info_doctors_for(request.user))
    if not doctors:
        if request.user.is_secretary:  # no doctor has added them yet
            return render(request, "consults/info_inbox.html", {"doctors": [], "chosen": None})
        raise PermissionDenied
    chosen = next((d for d in doctors if str(d.pk) == request.GET.get("doctor", "")), doctors[0])
    return render(
        request,
        "consults/info_inbox.html",
        {
            "doctors": doctors,
            "chosen": chosen,
            "open_requests": selectors.info_inbox(request.user, chosen),
            "handled": selectors.info_inbox(request.user, chosen, status=InfoStatus.ANSWERED).order_by("-handled_at")[
                :20
            ],
            "rejected": selectors.info_inbox(request.user, chosen, status=InfoStatus.REJECTED).order_by("-handled_at")[
                :20
            ],
            "answer_form": InfoAnswerForm(),
        },
    )


def _back_to_inbox(info) -> HttpResponse:
    response = redirect("consults:info_inbox")
    response["Location"] += f"?doctor={info.doctor_id}"
    return response


@login_required
@require_POST
def info_answer(request: HttpRequest, info_id: int) -> HttpResponse:
    info = selectors.info_get_for_handler(request.user, info_id)
    form = InfoAnswerForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Write the answer."))
        return _back_to_inbox(info)
    try:
        info_requests.info_request_answer(actor=request.user, info=info, answer=form.cleaned_data["answer"])
    except ValidationError as error:
        flash_refusal(request, error)
    else:
        messages.success(request, _("Answer sent."))
    return _back_to_inbox(info)


@login_required
@require_POST
def info_reject(request: HttpRequest, info_id: int) -> HttpResponse:
    info = selectors.info_get_for_handler(request.user, info_id)
    try:
        info_requests.info_request_reject(actor=request.user, info=info)
    except ValidationError as error:
        flash_refusal(request, error)
    else:
        messages.success(request, _("Rejected: the patient was e-mailed how to send it as a consult."))
    return _back_to_inbox(info)


# --- staff --------------------------------------------------------------------------------------


@login_required
def overdue(request: HttpRequest) -> HttpResponse:
    if not request.user.is_staff:
        raise Http404
    return render(request, "consults/overdue.html", {"consults": selectors.consults_overdue(request.user)})
