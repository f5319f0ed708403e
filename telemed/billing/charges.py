"""What a patient is told about the money of one paid service, in plain words.

A consult or a video visit shows the patient, next to the service, one ``Charge``: what
is owed, when the payment request arrives and where the payment stands. The states, in
the order a service goes through them:

=====================  =====================================================================
state                  when
=====================  =====================================================================
``after_service``      the price is accepted, the service is not delivered yet: nothing is
                       paid before the answer (consult) or the visit
``request_coming``     delivered; the doctor has not sent the payment request yet (or it is
                       a draft they are reviewing): it arrives in Payments and by e-mail
``to_pay``             a payment request is open: pay by bank transfer from its page
``paid``               the request is paid (the invoice is in Payments)
``not_charged``        the service was cancelled, declined or expired, or the doctor
                       cancelled the request: nothing to pay
=====================  =====================================================================

A free service (an Info request, a fee of 0) has no charge at all. The callers (consults,
visits) say whether their service can still be charged; billing knows the rest from the
service they registered under their own ``source_key``.
"""

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from telemed.accounts.models import User
from telemed.billing.models import BillableService, PaymentRequest, PaymentStatus, ProformaStatus


class ChargeState(StrEnum):
    AFTER_SERVICE = "after_service"
    REQUEST_COMING = "request_coming"
    TO_PAY = "to_pay"
    PAID = "paid"
    NOT_CHARGED = "not_charged"


# The words a patient reads for each state: plain Italian first (see the .po), never accounting terms.
STATE_LABELS = {
    ChargeState.AFTER_SERVICE: _("To pay after the service"),
    ChargeState.REQUEST_COMING: _("Payment request on its way"),
    ChargeState.TO_PAY: _("To pay now"),
    ChargeState.PAID: pgettext_lazy("payment of a service", "Paid"),
    ChargeState.NOT_CHARGED: _("Nothing to pay"),
}
# The colour of the state's badge (the stylesheet's status classes).
STATE_STYLES = {
    ChargeState.AFTER_SERVICE: "status-pending",
    ChargeState.REQUEST_COMING: "status-pending",
    ChargeState.TO_PAY: "status-rejected",
    ChargeState.PAID: "status-verified",
    ChargeState.NOT_CHARGED: "status-verified",
}


@dataclass(frozen=True)
class Charge:
    state: ChargeState
    amount: Decimal
    # The open or paid payment request, when there is one (its page has the bank details or the invoice).
    payment_request: PaymentRequest | None = None
    # Consult or visit: the explanation of AFTER_SERVICE names what the payment waits for.
    service: str = "consult"

    @property
    def label(self) -> str:
        return str(STATE_LABELS[self.state])

    @property
    def style(self) -> str:
        return STATE_STYLES[self.state]


def _live_request(service: BillableService) -> PaymentRequest | None:
    """The request of the service's current proforma (a cancelled one is replaced by a new one)."""
    proforma = (
        service.proformas.filter(status__in=[ProformaStatus.AWAITING_PAYMENT, ProformaStatus.PAID])
        .select_related("payment_request")
        .first()
    )
    return getattr(proforma, "payment_request", None) if proforma is not None else None


def charge_for_patient(
    *, patient: User, source_key: str, amount: Decimal, chargeable: bool, service: str = "consult"
) -> Charge | None:
    """Where the money of one service of ``patient`` stands (None when the service is free).

    ``chargeable`` is false once the service ended without being delivered (cancelled,
    declined, expired): the patient owes nothing, whatever the amount accepted.
    """
    if amount is None or amount <= 0:
        return None
    delivered = BillableService.objects.filter(patient=patient, source_key=source_key).first()
    if delivered is None:
        state = ChargeState.AFTER_SERVICE if chargeable else ChargeState.NOT_CHARGED
        return Charge(state=state, amount=amount, service=service)
    request = _live_request(delivered)
    if request is None:
        return Charge(state=ChargeState.REQUEST_COMING, amount=delivered.patient_total, service=service)
    if request.status == PaymentStatus.PAID:
        return Charge(state=ChargeState.PAID, amount=request.amount, payment_request=request, service=service)
    if request.status == PaymentStatus.OPEN:
        return Charge(state=ChargeState.TO_PAY, amount=request.outstanding, payment_request=request, service=service)
    return Charge(state=ChargeState.NOT_CHARGED, amount=request.amount, service=service)


def services_awaiting_request(patient: User) -> QuerySet[BillableService]:
    """The patient's delivered services whose payment request has not been sent yet."""
    return (
        BillableService.objects.filter(patient=patient)
        .exclude(proformas__status__in=[ProformaStatus.AWAITING_PAYMENT, ProformaStatus.PAID])
        .select_related("doctor__user")
        .order_by("-delivered_at")
    )
