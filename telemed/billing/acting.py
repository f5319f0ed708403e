"""Who may act on billing, and the refusal every billing use case raises.

Each use case (``tariffs``, ``donations``, ``proformas``, ``payments``, ``reconciliation``,
``invoices``, ``storage_purchases``, ``payouts``) changes state in one transaction and checks
the actor first: a doctor acts on their own billing, platform staff on the platform's. A
refusal is a ``BillingError`` with a message for the person acting; nothing was changed.
"""

import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from telemed.accounts.models import DoctorProfile, User
from telemed.billing import transfer
from telemed.billing.models import DoctorBillingSettings


class BillingError(ValidationError):
    """A refusal with a message for the person acting; nothing was changed."""


def check_doctor(actor: User) -> DoctorProfile:
    doctor = getattr(actor, "doctor_profile", None) if actor.is_active and actor.is_doctor else None
    if doctor is None:
        raise PermissionDenied
    return doctor


def check_staff(actor: User) -> None:
    if not (actor.is_active and actor.is_staff):
        raise PermissionDenied


def aware(value: datetime.datetime, name: str) -> datetime.datetime:
    if not isinstance(value, datetime.datetime) or timezone.is_naive(value):
        raise ValueError(f"{name} must be an aware datetime")
    return value


def doctor_lock(doctor: DoctorProfile) -> DoctorBillingSettings:
    """Billing's own row of the doctor, locked: tariff changes of one doctor happen one at a time."""
    DoctorBillingSettings.objects.get_or_create(doctor=doctor)
    return DoctorBillingSettings.objects.select_for_update().get(doctor=doctor)


def platform_account() -> transfer.PlatformAccount:
    try:
        return transfer.platform_account()
    except transfer.AccountMisconfigured:
        raise BillingError(_("The platform's bank account is not configured (TELEMED_BANK_IBAN).")) from None
