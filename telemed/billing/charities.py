"""Charities: which ones doctors may choose, and the bank account their donations are paid to.

Rules:

* A charity is offered to doctors only while it is active **and** has a valid IBAN
  (checked by schwifty through ``telemed.lib.identifiers`` whenever one is stored):
  the donations of a charity that cannot be paid would stop every payout batch.
* An IBAN is stored in its compact form, so the payout file and the statements show
  the same string.
* Staff keep the list (back office); these services are what the back office and the
  demo data both go through.
"""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from telemed.accounts.models import User
from telemed.billing.models import Charity
from telemed.lib import identifiers


def iban_clean(value: str) -> str:
    """The compact IBAN, or a translated ``ValidationError`` naming the field."""
    try:
        return identifiers.clean_iban(value or "")
    except identifiers.InvalidIdentifier:
        raise ValidationError({"iban": _("This IBAN is not valid (its check digits do not match).")}) from None


def is_payable(charity: Charity) -> bool:
    try:
        identifiers.clean_iban(charity.iban or "")
    except identifiers.InvalidIdentifier:
        return False
    return True


def offer_check(*, active: bool, iban: str) -> None:
    """Refuse to offer a charity to doctors when its donations could not be paid out."""
    if active and not iban:
        raise ValidationError(
            {
                "iban": _(
                    "A charity can be offered to doctors only with a valid IBAN: add it, or untick “can be chosen”."
                )
            }
        )


@transaction.atomic
def charity_iban_set(*, actor: User, charity: Charity, iban: str) -> Charity:
    """Staff record the account a charity's donations are paid to."""
    if not (actor.is_active and actor.is_staff):
        raise PermissionDenied
    charity = Charity.objects.select_for_update().get(pk=charity.pk)
    charity.iban = iban_clean(iban)
    charity.save(update_fields=["iban"])
    return charity
