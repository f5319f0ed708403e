"""Thin HTTP layer of billing: a doctor's tariffs and donation, and the structure manager's version."""

from dataclasses import dataclass
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from telemed.accounts.models import DoctorProfile, User
from telemed.billing import forms, pricing, selectors, services, validation
from telemed.billing.models import CONSULT_KINDS, FREE_KINDS, SERVICES, ResponseUnit, ServiceKind, Tariff, service_label

# What a new service's form suggests, before the doctor has set it.
SUGGESTED_RESPONSE = {
    ServiceKind.BASE: (72, ResponseUnit.HOURS),
    ServiceKind.IMAGING: (72, ResponseUnit.HOURS),
    ServiceKind.PRIORITY: (24, ResponseUnit.HOURS),
}


def _service_key(kind: str, duration: int | None) -> str:
    return f"{kind}-{duration}" if duration else str(kind)


SERVICE_KEYS = {_service_key(kind, duration): (kind, duration) for kind, duration in SERVICES}


def add_service_errors(form, error: ValidationError) -> None:
    """Attach a service's ValidationError to the form, on the field it names when the form has it."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


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


def _service_rows(user: User, doctor: DoctorProfile, bound: forms.TariffForm | None, bound_key: str) -> list[ServiceRow]:
    current = {(t.kind, t.duration_minutes): t for t in selectors.tariffs_current_of(doctor)}
    rows = []
    for kind, duration in SERVICES:
        key = _service_key(kind, duration)
        tariff = current.get((kind, duration))
        form = bound if bound is not None and key == bound_key else forms.TariffForm(prefix=key, initial=_initial(kind, tariff))
        breakdown = pricing.price_tariff(tariff) if tariff is not None and tariff.offered else None
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
            services.tariff_set(
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
        initial={"percent": settings.donation_percent if settings else 0, "charity": settings.charity_id if settings else None}
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
            services.donation_set(
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
    breakdown = pricing.price(fee=fee, rules=pricing.fee_rules_for(doctor=doctor, kind=kind), kind=kind, duration_minutes=duration)
    return render(request, "billing/_breakdown.html", {"breakdown": breakdown})
