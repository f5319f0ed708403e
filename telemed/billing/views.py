"""Thin HTTP layer of billing: a doctor's tariffs and donation, and the structure manager's version."""

import datetime
import logging
from dataclasses import dataclass
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from telemed.accounts.models import DoctorProfile, User
from telemed.accounts.views import add_service_errors, flash_refusal
from telemed.billing import (
    charges,
    donations,
    exports,
    forms,
    invoices,
    ledger,
    payouts,
    pricing,
    proformas,
    reconciliation,
    selectors,
    tariffs,
    transfer,
    validation,
)
from telemed.billing.models import (
    CONSULT_KINDS,
    FREE_KINDS,
    SERVICES,
    PaymentStatus,
    ProformaStatus,
    ResponseUnit,
    ServiceKind,
    Tariff,
    service_label,
)

# By name: `payments` is also the payer's page below.
from telemed.billing.payments import (
    payment_mark_paid,
    payment_request_cancel,
    payment_request_details_set,
    proformas_validate,
    storage_purchase_start,
)

logger = logging.getLogger(__name__)

# What a new service's form suggests, before the doctor has set it.
SUGGESTED_RESPONSE = {
    ServiceKind.BASE: (72, ResponseUnit.HOURS),
    ServiceKind.IMAGING: (72, ResponseUnit.HOURS),
    ServiceKind.PRIORITY: (24, ResponseUnit.HOURS),
}


def _service_key(kind: str, duration: int | None) -> str:
    return f"{kind}-{duration}" if duration else str(kind)


SERVICE_KEYS = {_service_key(kind, duration): (kind, duration) for kind, duration in SERVICES}


@dataclass
class ServiceRow:
    key: str
    kind: str
    duration: int | None
    tariff: Tariff | None
    breakdown: pricing.Breakdown | None
    form: forms.TariffForm
    locked: bool

    @property
    def label(self) -> str:
        return service_label(self.kind, self.duration)

    @property
    def has_fee(self) -> bool:
        return self.kind not in FREE_KINDS

    @property
    def has_response_time(self) -> bool:
        return self.kind != ServiceKind.VIDEO

    @property
    def needs_response_time(self) -> bool:
        return self.kind in CONSULT_KINDS


def _initial(kind: str, tariff: Tariff | None) -> dict:
    if tariff is None:
        value, unit = SUGGESTED_RESPONSE.get(kind, (None, ""))
        return {"offered": False, "response_value": value, "response_unit": unit}
    return {
        "offered": tariff.offered,
        "fee": tariff.fee,
        "response_value": tariff.response_value,
        "response_unit": tariff.response_unit,
    }


def _locked_for(user: User, doctor: DoctorProfile, tariff: Tariff | None) -> bool:
    """The doctor sees, but cannot change, what their structure set while they belong to it."""
    return (
        user.is_doctor
        and tariff is not None
        and tariff.set_by_structure_id is not None
        and tariff.set_by_structure_id == doctor.structure_id
    )


def _service_rows(
    user: User, doctor: DoctorProfile, bound: forms.TariffForm | None, bound_key: str
) -> list[ServiceRow]:
    current = {(t.kind, t.duration_minutes): t for t in selectors.tariffs_current_of(doctor)}
    offered = [tariff for tariff in current.values() if tariff.offered]
    breakdowns = dict(zip((tariff.pk for tariff in offered), pricing.price_tariffs(doctor, offered), strict=True))
    rows = []
    for kind, duration in SERVICES:
        key = _service_key(kind, duration)
        tariff = current.get((kind, duration))
        form = (
            bound
            if bound is not None and key == bound_key
            else forms.TariffForm(prefix=key, initial=_initial(kind, tariff))
        )
        breakdown = breakdowns.get(tariff.pk) if tariff is not None else None
        rows.append(ServiceRow(key, kind, duration, tariff, breakdown, form, _locked_for(user, doctor, tariff)))
    return rows


