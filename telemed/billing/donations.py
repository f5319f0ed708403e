"""The doctor's donation: the share of their fees given to a charity of the platform's list."""

from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from telemed.accounts.models import User
from telemed.billing import selectors, validation
from telemed.billing.acting import doctor_lock
from telemed.billing.models import (
    Charity,
    DoctorBillingSettings,
)


@transaction.atomic
def donation_set(*, actor: User, percent: Decimal, charity: Charity | None) -> DoctorBillingSettings:
    """A doctor chooses the share of their fees they donate and the charity that receives it."""
    if not actor.is_doctor or getattr(actor, "doctor_profile", None) is None:
        raise PermissionDenied
    percent = validation.clean_percent(percent, field="percent")
    if charity is not None:
        charity = selectors.charity_list().filter(pk=charity.pk).first()
        if charity is None:
            raise ValidationError({"charity": _("This charity cannot be chosen any more.")})
    if percent > 0 and charity is None:
        raise ValidationError({"charity": _("Choose the charity that receives your donation.")})
    settings = doctor_lock(actor.doctor_profile)
    settings.donation_percent = percent
    settings.charity = charity
    settings.donation_chosen_at = timezone.now()
    settings.save(update_fields=["donation_percent", "charity", "donation_chosen_at", "updated_at"])
    return settings
