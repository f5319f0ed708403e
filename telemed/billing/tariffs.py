"""What doctors ask and what the platform adds: doctors' tariffs and the fee rules staff set.

Versioned rows (tariffs, platform fees, VAT and bank-fee settings) are never edited: a change
closes the current row at ``now`` and adds a new one from ``now``. A doctor sets their own
tariffs; the manager of their structure may set them instead, and then only the manager can
change them while the doctor belongs to the structure.
"""

from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from telemed.accounts.models import DoctorProfile, Structure, User
from telemed.billing import validation
from telemed.billing.acting import check_staff, doctor_lock
from telemed.billing.models import (
    BankFeeSetting,
    PlatformFee,
    ServiceKind,
    Tariff,
    VatSetting,
)


def _tariff_authority(actor: User, doctor: DoctorProfile) -> Structure | None:
    """None when the doctor acts on their own tariffs; their structure when its manager does; else refused."""
    if actor.is_doctor and getattr(actor, "doctor_profile", None) is not None and actor.doctor_profile.pk == doctor.pk:
        return None
    manager = getattr(actor, "structure_manager_profile", None) if actor.is_structure_manager else None
    if manager is not None and doctor.structure_id is not None and manager.structure_id == doctor.structure_id:
        return doctor.structure
    raise PermissionDenied


@transaction.atomic
def tariff_set(
    *,
    actor: User,
    doctor: DoctorProfile,
    kind: str,
    fee: Decimal,
    duration_minutes: int | None = None,
    response_value: int | None = None,
    response_unit: str | None = None,
    offered: bool = True,
) -> Tariff:
    """Set what a doctor asks for one service and the response time they commit to.

    The actor is the doctor, or the manager of the doctor's structure; a tariff the
    structure set cannot be changed by the doctor while they belong to it. Returns
    the tariff in force afterwards (the same row when nothing changed).
    """
    doctor.refresh_from_db(fields=["structure"])
    structure = _tariff_authority(actor, doctor)
    kind = validation.clean_kind(kind)
    duration = validation.clean_duration(kind, duration_minutes)
    fee = validation.clean_fee(kind, fee)
    response_value, response_unit = validation.clean_response(
        kind, response_value, response_unit, offered=bool(offered)
    )

    doctor_lock(doctor)
    current = Tariff.objects.filter(doctor=doctor, kind=kind, duration_minutes=duration, valid_to__isnull=True).first()
    if (
        structure is None
        and current is not None
        and current.set_by_structure_id is not None
        and current.set_by_structure_id == doctor.structure_id
    ):
        raise ValidationError(
            _("%(structure)s set this tariff for you: ask the structure's manager to change it.")
            % {"structure": current.set_by_structure}
        )
    values = {
        "fee": fee,
        "offered": bool(offered),
        "response_value": response_value,
        "response_unit": response_unit,
        "set_by_structure_id": structure.pk if structure is not None else None,
    }
    if (
        current is not None
        and current.set_by_id == actor.pk
        and all(getattr(current, name) == value for name, value in values.items())
    ):
        return current
    now = timezone.now()
    if current is not None:
        current.valid_to = now
        current.save(update_fields=["valid_to"])
    return Tariff.objects.create(
        doctor=doctor, kind=kind, duration_minutes=duration, set_by=actor, valid_from=now, **values
    )


def _replace_current(model, current, **values):
    now = timezone.now()
    if current is not None:
        current.valid_to = now
        current.save(update_fields=["valid_to"])
    return model.objects.create(valid_from=now, **values)


@transaction.atomic
def platform_fee_set(*, actor: User, kind: str, fee: Decimal) -> PlatformFee:
    """Staff set the platform's fixed fee for a kind of service, from now on."""
    check_staff(actor)
    kind = validation.clean_kind(kind)
    if kind == ServiceKind.INFO:
        raise ValidationError({"kind": _("Info requests are always free: they carry no platform fee.")})
    fee = validation.clean_amount(fee, field="fee", maximum=validation.MAX_PLATFORM_FEE)
    current = PlatformFee.objects.select_for_update().filter(kind=kind, valid_to__isnull=True).first()
    if current is not None and current.fee == fee:
        return current
    return _replace_current(PlatformFee, current, kind=kind, fee=fee, set_by=actor)


@transaction.atomic
def vat_setting_set(*, actor: User, platform_fee_exempt: bool, platform_fee_rate: Decimal) -> VatSetting:
    """Staff decide whether the platform fee is exempt from VAT or taxable, and at which rate."""
    check_staff(actor)
    rate = validation.clean_percent(platform_fee_rate, field="platform_fee_rate")
    if not platform_fee_exempt and rate == 0:
        raise ValidationError({"platform_fee_rate": _("A taxable platform fee needs a VAT rate above 0%.")})
    current = VatSetting.objects.select_for_update().filter(valid_to__isnull=True).order_by("-valid_from").first()
    if current is not None and (current.platform_fee_exempt, current.platform_fee_rate) == (platform_fee_exempt, rate):
        return current
    return _replace_current(
        VatSetting, current, platform_fee_exempt=bool(platform_fee_exempt), platform_fee_rate=rate, set_by=actor
    )


@transaction.atomic
def bank_fee_set(*, actor: User, fixed: Decimal, percent: Decimal) -> BankFeeSetting:
    """Staff set the bank fees charged to doctors on each paid service."""
    check_staff(actor)
    fixed = validation.clean_amount(fixed, field="fixed", maximum=validation.MAX_BANK_FEE)
    percent = validation.clean_percent(percent, field="percent")
    current = BankFeeSetting.objects.select_for_update().filter(valid_to__isnull=True).order_by("-valid_from").first()
    if current is not None and (current.fixed, current.percent) == (fixed, percent):
        return current
    return _replace_current(BankFeeSetting, current, fixed=fixed, percent=percent, set_by=actor)