def _save_tariff(request: HttpRequest, doctor: DoctorProfile) -> tuple[forms.TariffForm | None, str]:
    """Handle one service's form; returns the bound form when it must be shown again with errors."""
    key = request.POST.get("service", "")
    if key not in SERVICE_KEYS:
        messages.error(request, _("This service does not exist."))
        return None, ""
    kind, duration = SERVICE_KEYS[key]
    form = forms.TariffForm(request.POST, prefix=key)
    if form.is_valid():
        data = form.cleaned_data
        fee = data["fee"]
        if kind in FREE_KINDS or (fee is None and not data["offered"]):
            fee = Decimal("0.00")
        try:
            tariffs.tariff_set(
                actor=request.user,
                doctor=doctor,
                kind=kind,
                fee=fee,
                duration_minutes=duration,
                response_value=data["response_value"] if kind != ServiceKind.VIDEO else None,
                response_unit=data["response_unit"] if kind != ServiceKind.VIDEO else None,
                offered=data["offered"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Saved: %(service)s.") % {"service": service_label(kind, duration)})
            return None, key
    return form, key


def _render_tariffs(
    request: HttpRequest,
    doctor: DoctorProfile,
    template: str,
    *,
    bound: forms.TariffForm | None = None,
    bound_key: str = "",
    context: dict | None = None,
    status: int = 200,
) -> HttpResponse:
    preview_url = reverse("billing:tariff_preview")
    if not request.user.is_doctor:
        preview_url += "?" + urlencode({"doctor": doctor.pk})
    return render(
        request,
        template,
        {
            "doctor": doctor,
            "rows": _service_rows(request.user, doctor, bound, bound_key),
            "history": selectors.tariff_history_of(doctor),
            "preview_url": preview_url,
            **(context or {}),
        },
        status=status,
    )


def _tariffs_page(request: HttpRequest, doctor: DoctorProfile, template: str, context: dict) -> HttpResponse:
    if request.method == "POST":
        bound, key = _save_tariff(request, doctor)
        if bound is None:
            return redirect(request.path + (f"#service-{key}" if key else ""))
        return _render_tariffs(request, doctor, template, bound=bound, bound_key=key, context=context, status=400)
    return _render_tariffs(request, doctor, template, context=context)


def _doctor_of(user: User) -> DoctorProfile:
    doctor = getattr(user, "doctor_profile", None) if user.is_doctor else None
    if doctor is None:
        raise PermissionDenied
    return doctor


def _donation_form(doctor: DoctorProfile) -> forms.DonationForm:
    settings = selectors.billing_settings_of(doctor)
    return forms.DonationForm(
        initial={
            "percent": settings.donation_percent if settings else 0,
            "charity": settings.charity_id if settings else None,
        }
    )


@login_required
def doctor_tariffs(request: HttpRequest) -> HttpResponse:
    doctor = _doctor_of(request.user)
    return _tariffs_page(request, doctor, "billing/tariffs.html", {"donation_form": _donation_form(doctor)})


@login_required
@require_POST
def donation(request: HttpRequest) -> HttpResponse:
    doctor = _doctor_of(request.user)
    form = forms.DonationForm(request.POST)
    if form.is_valid():
        try:
            donations.donation_set(
                actor=request.user, percent=form.cleaned_data["percent"], charity=form.cleaned_data["charity"]
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Your donation choice is saved."))
            return redirect(reverse("billing:tariffs") + "#donation")
    return _render_tariffs(request, doctor, "billing/tariffs.html", context={"donation_form": form}, status=400)


@login_required
def structure_tariffs(request: HttpRequest) -> HttpResponse:
    if not request.user.is_structure_manager:
        raise PermissionDenied
    return render(
        request,
        "billing/structure_tariffs.html",
        {
            "structure": request.user.structure_manager_profile.structure,
            "doctors": selectors.structure_doctors_for_manager(request.user),
        },
    )


@login_required
def structure_doctor_tariffs(request: HttpRequest, doctor_id: int) -> HttpResponse:
    if not request.user.is_structure_manager:
        raise PermissionDenied
    doctor = selectors.doctor_of_structure_manager(request.user, doctor_id)
    return _tariffs_page(request, doctor, "billing/structure_doctor_tariffs.html", {})


@login_required
@require_GET
def tariff_preview(request: HttpRequest) -> HttpResponse:
    """The breakdown of a fee being typed, priced by the pricing module (a fragment for the tariff pages)."""
    user = request.user
    if user.is_structure_manager:
        doctor_id = request.GET.get("doctor", "")
        if not doctor_id.isdigit():
            raise Http404
        doctor = selectors.doctor_of_structure_manager(user, int(doctor_id))
    else:
        doctor = _doctor_of(user)
    key = request.GET.get("service", "")
    if key not in SERVICE_KEYS:
        return render(request, "billing/_preview_error.html", {"error": _("This service does not exist.")}, status=400)
    kind, duration = SERVICE_KEYS[key]
    field = forms.TariffForm.base_fields["fee"]
    try:
        fee = validation.clean_fee(kind, field.clean(request.GET.get("fee", "")) if kind not in FREE_KINDS else 0)
    except ValidationError as error:
        return render(request, "billing/_preview_error.html", {"error": " ".join(error.messages)}, status=400)
    breakdown = pricing.price(
        fee=fee, rules=pricing.fee_rules_for(doctor=doctor, kind=kind), kind=kind, duration_minutes=duration
    )
    return render(request, "billing/_breakdown.html", {"breakdown": breakdown})


# =================================================================================================
# Billing pages: the doctor's "Billing", the payer's "Payments", staff reconciliation and payouts.
# =================================================================================================


def _ids(values: list[str]) -> list[int] | None:
    """Ids from a form's repeated field; None when one of them is not a number."""
    if not all(value.isdigit() and len(value) < 19 for value in values):
        return None
    return [int(value) for value in values]


def _staff(user: User) -> None:
    if not (user.is_active and user.is_staff):
        raise PermissionDenied


# --- doctor --------------------------------------------------------------------------------------


@login_required
@require_GET
def billing_home(request: HttpRequest) -> HttpResponse:
    doctor = _doctor_of(request.user)
    today = timezone.localdate()
    settings_row = selectors.billing_settings_of(doctor)
    return render(
        request,
        "billing/doctor_billing.html",
        {
            "doctor": doctor,
            "to_bill": selectors.services_to_bill(doctor).order_by("delivered_at"),
            "drafts": selectors.proformas_of(doctor, ProformaStatus.DRAFT),
            "awaiting": selectors.payment_requests_of_doctor(doctor)
            .filter(status=PaymentStatus.OPEN)
            .order_by("-created_at")[:50],
            "invoices": selectors.invoices_of_doctor(doctor)[:50],
            "payout_lines": selectors.payout_lines_of_doctor(doctor)[:20],
            "held": selectors.held_for_doctor(doctor),
            "donations": selectors.donations_by_year_of_doctor(doctor),
            "export_form": forms.ExportForm(
                initial={"start": today.replace(month=1, day=1), "end": today, "format": "csv"}
            ),
            "stamp_form": forms.StampDutyForm(
                initial={"stamp_duty_mode": settings_row.stamp_duty_mode if settings_row else "virtual"}
            ),
            "years": list(range(today.year, today.year - 5, -1)),
            "sts_encrypted": exports.sts_encryptor().encrypted,
        },
    )


@login_required
@require_POST
def issue(request: HttpRequest) -> HttpResponse:
    """ "Emetti fattura": draft a proforma for each service not billed yet (or the ones ticked)."""
    _doctor_of(request.user)
    service_ids = None
    if request.POST.getlist("service"):
        service_ids = _ids(request.POST.getlist("service"))
        if service_ids is None:
            messages.error(request, _("This service does not exist."))
            return redirect("billing:home")
    try:
        drafted = proformas.proformas_draft(actor=request.user, service_ids=service_ids)
    except ValidationError as error:
        flash_refusal(request, error)
        return redirect("billing:home")
    if not drafted and not selectors.proformas_of(request.user.doctor_profile, ProformaStatus.DRAFT).exists():
        messages.info(request, _("There is nothing to bill: every delivered service is already billed."))
        return redirect("billing:home")
    return redirect("billing:review")


@login_required
def review(request: HttpRequest) -> HttpResponse:
    """The drafts, every line shown: the doctor unticks what to exclude and validates the rest."""
    doctor = _doctor_of(request.user)
    if request.method == "POST":
        drafts, included = _ids(request.POST.getlist("draft")), _ids(request.POST.getlist("include"))
        if drafts is None or included is None or not set(included) <= set(drafts):
            messages.error(request, _("These proformas do not exist."))
            return redirect("billing:review")
        try:
            sent = proformas_validate(actor=request.user, include=included, exclude=sorted(set(drafts) - set(included)))
        except ValidationError as error:
            flash_refusal(request, error)
            return redirect("billing:review")
        messages.success(
            request,
            ngettext("%(count)d payment request sent.", "%(count)d payment requests sent.", len(sent))
            % {"count": len(sent)},
        )
        return redirect("billing:home")
    drafts = [
        (proforma, pricing.Breakdown.from_dict(proforma.service.breakdown))
        for proforma in selectors.proformas_of(doctor, ProformaStatus.DRAFT)
    ]
    return render(request, "billing/review.html", {"drafts": drafts})


@login_required
@require_POST
def payment_cancel(request: HttpRequest, request_id: int) -> HttpResponse:
    payment_request = selectors.payment_request_of_doctor(request.user, request_id)
    try:
        payment_request_cancel(actor=request.user, payment_request=payment_request)
    except ValidationError as error:
        flash_refusal(request, error)
    else:
        messages.success(request, _("The payment request is withdrawn; the service is back among those to bill."))
    return redirect("billing:home")


@login_required
def credit_note(request: HttpRequest, invoice_id: int) -> HttpResponse:
    doctor = _doctor_of(request.user)
    invoice = selectors.invoice_for_user(request.user, invoice_id)
    if invoice.doctor_id != doctor.pk:
        raise Http404
    form = forms.CreditNoteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            note = invoices.credit_note_issue(actor=request.user, invoice=invoice, reason=form.cleaned_data["reason"])
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Credit note %(number)s issued.") % {"number": note.display_number})
            return redirect("billing:home")
    return render(
        request, "billing/credit_note.html", {"invoice": invoice, "form": form}, status=400 if form.errors else 200
    )


@login_required
@require_POST
def stamp_duty(request: HttpRequest) -> HttpResponse:
    _doctor_of(request.user)
    form = forms.StampDutyForm(request.POST)
    if form.is_valid():
        invoices.stamp_duty_mode_set(actor=request.user, mode=form.cleaned_data["stamp_duty_mode"])
        messages.success(request, _("Saved: how you pay the stamp duty."))
    else:
        messages.error(request, _("Choose how you pay the stamp duty."))
    return redirect(reverse("billing:home") + "#settings")


@login_required
@require_GET
def invoice_pdf(request: HttpRequest, invoice_id: int) -> HttpResponse:
    invoice = selectors.invoice_for_user(request.user, invoice_id)
    invoice = invoices.invoice_pdf_ensure(invoice=invoice)
    name = f"{'nota-di-credito' if invoice.is_credit_note else 'fattura'}-{invoice.number}-{invoice.year}.pdf"
    return FileResponse(invoice.pdf.open("rb"), as_attachment=True, filename=name, content_type="application/pdf")


@login_required
@require_GET
def payout_statement(request: HttpRequest, line_id: int) -> HttpResponse:
    line = selectors.payout_line_for_user(request.user, line_id)
    return render(
        request, "billing/payout_statement.html", {"line": line, "rows": selectors.payout_statement_rows(line)}
    )


def _year(value: str) -> int:
    form = forms.YearForm({"year": value})
    if not form.is_valid():
        raise Http404
    return form.cleaned_data["year"]


def _csv_response(lines, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@require_GET
def donations_csv(request: HttpRequest, year: str) -> HttpResponse:
    doctor = _doctor_of(request.user)
    year = _year(year)
    start, end = exports.year_bounds(year)
    invoices = selectors.invoices_of_doctor(doctor, start=start, end=end).order_by("issued_at", "pk")
    return _csv_response(
        exports.csv_lines(exports.donation_header(), exports.donation_rows(invoices.iterator())),
        f"donazioni-{year}.csv",
    )


@login_required
@require_GET
def export(request: HttpRequest) -> HttpResponse:
    """The doctor's invoices of a period for their accountant, as CSV or XLSX."""
    doctor = _doctor_of(request.user)
    form = forms.ExportForm(request.GET)
    if not form.is_valid():
        for error in form.errors.get("__all__", []) or [_("Choose the period and the format of the export.")]:
            messages.error(request, error)
        return redirect(reverse("billing:home") + "#records")
    zone = timezone.get_current_timezone()
    start = datetime.datetime.combine(form.cleaned_data["start"], datetime.time.min, tzinfo=zone)
    end = datetime.datetime.combine(
        form.cleaned_data["end"] + datetime.timedelta(days=1), datetime.time.min, tzinfo=zone
    )
    invoices = selectors.invoices_of_doctor(doctor, start=start, end=end).order_by("issued_at", "pk")
    name = f"fatture-{form.cleaned_data['start']}-{form.cleaned_data['end']}"
    header, rows = exports.invoice_header(), exports.invoice_rows(invoices.iterator())
    if form.cleaned_data["format"] == "xlsx":
        spool = exports.xlsx_file(header, rows, title=_("Invoices"))
        return FileResponse(
            spool, as_attachment=True, filename=f"{name}.xlsx",
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )  # fmt: skip
    return _csv_response(exports.csv_lines(header, rows), f"{name}.csv")


@login_required
@require_GET
def sts_export(request: HttpRequest, year: str) -> HttpResponse:
    """The doctor's Sistema TS file of a year, offered only once it passes the schema."""
    doctor = _doctor_of(request.user)
    year = _year(year)
    start, end = exports.year_bounds(year)
    encrypt = exports.sts_encryptor()
    try:
        xml = exports.sts_file(
            doctor_codice_fiscale=doctor.codice_fiscale,
            invoices=selectors.invoices_of_doctor(doctor, start=start, end=end)
            .select_related("credits", "refund")  # a credit note names its invoice and the day of its refund
            .order_by("issued_at", "pk")
            .iterator(),
            encrypt=encrypt,
            year=year,
        )
    except exports.StsFileRefused as refused:
        if refused.invalid is not None:
            # Only where and what: the messages themselves may quote fiscal codes.
            logger.error(
                "Sistema TS file of doctor %s for %s breaks the schema: %s",
                doctor.pk,
                year,
                "; ".join(refused.invalid.places),
            )
        messages.error(request, str(refused))
        return redirect(reverse("billing:home") + "#records")
    suffix = "" if encrypt.encrypted else "-NON-CIFRATO"
    response = HttpResponse(xml, content_type="application/xml")
    response["Content-Disposition"] = f'attachment; filename="sistema-ts-{year}{suffix}.xml"'
    return response


# --- payer ---------------------------------------------------------------------------------------


@login_required
@require_GET
def payments(request: HttpRequest) -> HttpResponse:
    requests = selectors.payment_requests_of_payer(request.user)
    return render(
        request,
        "billing/payments.html",
        {
            "open_requests": requests.filter(status=PaymentStatus.OPEN),
            "coming": charges.services_awaiting_request(request.user)[:50],
            "paid_requests": requests.filter(status=PaymentStatus.PAID)[:50],
            "invoices": selectors.invoices_of_patient(request.user)[:100],
        },
    )


@login_required
def payment(request: HttpRequest, request_id: int) -> HttpResponse:
    payment_request = selectors.payment_request_for_payer(request.user, request_id)
    form = forms.PaymentDetailsForm(
        request.POST or None,
        initial={"payer_address": payment_request.payer_address, "sts_opposition": payment_request.sts_opposition},
    )
    if request.method == "POST" and form.is_valid():
        try:
            payment_request_details_set(actor=request.user, payment_request=payment_request, **form.cleaned_data)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("Saved: your details for the invoice."))
            return redirect("billing:payment", request_id)
    try:
        account = transfer.platform_account()
    except transfer.AccountMisconfigured:
        account = None
    context = {"payment_request": payment_request, "account": account, "form": form}
    if payment_request.is_open and account is not None:
        context["reference"] = transfer.format_reference(payment_request.reference)
        context["qr"] = transfer.epc_qr_data_uri(
            account=account, amount=payment_request.outstanding, reference=payment_request.reference
        )
    if payment_request.proforma_id is not None:
        context["breakdown"] = pricing.Breakdown.from_dict(payment_request.proforma.service.breakdown)
    return render(request, "billing/payment.html", context, status=400 if form.errors else 200)


@login_required
def storage(request: HttpRequest) -> HttpResponse:
    """Extra space for one's box, paid like everything else by bank transfer."""
    plans = selectors.storage_plans_for(request.user)
    if request.method == "POST":
        plan_id = request.POST.get("plan", "")
        plan = plans.filter(pk=int(plan_id)).first() if plan_id.isdigit() and len(plan_id) < 19 else None
        if plan is None:
            messages.error(request, _("This storage plan is not on sale for your box."))
            return redirect("billing:storage")
        try:
            payment_request = storage_purchase_start(actor=request.user, plan=plan)
        except ValidationError as error:
            flash_refusal(request, error)
            return redirect("billing:storage")
        return redirect("billing:payment", payment_request.pk)
    return render(
        request,
        "billing/storage.html",
        {"plans": plans, "purchases": selectors.storage_purchases_of(request.user)[:20]},
    )


# --- staff ---------------------------------------------------------------------------------------


@login_required
def staff_reconciliation(request: HttpRequest) -> HttpResponse:
    _staff(request.user)
    upload = forms.StatementUploadForm()
    if request.method == "POST":
        upload = forms.StatementUploadForm(request.POST, request.FILES)
        if upload.is_valid():
            stream = upload.cleaned_data["statement"]
            try:
                result = reconciliation.statement_import(actor=request.user, stream=stream, file_name=stream.name)
            except ValidationError as error:
                upload.add_error("statement", error)
            else:
                if result.already_imported:
                    messages.info(request, _("This statement was already imported: nothing changed."))
                else:
                    messages.success(
                        request,
                        _(
                            "Statement imported: %(matched)d transfer(s) matched, %(queued)d to check, %(known)d already known."
                        )
                        % {"matched": result.matched, "queued": result.queued, "known": result.known},
                    )
                return redirect("billing:staff_reconciliation")
    return render(
        request,
        "billing/staff_reconciliation.html",
        {
            "upload": upload,
            "queue": selectors.transfers_to_check(),
            "open_requests": selectors.open_payment_requests()[:200],
            "refunds": selectors.refunds_due(),
            "statements": selectors.statements_recent(),
            "totals": ledger.totals(),
        },
        status=400 if upload.errors else 200,
    )


@login_required
@require_POST
def staff_transfer(request: HttpRequest, transfer_id: int) -> HttpResponse:
    _staff(request.user)
    row = selectors.transfer_for_staff(request.user, transfer_id)
    form = forms.TransferActionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Write a note and choose what to do with the transfer."))
        return redirect("billing:staff_reconciliation")
    data = form.cleaned_data
    try:
        if data["action"] == "apply":
            target = (
                selectors.payment_request_by_reference(request.user, data["reference"])
                if data["reference"]
                else row.payment_request
            )
            if target is None:
                raise ValidationError(_("No payment request has this reference."))
            reconciliation.transfer_apply(
                actor=request.user, transfer_row=row, payment_request=target, note=data["note"]
            )
        else:
            reconciliation.transfer_refund(actor=request.user, transfer_row=row, note=data["note"])
    except ValidationError as error:
        flash_refusal(request, error)
    else:
        messages.success(request, _("Transfer updated."))
    return redirect("billing:staff_reconciliation")


@login_required
@require_POST
def staff_mark_paid(request: HttpRequest, request_id: int) -> HttpResponse:
    _staff(request.user)
    payment_request = selectors.payment_request_for_staff(request.user, request_id)
    form = forms.MarkPaidForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError(_("Say why the payment is marked by hand (at least 5 characters)."))
        payment_mark_paid(actor=request.user, payment_request=payment_request, reason=form.cleaned_data["reason"])
    except ValidationError as error:
        flash_refusal(request, error)
    else:
        messages.success(request, _("Payment %(reference)s marked paid.") % {"reference": payment_request.reference})
    return redirect("billing:staff_reconciliation")


@login_required
@require_POST
def staff_refund_done(request: HttpRequest, refund_id: int) -> HttpResponse:
    _staff(request.user)
    refund = selectors.refund_for_staff(request.user, refund_id)
    form = forms.NoteForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError(_("Write a short note on what you did and why (at least 5 characters)."))
        reconciliation.refund_mark_done(actor=request.user, refund=refund, note=form.cleaned_data["note"])
    except ValidationError as error:
        flash_refusal(request, error)
    else:
        messages.success(request, _("Refund recorded."))
    return redirect("billing:staff_reconciliation")


@login_required
def staff_payouts(request: HttpRequest) -> HttpResponse:
    _staff(request.user)
    cutoff = payouts.default_payout_cutoff()
    form = forms.PayoutRunForm(
        request.POST or None,
        initial={"cutoff": (cutoff - datetime.timedelta(days=1)).date(), "execution_date": timezone.localdate()},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        zone = timezone.get_current_timezone()
        try:
            batch = payouts.payout_batch_run(
                actor=request.user,
                cutoff=datetime.datetime.combine(
                    data["cutoff"] + datetime.timedelta(days=1), datetime.time.min, tzinfo=zone
                )
                - datetime.timedelta(microseconds=1),
                execution_date=data["execution_date"],
                leave_out_invalid=data["leave_out_invalid"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(
                request, _("Payout batch %(number)s ready: download its file for the bank.") % {"number": batch.number}
            )
            return redirect("billing:staff_payouts")
    today = timezone.localdate()
    return render(
        request,
        "billing/staff_payouts.html",
        {
            "form": form,
            "batches": selectors.payout_batches()[:30],
            "years": list(range(today.year, today.year - 5, -1)),
        },
        status=400 if form.errors else 200,
    )


@login_required
@require_GET
def staff_payout_file(request: HttpRequest, batch_id: int) -> HttpResponse:
    _staff(request.user)
    batch = selectors.payout_batch_for_staff(request.user, batch_id)
    response = HttpResponse(batch.xml.encode(), content_type="application/xml")
    response["Content-Disposition"] = f'attachment; filename="payout-{batch.number}-pain.001.001.09.xml"'
    return response


@login_required
@require_GET
def staff_donations_csv(request: HttpRequest, year: str) -> HttpResponse:
    _staff(request.user)
    year = _year(year)
    summary = selectors.donations_by_charity(year)
    return _csv_response(
        exports.csv_lines(exports.charity_header(), exports.charity_rows(summary)), f"donazioni-enti-{year}.csv"
    )
