"""Reads of billing data: tariffs now and at any past moment, the fee rules in force, charities."""

import datetime

from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from telemed.accounts import selectors as accounts
from telemed.accounts.models import DoctorProfile, User
from telemed.billing.models import (
    BankFeeSetting,
    Charity,
    DoctorBillingSettings,
    PlatformFee,
    ServiceKind,
    Tariff,
    VatSetting,
)


def _in_force(queryset: QuerySet, when: datetime.datetime) -> QuerySet:
    return queryset.filter(Q(valid_to__isnull=True) | Q(valid_to__gt=when), valid_from__lte=when).order_by("-valid_from")


def _service(queryset: QuerySet, kind: str, duration: int | None) -> QuerySet:
    queryset = queryset.filter(kind=kind)
    return queryset.filter(duration_minutes__isnull=True) if duration is None else queryset.filter(duration_minutes=duration)


# --- tariffs ------------------------------------------------------------------------------


def tariff_current_for(doctor: DoctorProfile, service_kind: str, duration: int | None = None) -> Tariff | None:
    """The doctor's tariff in force now for the service (offered or not), or None if never set."""
    return (
        _service(Tariff.objects.filter(doctor=doctor, valid_to__isnull=True), service_kind, duration)
        .select_related("set_by", "set_by_structure")
        .first()
    )


def tariff_at(
    doctor: DoctorProfile, kind: str, when: datetime.datetime, duration: int | None = None
) -> Tariff | None:
    """The doctor's tariff that was in force at ``when`` for the service, or None."""
    return _in_force(_service(Tariff.objects.filter(doctor=doctor), kind, duration), when).first()


def tariff_version(tariff_id: int) -> Tariff:
    """One exact tariff version, as a request stored it (current or closed)."""
    tariff = Tariff.objects.select_related("doctor__user", "set_by_structure").filter(pk=tariff_id).first()
    if tariff is None:
        raise Http404
    return tariff


def tariffs_current_of(doctor: DoctorProfile) -> QuerySet[Tariff]:
    return Tariff.objects.filter(doctor=doctor, valid_to__isnull=True).select_related("set_by", "set_by_structure")


def tariffs_offered_by(doctor: DoctorProfile) -> QuerySet[Tariff]:
    """What a patient can ask of the doctor today."""
    return tariffs_current_of(doctor).filter(offered=True)


def tariff_history_of(doctor: DoctorProfile, limit: int = 30) -> QuerySet[Tariff]:
    return (
        Tariff.objects.filter(doctor=doctor)
        .select_related("set_by", "set_by_structure")
        .order_by("-valid_from", "-pk")[:limit]
    )


# --- who may edit whose tariffs ----------------------------------------------------------------


def doctor_of_structure_manager(user: User, doctor_id: int) -> DoctorProfile:
    """A doctor of the manager's structure; anyone else's doctor does not exist for them."""
    doctor = accounts.doctors_of_structure_manager(user).filter(pk=doctor_id).first()
    if doctor is None:
        raise Http404
    return doctor


def structure_doctors_for_manager(user: User) -> QuerySet[DoctorProfile]:
    return accounts.doctors_of_structure_manager(user)


# --- fee rules set by staff ----------------------------------------------------------------------


def platform_fee_at(kind: str, when: datetime.datetime | None = None) -> PlatformFee | None:
    if kind == ServiceKind.INFO:
        return None
    return _in_force(PlatformFee.objects.filter(kind=kind), when or timezone.now()).first()


def platform_fees_current() -> QuerySet[PlatformFee]:
    return PlatformFee.objects.filter(valid_to__isnull=True).order_by("kind")


def vat_setting_at(when: datetime.datetime | None = None) -> VatSetting | None:
    return _in_force(VatSetting.objects.all(), when or timezone.now()).first()


def bank_fee_at(when: datetime.datetime | None = None) -> BankFeeSetting | None:
    return _in_force(BankFeeSetting.objects.all(), when or timezone.now()).first()


# --- charities and donations -----------------------------------------------------------------------


def charity_list() -> QuerySet[Charity]:
    """The charities a doctor can choose now."""
    return Charity.objects.filter(active=True)


def billing_settings_of(doctor: DoctorProfile) -> DoctorBillingSettings | None:
    return DoctorBillingSettings.objects.select_related("charity").filter(doctor=doctor).first()
