"""Payment requests: opened, paid by bank transfer or by hand, settled.

A request is opened when the doctor validates proformas or someone buys storage space; it
carries an RF creditor reference, is e-mailed with its EPC QR code and reminded on the days of
``TELEMED_PAYMENT_REMINDER_DAYS``. Money counts towards it through ``apply_payment``, which
writes a balanced journal; once fully paid it is settled: the money goes to whom it belongs
(doctor, platform, charity), then the invoice is issued or the extra space given. A request
moves only through ``payment_transition``: open → paid or cancelled.
"""

import datetime
from collections.abc import Iterable
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from telemed.accounts.models import User
from telemed.billing import ledger, pricing, selectors, tasks, transfer
from telemed.billing.acting import BillingError, check_doctor, check_staff
from telemed.billing.invoices import invoice_issue
from telemed.billing.models import (
    IncomingTransfer,
    PaymentApplication,
    PaymentRequest,
    PaymentStatus,
    Proforma,
    ProformaStatus,
    StoragePlan,
    StoragePurchase,
)
from telemed.billing.notices import NOTIFY_PAYMENT_RECEIVED, NOTIFY_PAYMENT_REQUEST
from telemed.billing.proformas import proforma_transition
from telemed.billing.storage_purchases import storage_purchase_apply
from telemed.lib import formatting
from telemed.notifications.services import notify


def reminder_days() -> list[int]:
    try:
        days = sorted({int(day) for day in str(settings.BILLING_REMINDER_DAYS).split(",") if day.strip()})
    except ValueError:
        return []
    return [day for day in days if 0 < day <= 365]


def _payment_request_open(
    *, payer: User, amount: Decimal, description: str, doctor=None, proforma=None, storage_purchase=None
) -> PaymentRequest:
    request = PaymentRequest.objects.create(
        payer=payer, doctor=doctor, proforma=proforma, storage_purchase=storage_purchase, amount=amount,
        description=description[:200],
    )  # fmt: skip
    request.reference = transfer.creditor_reference(request.pk)
    request.save(update_fields=["reference"])
    tasks.send_payment_request.enqueue(payment_request_id=request.pk)
    for day in reminder_days():
        tasks.send_payment_reminder.using(run_after=request.created_at + datetime.timedelta(days=day)).enqueue(
            payment_request_id=request.pk
        )
    with translation.override(payer.language):
        notify(
            recipient=payer,
            kind=NOTIFY_PAYMENT_REQUEST,
            title=_("Payment request: %(amount)s — %(what)s")
            % {"amount": formatting.money(amount), "what": description},
            url=reverse("billing:payment", args=[request.pk]),
        )
    return request


PAYMENT_MOVES: dict[str, set[str]] = {PaymentStatus.OPEN: {PaymentStatus.PAID, PaymentStatus.CANCELLED}}


def payment_transition(request: PaymentRequest, to: str) -> PaymentRequest:
    if to not in PAYMENT_MOVES.get(request.status, set()):
        raise BillingError(
            _("Payment %(reference)s is %(status)s: it cannot become %(to)s.")
            % {
                "reference": request.reference,
                "status": request.get_status_display().lower(),
                "to": PaymentStatus(to).label.lower(),
            }
        )
    request.status = to
    if to == PaymentStatus.PAID:
        request.paid_at = timezone.now()
    request.save(update_fields=["status", "paid_at"])
    return request


def locked_request(request: PaymentRequest) -> PaymentRequest:
    return (
        PaymentRequest.objects.select_for_update(of=("self",))
        .select_related("payer", "doctor__user", "proforma__service")
        .get(pk=request.pk)
    )


@transaction.atomic
def proformas_validate(*, actor: User, include: Iterable[int], exclude: Iterable[int] = ()) -> list[PaymentRequest]:
    """The doctor validates the reviewed drafts: each included one becomes a payment request sent to
    its patient; each excluded one is set aside (its service can be billed another time).
    All or nothing: if one of them is not a draft of this doctor any more, nothing changes."""
    doctor = check_doctor(actor)
    included, excluded = set(include), set(exclude)
    if included & excluded:
        raise BillingError(_("A proforma cannot be both validated and excluded."))
    if not included and not excluded:
        raise BillingError(_("Choose at least one proforma."))
    proformas = {
        proforma.pk: proforma
        for proforma in Proforma.objects.select_for_update(of=("self",))
        .filter(pk__in=included | excluded, doctor=doctor)
        .select_related("service", "patient")
    }
    if set(proformas) != included | excluded:
        raise BillingError(_("Some of these proformas do not exist: nothing was changed."))
    requests = []
    for pk in sorted(excluded):
        proforma_transition(proformas[pk], ProformaStatus.EXCLUDED)
    for pk in sorted(included):
        proforma = proforma_transition(proformas[pk], ProformaStatus.AWAITING_PAYMENT)
        # The description is the patient's to read: in their language, with the doctor's title in it.
        with translation.override(proforma.patient.language):
            description = _("%(service)s — %(doctor)s") % {
                "service": proforma.service.source_label,
                "doctor": doctor.display_name,
            }
        requests.append(
            _payment_request_open(
                payer=proforma.patient,
                doctor=doctor,
                proforma=proforma,
                amount=proforma.amount,
                description=description,
            )
        )
    return requests


