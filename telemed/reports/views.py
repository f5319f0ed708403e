from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.formats import time_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from telemed.accounts.views import add_service_errors
from telemed.audit.services import audit_record
from telemed.reports import forms, selectors, services
from telemed.reports.models import ReportKind
from telemed.signatures import selectors as signing_selectors


def _doctor(request: HttpRequest) -> None:
    if not request.user.is_doctor:
        raise PermissionDenied


@login_required
def report_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not (user.is_doctor or user.is_patient):
        raise PermissionDenied
    context = {"signed": selectors.signed_for_user(user)}
    if user.is_doctor:
        drafts = selectors.drafts_of(user)
        context.update(
            drafts=drafts,
            batch_form=forms.BatchSignForm(drafts=drafts),
            signing=signing_selectors.signing_status(user),
        )
    return render(request, "reports/list.html", context)


@login_required
def report_create(request: HttpRequest) -> HttpResponse:
    _doctor(request)
    patients = selectors.patients_to_write_for(request.user)
    form = forms.NewReportForm(request.POST or None, patients=patients)
    if request.method == "POST" and form.is_valid():
        try:
            report = services.report_create(
                actor=request.user, patient=form.cleaned_data["patient"], kind=form.cleaned_data["kind"]
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            return redirect("reports:edit", report.public_id)
    return render(
        request,
        "reports/create.html",
        {"form": form, "has_patients": patients.exists()},
        status=400 if form.errors else 200,
    )


def _parse_content(request: HttpRequest, report) -> tuple[forms.ReportContentForm, forms.TherapyFormSet, bool]:
    return forms.editor_forms(request.POST)


_content = forms.editor_content


def _editor(
    request, report, *, content_form=None, therapy=None, code_error: str = "", status: int = 200
) -> HttpResponse:
    if content_form is None:
        content_form = forms.ReportContentForm(initial={
            "diagnosis": report.diagnosis, "findings": report.findings, "notes": report.notes,
            "nre": report.nre, "nre_pin": report.nre_pin,
        })  # fmt: skip
    if therapy is None:
        rows = [
            {"drug": i.drug, "dose": i.dose, "schedule": i.schedule, "duration": i.duration}
            for i in report.therapy.all()
        ]
        rows += [{}] * max(forms.THERAPY_ROWS - len(rows), 1)
        therapy = forms.TherapyFormSet(initial=rows, prefix="therapy")
    return render(
        request,
        "reports/edit.html",
        {
            "report": report,
            "content_form": content_form,
            "therapy": therapy,
            "is_prescription": report.kind == ReportKind.PRESCRIPTION,
            "signing": signing_selectors.signing_status(request.user),
            "code_error": code_error,
        },
        status=status,
    )


def _save(request, report) -> tuple[bool, HttpResponse | None]:
    content_form, therapy, valid = _parse_content(request, report)
    if valid:
        try:
            services.report_update(actor=request.user, report=report, content=_content(content_form, therapy))
            return True, None
        except ValidationError as error:
            add_service_errors(content_form, error)
    return False, _editor(request, report, content_form=content_form, therapy=therapy, status=400)


@login_required
def report_edit(request: HttpRequest, public_id) -> HttpResponse:
    _doctor(request)
    report = selectors.report_get_for_user(request.user, public_id)
    if not report.is_draft:
        return redirect("reports:detail", report.public_id)
    if request.method == "POST":
        saved, failure = _save(request, report)
        if not saved:
            return failure
        messages.success(request, _("Draft saved."))
        return redirect("reports:edit", report.public_id)
    return _editor(request, report)


@login_required
@require_POST
def report_autosave(request: HttpRequest, public_id) -> JsonResponse:
    _doctor(request)
    report = selectors.report_get_for_user(request.user, public_id)
    content_form, therapy, valid = _parse_content(request, report)
    if not valid:
        return JsonResponse({"ok": False, "message": _("Not saved: check the fields marked in red.")}, status=400)
    try:
        services.report_update(actor=request.user, report=report, content=_content(content_form, therapy))
    except ValidationError as error:
        return JsonResponse({"ok": False, "message": " ".join(error.messages)}, status=400)
    return JsonResponse({"ok": True, "saved_at": time_format(timezone.localtime(), "TIME_FORMAT")})


@login_required
@require_POST
def report_sign(request: HttpRequest, public_id) -> HttpResponse:
    """Save what the editor holds, then sign it with the code typed next to the button."""
    _doctor(request)
    report = selectors.report_get_for_user(request.user, public_id)
    if not report.is_draft:
        return redirect("reports:detail", report.public_id)
    saved, failure = _save(request, report)
    if not saved:
        return failure
    report.refresh_from_db()
    try:
        services.report_sign(actor=request.user, report=report, code=request.POST.get("code", ""))
    except ValidationError as error:
        return _editor(request, report, code_error=" ".join(error.messages), status=400)
    messages.success(request, _("Signed. The patient finds it in their Welbox."))
    return redirect("reports:detail", report.public_id)


@login_required
@require_POST
def reports_sign_batch(request: HttpRequest) -> HttpResponse:
    _doctor(request)
    drafts = selectors.drafts_of(request.user)
    form = forms.BatchSignForm(request.POST, drafts=drafts)
    if form.is_valid():
        chosen = list(drafts.filter(public_id__in=form.cleaned_data["reports"]))
        try:
            signed = services.reports_sign_batch(actor=request.user, reports=chosen, code=form.cleaned_data["code"])
        except ValidationError as error:
            for message in error.messages:
                messages.error(request, message)
        else:
            messages.success(request, _("%(count)d documents signed and delivered.") % {"count": len(signed)})
    else:
        messages.error(request, _("Choose the documents to sign and type the code from your signing app."))
    return redirect("reports:list")


@login_required
def report_detail(request: HttpRequest, public_id) -> HttpResponse:
    report = selectors.report_get_for_user(request.user, public_id)
    if report.is_draft:
        return redirect("reports:edit", report.public_id)
    audit_record(actor=request.user, action="view", target=report, patient=report.patient, request=request)
    return render(
        request,
        "reports/detail.html",
        {
            "report": report,
            "therapy": report.therapy.all(),
            "history": selectors.report_history(report),
            "correction": selectors.correction_of(report),
        },
    )


@login_required
def report_pdf(request: HttpRequest, public_id) -> FileResponse:
    report = selectors.report_get_for_user(request.user, public_id)
    if not report.is_signed or not report.pdf:
        raise PermissionDenied
    audit_record(actor=request.user, action="download", target=report, patient=report.patient, request=request)
    kind = "prescrizione" if report.kind == ReportKind.PRESCRIPTION else "referto"
    date = timezone.localtime(report.signed_at).strftime("%Y-%m-%d")
    # Streamed from storage in blocks, never read whole.
    return FileResponse(
        report.pdf.open("rb"), as_attachment=True, filename=f"{kind}-{date}-v{report.version}.pdf",
        content_type="application/pdf",
    )  # fmt: skip


@login_required
@require_POST
def report_correct(request: HttpRequest, public_id) -> HttpResponse:
    _doctor(request)
    report = selectors.report_get_for_user(request.user, public_id)
    try:
        correction = services.report_correct(actor=request.user, report=report)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
        return redirect("reports:detail", report.public_id)
    return redirect("reports:edit", correction.public_id)


@login_required
@require_POST
def report_discard(request: HttpRequest, public_id) -> HttpResponse:
    _doctor(request)
    report = selectors.report_get_for_user(request.user, public_id)
    try:
        services.report_discard(actor=request.user, report=report)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.info(request, _("Draft discarded."))
    return redirect("reports:list")
