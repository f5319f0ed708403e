"""Payment requests through the API: what the person has to pay (or paid) by bank transfer, and
one request with what a banking app needs to pay it, as the payment page shows it: the
platform's account, the structured creditor reference (RF…), the EPC QR code's data URI and,
for a service, every cost line. The same selectors as the payments pages."""

import datetime

from django.http import HttpRequest
from ninja import Router, Schema

from telemed.api.auth import access, scoped
from telemed.api.costs import Cost, cost_of
from telemed.api.errors import ERRORS
from telemed.api.paging import PageInfo, page_of
from telemed.api.params import object_id
from telemed.billing import pricing, selectors, transfer
from telemed.billing.models import PaymentRequest, PaymentStatus

router = Router(tags=["payments"])

PAGE_SIZE = 30


class PaymentOut(Schema):
    id: int
    description: str
    status: str
    status_label: str
    # Amounts are str(Decimal), euros with two places.
    amount: str
    received: str
    outstanding: str
    created_at: datetime.datetime
    paid_at: datetime.datetime | None


class PaymentPage(PageInfo):
    items: list[PaymentOut]


class BankTransfer(Schema):
    beneficiary: str
    iban: str
    bic: str
    # The creditor reference to write in the transfer, grouped as it is printed.
    reference: str
    # The EPC QR code a banking app scans (a PNG data URI).
    qr: str


class PaymentDetail(PaymentOut):
    # While it is open and the platform's account is set.
    transfer: BankTransfer | None
    # What a service costs, line by line (none for extra storage).
    cost: Cost | None


def _payment(payment: PaymentRequest) -> dict:
    return {
        "id": payment.pk,
        "description": payment.description,
        "status": payment.status,
        "status_label": str(PaymentStatus(payment.status).label),
        "amount": str(payment.amount),
        "received": str(payment.received),
        "outstanding": str(payment.outstanding),
        "created_at": payment.created_at,
        "paid_at": payment.paid_at,
    }


@router.get(
    "/payments",
    response={200: PaymentPage, **ERRORS},
    auth=access("payments:read"),
    openapi_extra=scoped("payments:read"),
    summary="List payment requests",
)
def payments_list(request: HttpRequest, page: str = "", status: str = ""):
    """The person's payment requests, newest first; ``status`` (open, paid, cancelled) filters."""
    payments = selectors.payment_requests_of_payer(request.user)
    if status in PaymentStatus.values:
        payments = payments.filter(status=status)
    info, items = page_of(payments, page, PAGE_SIZE)
    return {**info.dict(), "items": [_payment(payment) for payment in items]}


@router.get(
    "/payments/{payment_id}",
    response={200: PaymentDetail, **ERRORS},
    auth=access("payments:read"),
    openapi_extra=scoped("payments:read"),
    summary="Read a payment request and how to pay it",
)
def payment_detail(request: HttpRequest, payment_id: int = object_id()):
    payment = selectors.payment_request_for_payer(request.user, payment_id)
    try:
        account = transfer.platform_account()
    except transfer.AccountMisconfigured:
        account = None
    bank = None
    if payment.is_open and account is not None:
        bank = {
            "beneficiary": account.beneficiary,
            "iban": account.iban_formatted,
            "bic": account.bic,
            "reference": transfer.format_reference(payment.reference),
            "qr": transfer.epc_qr_data_uri(account=account, amount=payment.outstanding, reference=payment.reference),
        }
    cost = None
    if payment.proforma_id is not None:
        cost = cost_of(pricing.Breakdown.from_dict(payment.proforma.service.breakdown))
    return {**_payment(payment), "transfer": bank, "cost": cost}