@transaction.atomic
def storage_purchase_start(*, actor: User, plan: StoragePlan) -> PaymentRequest:
    """A doctor or patient buys extra space: a payment request like any other; the space comes when it is paid."""
    if not (actor.is_active and (actor.is_doctor or actor.is_patient)):
        raise PermissionDenied
    on_sale = selectors.storage_plans_for(actor).filter(pk=plan.pk).first()
    if on_sale is None:
        raise BillingError(_("This storage plan is not on sale for your box."))
    plan = on_sale
    purchase = StoragePurchase.objects.create(buyer=actor, plan=plan, extra_bytes=plan.extra_bytes, price=plan.price)
    return _payment_request_open(
        payer=actor,
        storage_purchase=purchase,
        amount=plan.price,
        description=_("Extra space: %(plan)s (+%(gb)d GB)") % {"plan": plan.name, "gb": plan.extra_gigabytes},
    )


@transaction.atomic
def payment_request_details_set(
    *, actor: User, payment_request: PaymentRequest, sts_opposition: bool, payer_address: str
) -> PaymentRequest:
    """The payer's choices for the invoice: opposition to the Sistema TS, and their address. Until it is issued."""
    request = locked_request(payment_request)
    if request.payer_id != actor.pk:
        raise PermissionDenied
    if not request.is_open:
        raise BillingError(_("The invoice is already issued: these details can no longer change."))
    request.sts_opposition = bool(sts_opposition)
    request.payer_address = " ".join(str(payer_address or "").split())[:200]
    request.save(update_fields=["sts_opposition", "payer_address"])
    return request


@transaction.atomic
def payment_request_cancel(*, actor: User, payment_request: PaymentRequest) -> PaymentRequest:
    """The doctor withdraws a request nothing was paid for; the service can be billed again."""
    doctor = check_doctor(actor)
    request = locked_request(payment_request)
    if request.doctor_id != doctor.pk or request.proforma is None:
        raise PermissionDenied
    if request.received > 0:
        raise BillingError(_("Part of this request is already paid: it cannot be withdrawn."))
    payment_transition(request, PaymentStatus.CANCELLED)
    proforma_transition(request.proforma, ProformaStatus.CANCELLED)
    return request


def apply_payment(
    request: PaymentRequest,
    amount: Decimal,
    *,
    transfer_row: IncomingTransfer | None,
    actor: User | None,
    reason: str = "",
) -> None:
    """Count ``amount`` towards a locked, open request; settle it when fully paid."""
    if amount <= 0 or amount > request.outstanding:
        raise BillingError(
            _("The amount must be between %(minimum)s and the %(outstanding)s still due.")
            % {"minimum": formatting.money(Decimal("0.01")), "outstanding": formatting.money(request.outstanding)}
        )
    PaymentApplication.objects.create(
        payment_request=request, transfer=transfer_row, amount=amount, reason=reason[:300], recorded_by=actor
    )
    source = ledger.Account.UNAPPLIED if transfer_row is not None else ledger.Account.PAYERS
    ledger.Journal("payment_applied" if transfer_row else "payment_manual", actor=actor,
                   links={"payment_request": request, "transfer": transfer_row}).move(
        source, ledger.Account.TOWARD_REQUESTS, amount
    ).post()  # fmt: skip
    request.received += amount
    request.save(update_fields=["received"])
    if transfer_row is not None:
        transfer_row.applied += amount
        transfer_row.payment_request = request
        transfer_row.save(update_fields=["applied", "payment_request", "status"])
    if request.received == request.amount:
        _settle(request, actor=actor)


def _split_of(request: PaymentRequest) -> pricing.Split:
    if request.proforma is not None:
        return pricing.Breakdown.from_dict(request.proforma.service.breakdown).split()
    return pricing.platform_only_split(request.amount)


def _settle(request: PaymentRequest, *, actor: User | None) -> None:
    """Fully paid: the money goes to whom it belongs, then the invoice (or the extra space)."""
    payment_transition(request, PaymentStatus.PAID)
    split = _split_of(request)
    ledger.Journal("request_settled", actor=actor, links={"payment_request": request}).allocate(
        ledger.Account.TOWARD_REQUESTS, split, doctor=request.doctor
    ).post()
    if request.proforma is not None:
        proforma_transition(request.proforma, ProformaStatus.PAID)
        invoice_issue(request)
    elif request.storage_purchase is not None:
        storage_purchase_apply(request.storage_purchase)
    with translation.override(request.payer.language):
        notify(
            recipient=request.payer,
            kind=NOTIFY_PAYMENT_RECEIVED,
            title=_("Payment received: %(amount)s — %(what)s")
            % {"amount": formatting.money(request.amount), "what": request.description},
            url=reverse("billing:payment", args=[request.pk]),
        )


@transaction.atomic
def payment_mark_paid(*, actor: User, payment_request: PaymentRequest, reason: str) -> PaymentRequest:
    """Staff record by hand a payment that no statement shows (e.g. paid at the counter), with the reason."""
    check_staff(actor)
    reason = " ".join(str(reason or "").split())
    if len(reason) < 5:
        raise BillingError({"reason": _("Say why the payment is marked by hand (at least 5 characters).")})
    request = locked_request(payment_request)
    if not request.is_open:
        raise BillingError(
            _("This request is not awaiting payment (it is %(status)s).")
            % {"status": request.get_status_display().lower()}
        )
    apply_payment(request, request.outstanding, transfer_row=None, actor=actor, reason=reason)
    return request
