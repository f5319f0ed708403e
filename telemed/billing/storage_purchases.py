"""Extra box space for sale: the plans staff put on sale, and the quota raise once a purchase is paid.

A purchase is a payment request like any other (``payments.storage_purchase_start``); the space
comes when it is settled, and only then: the one place billing calls into boxes for space.
"""

from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from telemed.accounts.models import User
from telemed.billing import validation
from telemed.billing.acting import BillingError, check_staff
from telemed.billing.models import (
    StoragePlan,
    StoragePurchase,
)
from telemed.boxes import services as boxes


def storage_purchase_apply(purchase: StoragePurchase) -> None:
    """Raise the buyer's box quota: the one place billing calls into boxes for space."""
    purchase = StoragePurchase.objects.select_for_update().get(pk=purchase.pk)
    if purchase.applied_at is not None:
        return
    boxes.box_quota_raise(
        box=boxes.box_for(purchase.buyer), extra_bytes=purchase.extra_bytes, reason=f"storage purchase {purchase.pk}"
    )
    purchase.applied_at = timezone.now()
    purchase.save(update_fields=["applied_at"])


@transaction.atomic
def storage_plan_set(
    *, actor: User, name: str, for_box: str, extra_gigabytes: int, price: Decimal, active: bool = True
) -> StoragePlan:
    """Staff put a storage plan on sale (or change it, found by name); purchases keep the price they were made at."""
    check_staff(actor)
    name = " ".join(str(name or "").split())[:80]
    if not name:
        raise BillingError({"name": _("Give the plan a name.")})
    if for_box not in StoragePlan.For.values:
        raise BillingError({"for_box": _("Choose the boxes the plan is for.")})
    if not isinstance(extra_gigabytes, int) or not 0 < extra_gigabytes <= 10_000:
        raise BillingError({"extra_gigabytes": _("The extra space must be between 1 and 10000 GB.")})
    price = validation.clean_amount(price, field="price", maximum=Decimal("10000.00"))
    if price <= 0:
        raise BillingError({"price": _("The price must be above zero.")})
    plan, _created = StoragePlan.objects.update_or_create(
        name=name,
        defaults={"for_box": for_box, "extra_gigabytes": extra_gigabytes, "price": price, "active": bool(active)},
    )
    return plan
