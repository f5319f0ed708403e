"""Every use case of billing that changes state. One transaction each; the actor is checked here.

Versioned rows (tariffs, platform fees, VAT and bank-fee settings) are never edited:
a change closes the current row at ``now`` and adds a new one from ``now``.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import BinaryIO

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from sepaxml.validation import ValidationError as SepaValidationError

from telemed.accounts.models import DoctorProfile, Structure, User
from telemed.billing import camt, ledger, pricing, selectors, sepa, tasks, transfer, validation
from telemed.billing.models import (
    BankFeeSetting,
    BankStatement,
    BatchCounter,
    BillableService,
    Charity,
    DoctorBillingSettings,
    IncomingTransfer,
    Invoice,
    InvoiceCounter,
    InvoiceKind,
    LedgerEntry,
    PaymentApplication,
    PaymentRequest,
    PaymentStatus,
    PayoutBatch,
    PayoutLine,
    PlatformFee,
    Proforma,
    ProformaStatus,
    QueueReason,
    Refund,
    ServiceKind,
    StampDutyMode,
    StoragePlan,
    StoragePurchase,
    Tariff,
    TransferStatus,
    VatSetting,
)
from telemed.boxes import services as boxes
from telemed.lib import formatting, identifiers
from telemed.notifications.services import notify

# The kinds of notification billing sends (registered in BillingConfig.ready).
NOTIFY_PAYMENT_REQUEST = "billing_payment_request"
NOTIFY_PAYMENT_REMINDER = "billing_payment_reminder"
NOTIFY_PAYMENT_RECEIVED = "billing_payment_received"
NOTIFY_INVOICE = "billing_invoice"
NOTIFY_PAYOUT = "billing_payout"


def _doctor_lock(doctor: DoctorProfile) -> DoctorBillingSettings:
    """Billing's own row of the doctor, locked: tariff changes of one doctor happen one at a time."""
    DoctorBillingSettings.objects.get_or_create(doctor=doctor)
    return DoctorBillingSettings.objects.select_for_update().get(doctor=doctor)


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
    response_value, response_unit = validation.clean_response(kind, response_value, response_unit, offered=bool(offered))

    _doctor_lock(doctor)
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
    if current is not None and current.set_by_id == actor.pk and all(
        getattr(current, name) == value for name, value in values.items()
    ):
        return current
    now = timezone.now()
    if current is not None:
        current.valid_to = now
        current.save(update_fields=["valid_to"])
    return Tariff.objects.create(
        doctor=doctor, kind=kind, duration_minutes=duration, set_by=actor, valid_from=now, **values
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
    settings = _doctor_lock(actor.doctor_profile)
    settings.donation_percent = percent
    settings.charity = charity
    settings.donation_chosen_at = timezone.now()
    settings.save(update_fields=["donation_percent", "charity", "donation_chosen_at", "updated_at"])
    return settings


# --- fee rules set by platform staff -----------------------------------------------------------


def _check_staff(actor: User) -> None:
    if not (actor.is_active and actor.is_staff):
        raise PermissionDenied


def _replace_current(model, current, **values):
    now = timezone.now()
    if current is not None:
        current.valid_to = now
        current.save(update_fields=["valid_to"])
    return model.objects.create(valid_from=now, **values)


@transaction.atomic
def platform_fee_set(*, actor: User, kind: str, fee: Decimal) -> PlatformFee:
    """Staff set the platform's fixed fee for a kind of service, from now on."""
    _check_staff(actor)
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
    _check_staff(actor)
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
    _check_staff(actor)
    fixed = validation.clean_amount(fixed, field="fixed", maximum=validation.MAX_BANK_FEE)
    percent = validation.clean_percent(percent, field="percent")
    current = BankFeeSetting.objects.select_for_update().filter(valid_to__isnull=True).order_by("-valid_from").first()
    if current is not None and (current.fixed, current.percent) == (fixed, percent):
        return current
    return _replace_current(BankFeeSetting, current, fixed=fixed, percent=percent, set_by=actor)


# =================================================================================================
# From a delivered service to the money: registration, "emetti fattura", payments, invoices,
# payouts, storage purchases. Every move of money writes a balanced journal (``ledger.py``).
# =================================================================================================


class BillingError(ValidationError):
    """A refusal with a message for the person acting; nothing was changed."""


def _check_doctor(actor: User) -> DoctorProfile:
    doctor = getattr(actor, "doctor_profile", None) if actor.is_active and actor.is_doctor else None
    if doctor is None:
        raise PermissionDenied
    return doctor


def _aware(value: datetime.datetime, name: str) -> datetime.datetime:
    if not isinstance(value, datetime.datetime) or timezone.is_naive(value):
        raise ValueError(f"{name} must be an aware datetime")
    return value


# --- billable services: what consults and visits register when they deliver a paid service -------


@transaction.atomic
def billable_service_register(
    *,
    doctor: DoctorProfile,
    patient: User,
    kind: str,
    duration_minutes: int | None,
    breakdown: pricing.Breakdown,
    accepted_at: datetime.datetime,
    source_label: str,
    source_url: str = "",
    source_key: str | None = None,
    delivered_at: datetime.datetime | None = None,
) -> BillableService | None:
    """A paid service was delivered: keep the breakdown the patient accepted (amounts and time);
    it waits in the doctor's "services to bill" until their next "Emetti fattura".

    Called by the app that delivered the service (consults, visits), which has already
    checked who did what. ``source_key`` (e.g. ``"consult:42"``) makes a repeated call
    return the service already registered instead of a second one. A free service (an Info
    request, a fee of 0) has nothing to bill: None, and nothing is stored.
    """
    if source_key:
        existing = BillableService.objects.filter(source_key=source_key).first()
        if existing is not None:
            return existing
    if not isinstance(doctor, DoctorProfile) or not patient.is_patient:
        raise ValueError("a billable service is delivered by a doctor to a patient")
    _aware(accepted_at, "accepted_at")
    delivered_at = _aware(delivered_at, "delivered_at") if delivered_at is not None else timezone.now()
    if accepted_at > delivered_at:
        raise ValueError("the patient accepted the price after the delivery")
    if breakdown.kind != kind or breakdown.duration_minutes != duration_minutes:
        raise ValueError("the breakdown is not the price of this service")
    if breakdown.is_free or breakdown.patient_total <= 0:
        return None  # nothing to bill: callers deliver free services through the same path
    breakdown.split()  # refuses a breakdown whose lines do not add up to its total
    return BillableService.objects.create(
        doctor=doctor,
        patient=patient,
        kind=kind,
        duration_minutes=duration_minutes,
        breakdown=breakdown.to_dict(),
        patient_total=breakdown.patient_total,
        accepted_at=accepted_at,
        delivered_at=delivered_at,
        source_label=source_label[:200],
        source_url=source_url[:500],
        source_key=source_key or None,
    )


# --- proformas (avvisi di parcella) and their one transition function ----------------------------

PROFORMA_MOVES = {
    ProformaStatus.DRAFT: {ProformaStatus.EXCLUDED, ProformaStatus.AWAITING_PAYMENT},
    ProformaStatus.AWAITING_PAYMENT: {ProformaStatus.PAID, ProformaStatus.CANCELLED},
}


def proforma_transition(proforma: Proforma, to: str) -> Proforma:
    """The only place a proforma changes state; an illegal move is refused with a clear message."""
    if to not in PROFORMA_MOVES.get(proforma.status, set()):
        raise BillingError(
            _("Proforma %(number)s is %(status)s: it cannot become %(to)s.")
            % {"number": proforma.display_number, "status": proforma.get_status_display().lower(), "to": ProformaStatus(to).label.lower()}
        )
    proforma.status = to
    proforma.save(update_fields=["status", "changed_at"])
    return proforma


@transaction.atomic
def proformas_draft(*, actor: User, service_ids: list[int] | None = None) -> list[Proforma]:
    """"Emetti fattura": a draft proforma for each delivered service not billed yet (or for the
    services named), for the doctor to review. A named service that is already billed is refused."""
    doctor = _check_doctor(actor)
    services = selectors.services_to_bill(doctor)
    if service_ids is not None:
        wanted = set(service_ids)
        services = services.filter(pk__in=wanted)
        found = set(services.values_list("pk", flat=True))
        if found != wanted:
            raise BillingError(_("Some of these services are already billed (or are not yours): nothing was drafted."))
    drafted = []
    for service in services.select_related("patient"):
        try:
            with transaction.atomic():
                drafted.append(
                    Proforma.objects.create(
                        service=service, doctor=doctor, patient=service.patient, amount=service.patient_total
                    )
                )
        except IntegrityError:
            # Drafted meanwhile by a concurrent "Emetti fattura": the constraint kept it single.
            if service_ids is not None:
                raise BillingError(_("This service is already billed.")) from None
    return drafted


@transaction.atomic
def proformas_validate(*, actor: User, include: list[int], exclude: list[int] = ()) -> list[PaymentRequest]:
    """The doctor validates the reviewed drafts: each included one becomes a payment request sent to
    its patient; each excluded one is set aside (its service can be billed another time).
    All or nothing: if one of them is not a draft of this doctor any more, nothing changes."""
    doctor = _check_doctor(actor)
    include, exclude = set(include), set(exclude)
    if include & exclude:
        raise BillingError(_("A proforma cannot be both validated and excluded."))
    if not include and not exclude:
        raise BillingError(_("Choose at least one proforma."))
    proformas = {
        proforma.pk: proforma
        for proforma in Proforma.objects.select_for_update(of=("self",))
        .filter(pk__in=include | exclude, doctor=doctor)
        .select_related("service", "patient")
    }
    if set(proformas) != include | exclude:
        raise BillingError(_("Some of these proformas do not exist: nothing was changed."))
    requests = []
    for pk in sorted(exclude):
        proforma_transition(proformas[pk], ProformaStatus.EXCLUDED)
    for pk in sorted(include):
        proforma = proforma_transition(proformas[pk], ProformaStatus.AWAITING_PAYMENT)
        # The description is the patient's to read: in their language, with the doctor's title in it.
        with translation.override(proforma.patient.language):
            description = _("%(service)s — %(doctor)s") % {
                "service": proforma.service.source_label, "doctor": doctor.display_name
            }
        requests.append(_payment_request_open(
            payer=proforma.patient, doctor=doctor, proforma=proforma, amount=proforma.amount, description=description,
        ))
    return requests


# --- payment requests ----------------------------------------------------------------------------


def reminder_days() -> list[int]:
    try:
        days = sorted({int(day) for day in str(settings.BILLING_REMINDER_DAYS).split(",") if day.strip()})
    except ValueError:
        return []
    return [day for day in days if 0 < day <= 365]


def _payment_request_open(*, payer: User, amount: Decimal, description: str, doctor=None, proforma=None, storage_purchase=None) -> PaymentRequest:
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
            title=_("Payment request: %(amount)s — %(what)s") % {"amount": formatting.money(amount), "what": description},
            url=reverse("billing:payment", args=[request.pk]),
        )
    return request


PAYMENT_MOVES = {PaymentStatus.OPEN: {PaymentStatus.PAID, PaymentStatus.CANCELLED}}


def payment_transition(request: PaymentRequest, to: str) -> PaymentRequest:
    if to not in PAYMENT_MOVES.get(request.status, set()):
        raise BillingError(
            _("Payment %(reference)s is %(status)s: it cannot become %(to)s.")
            % {"reference": request.reference, "status": request.get_status_display().lower(), "to": PaymentStatus(to).label.lower()}
        )
    request.status = to
    if to == PaymentStatus.PAID:
        request.paid_at = timezone.now()
    request.save(update_fields=["status", "paid_at"])
    return request


def _locked_request(request: PaymentRequest) -> PaymentRequest:
    return PaymentRequest.objects.select_for_update(of=("self",)).select_related("payer", "doctor__user", "proforma__service").get(pk=request.pk)


@transaction.atomic
def payment_request_details_set(*, actor: User, payment_request: PaymentRequest, sts_opposition: bool, payer_address: str) -> PaymentRequest:
    """The payer's choices for the invoice: opposition to the Sistema TS, and their address. Until it is issued."""
    request = _locked_request(payment_request)
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
    doctor = _check_doctor(actor)
    request = _locked_request(payment_request)
    if request.doctor_id != doctor.pk or request.proforma_id is None:
        raise PermissionDenied
    if request.received > 0:
        raise BillingError(_("Part of this request is already paid: it cannot be withdrawn."))
    payment_transition(request, PaymentStatus.CANCELLED)
    proforma_transition(request.proforma, ProformaStatus.CANCELLED)
    return request


def _apply(request: PaymentRequest, amount: Decimal, *, transfer_row: IncomingTransfer | None, actor: User | None, reason: str = "") -> None:
    """Count ``amount`` towards a locked, open request; settle it when fully paid."""
    if amount <= 0 or amount > request.outstanding:
        raise BillingError(_("The amount must be between %(minimum)s and the %(outstanding)s still due.") % {
            "minimum": formatting.money(Decimal("0.01")), "outstanding": formatting.money(request.outstanding)
        })
    PaymentApplication.objects.create(payment_request=request, transfer=transfer_row, amount=amount, reason=reason[:300], recorded_by=actor)
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
    if request.proforma_id is not None:
        return pricing.Breakdown.from_dict(request.proforma.service.breakdown).split()
    return pricing.platform_only_split(request.amount)


def _settle(request: PaymentRequest, *, actor: User | None) -> None:
    """Fully paid: the money goes to whom it belongs, then the invoice (or the extra space)."""
    payment_transition(request, PaymentStatus.PAID)
    split = _split_of(request)
    ledger.Journal("request_settled", actor=actor, links={"payment_request": request}).allocate(
        ledger.Account.TOWARD_REQUESTS, split, doctor=request.doctor
    ).post()
    if request.proforma_id is not None:
        proforma_transition(request.proforma, ProformaStatus.PAID)
        _invoice_issue(request)
    else:
        _storage_purchase_apply(request.storage_purchase)
    with translation.override(request.payer.language):
        notify(
            recipient=request.payer,
            kind=NOTIFY_PAYMENT_RECEIVED,
            title=_("Payment received: %(amount)s — %(what)s") % {"amount": formatting.money(request.amount), "what": request.description},
            url=reverse("billing:payment", args=[request.pk]),
        )


@transaction.atomic
def payment_mark_paid(*, actor: User, payment_request: PaymentRequest, reason: str) -> PaymentRequest:
    """Staff record by hand a payment that no statement shows (e.g. paid at the counter), with the reason."""
    _check_staff(actor)
    reason = " ".join(str(reason or "").split())
    if len(reason) < 5:
        raise BillingError({"reason": _("Say why the payment is marked by hand (at least 5 characters).")})
    request = _locked_request(payment_request)
    if not request.is_open:
        raise BillingError(_("This request is not awaiting payment (it is %(status)s).") % {"status": request.get_status_display().lower()})
    _apply(request, request.outstanding, transfer_row=None, actor=actor, reason=reason)
    return request


def _platform_account() -> transfer.PlatformAccount:
    try:
        return transfer.platform_account()
    except transfer.AccountMisconfigured:
        raise BillingError(_("The platform's bank account is not configured (TELEMED_BANK_IBAN).")) from None


# --- reconciliation: camt.053 statements and the queue of transfers to check -------------------


@dataclass(frozen=True)
class ImportResult:
    statement: BankStatement | None
    already_imported: bool
    matched: int = 0
    queued: int = 0
    known: int = 0


@transaction.atomic
def statement_import(*, actor: User, stream: BinaryIO, file_name: str) -> ImportResult:
    """Import the platform account's camt.053 statement: each new credit is matched by its RF
    reference and amount; exact matches settle their request, anything else waits for staff.
    The same file (or the same entries in another file) imported again changes nothing."""
    _check_staff(actor)
    try:
        parsed = camt.parse(stream)
    except camt.StatementError as error:
        raise BillingError(str(error)) from None
    account = _platform_account()
    if parsed.account_iban != account.iban:
        raise BillingError(
            _("This statement is of account %(theirs)s, not of the platform's account %(ours)s: nothing was imported.")
            % {"theirs": parsed.account_iban, "ours": account.iban}
        )
    existing = BankStatement.objects.filter(sha256=parsed.sha256).first()
    if existing is not None:
        return ImportResult(statement=existing, already_imported=True)
    statement = BankStatement.objects.create(
        account_iban=parsed.account_iban, statement_id=parsed.statement_id[:35], file_name=file_name[:255],
        sha256=parsed.sha256, entries=parsed.entries, imported_by=actor,
    )  # fmt: skip
    known_keys = set(IncomingTransfer.objects.filter(entry_key__in=[c.entry_key for c in parsed.credits]).values_list("entry_key", flat=True))
    matched = queued = 0
    for credit in parsed.credits:
        if credit.entry_key in known_keys:
            continue
        known_keys.add(credit.entry_key)
        if _transfer_record(statement, credit, actor=actor).status == TransferStatus.MATCHED:
            matched += 1
        else:
            queued += 1
    statement.new_transfers = matched + queued
    statement.save(update_fields=["new_transfers"])
    return ImportResult(statement=statement, already_imported=False, matched=matched, queued=queued, known=len(parsed.credits) - matched - queued)


def _transfer_record(statement: BankStatement, credit: camt.Credit, *, actor: User) -> IncomingTransfer:
    references = [ref for ref in [credit.structured_reference] if transfer.is_valid_reference(ref)]
    references += transfer.references_in(credit.remittance)
    requests = list(
        PaymentRequest.objects.select_for_update(of=("self",))
        .select_related("payer", "doctor__user", "proforma__service")
        .filter(reference__in=references)
    )
    request = requests[0] if len(requests) == 1 else None
    row = IncomingTransfer.objects.create(
        statement=statement, entry_key=credit.entry_key, amount=credit.amount, currency=credit.currency or "EUR",
        booked_on=credit.booked_on, debtor_name=credit.debtor_name, debtor_iban=credit.debtor_iban,
        remittance=credit.remittance, reference=request.reference if request else (references[0] if references else ""),
        status=TransferStatus.QUEUED, payment_request=request,
    )  # fmt: skip
    ledger.Journal("transfer_received", actor=actor, links={"transfer": row}).move(
        ledger.Account.PAYERS, ledger.Account.UNAPPLIED, credit.amount
    ).post()
    if credit.currency != "EUR":
        reason = QueueReason.CURRENCY
    elif request is None:
        reason = QueueReason.UNKNOWN
    elif request.status == PaymentStatus.PAID:
        reason = QueueReason.DUPLICATE
    elif request.status == PaymentStatus.CANCELLED:
        reason = QueueReason.CANCELLED
    elif credit.amount < request.outstanding:
        reason = QueueReason.PARTIAL
    elif credit.amount > request.outstanding:
        reason = QueueReason.EXCESS
    else:
        # Locked above (FOR UPDATE): the match and the settlement see the request as it is now.
        row.status = TransferStatus.MATCHED
        _apply(request, credit.amount, transfer_row=row, actor=None)
        return row
    row.queue_reason = reason
    row.save(update_fields=["queue_reason"])
    return row


def _locked_transfer(row: IncomingTransfer) -> IncomingTransfer:
    row = IncomingTransfer.objects.select_for_update().get(pk=row.pk)
    if row.status != TransferStatus.QUEUED:
        raise BillingError(_("This transfer is no longer waiting to be checked."))
    return row


def _resolve_if_done(row: IncomingTransfer, actor: User, note: str) -> None:
    if row.remaining == 0:
        row.status = TransferStatus.RESOLVED
        row.resolved_by, row.resolved_at = actor, timezone.now()
    row.resolution_note = note[:300]
    row.save(update_fields=["status", "resolved_by", "resolved_at", "resolution_note"])


def _clean_note(note: str) -> str:
    note = " ".join(str(note or "").split())
    if len(note) < 5:
        raise BillingError({"note": _("Write a short note on what you did and why (at least 5 characters).")})
    return note


@transaction.atomic
def transfer_apply(*, actor: User, transfer_row: IncomingTransfer, payment_request: PaymentRequest, note: str) -> IncomingTransfer:
    """Staff count a queued transfer (all of it, or what the request still needs) towards a request."""
    _check_staff(actor)
    note = _clean_note(note)
    row = _locked_transfer(transfer_row)
    if row.currency != "EUR":
        raise BillingError(_("A transfer in another currency cannot pay a request: refund it."))
    request = _locked_request(payment_request)
    if not request.is_open:
        raise BillingError(_("This request is not awaiting payment (it is %(status)s).") % {"status": request.get_status_display().lower()})
    _apply(request, min(row.remaining, request.outstanding), transfer_row=row, actor=actor, reason=note)
    _resolve_if_done(row, actor, note)
    return row


@transaction.atomic
def transfer_refund(*, actor: User, transfer_row: IncomingTransfer, note: str) -> IncomingTransfer:
    """Staff record that what is left of a queued transfer was sent back to whoever paid it."""
    _check_staff(actor)
    note = _clean_note(note)
    row = _locked_transfer(transfer_row)
    amount = row.remaining
    ledger.Journal("transfer_refunded", actor=actor, links={"transfer": row}).move(
        ledger.Account.UNAPPLIED, ledger.Account.PAYERS, amount
    ).post()
    row.refunded += amount
    _resolve_if_done(row, actor, note)
    row.save(update_fields=["refunded"])
    return row


@transaction.atomic
def refund_mark_done(*, actor: User, refund: Refund, note: str) -> Refund:
    """Staff record that the refund a credit note owes the patient was sent."""
    _check_staff(actor)
    note = _clean_note(note)
    refund = Refund.objects.select_for_update().get(pk=refund.pk)
    if refund.done_at is not None:
        raise BillingError(_("This refund is already recorded as made."))
    ledger.Journal("refund_paid", actor=actor, links={"invoice": refund.credit_note}).move(
        ledger.Account.REFUNDS_DUE, ledger.Account.PAYERS, refund.amount
    ).post()
    refund.done_at, refund.done_by, refund.note = timezone.now(), actor, note[:300]
    refund.save(update_fields=["done_at", "done_by", "note"])
    return refund


# --- invoices and credit notes ----------------------------------------------------------------------

# Legal wording that Italian law wants on the document, in Italian whatever the reader's language.
VAT_EXEMPTION_WORDING = "Operazione esente IVA ai sensi dell'art. 10, comma 1, n. 18, D.P.R. 633/1972"
STAMP_DUTY_WORDING = {
    StampDutyMode.VIRTUAL: "Imposta di bollo di euro 2,00 assolta in modo virtuale ai sensi dell'art. 6 del D.M. 17 giugno 2014",
    StampDutyMode.ORIGINAL: "Imposta di bollo di euro 2,00 assolta sull'originale",
}


def _next_number(doctor: DoctorProfile, kind: str, year: int) -> int:
    """The next number of the doctor's series for the year: the counter row is locked until the
    issuing transaction ends, so two invoices issued at the same moment queue here, and a
    rolled-back issue gives its number back (no gaps, no duplicates)."""
    InvoiceCounter.objects.bulk_create([InvoiceCounter(doctor=doctor, kind=kind, year=year)], ignore_conflicts=True)
    counter = InvoiceCounter.objects.select_for_update().get(doctor=doctor, kind=kind, year=year)
    counter.last_number += 1
    counter.save(update_fields=["last_number"])
    return counter.last_number


def _seller(doctor: DoctorProfile) -> dict:
    return {
        "name": doctor.user.get_full_name(),
        "title": doctor.get_title_display(),  # an Italian fiscal document: "Dott." or "Dott.ssa"
        "codice_fiscale": doctor.codice_fiscale,
        "partita_iva": doctor.partita_iva,
        "address": doctor.practice_address,
        "postcode": doctor.practice_postcode,
        "city": doctor.practice_city,
        "province": doctor.practice_province,
        "ordine": f"{doctor.ordine_province} {doctor.ordine_number}",
    }


def _buyer(patient: User, address: str) -> dict:
    profile = getattr(patient, "patient_profile", None)
    return {
        "name": patient.get_full_name(),
        "codice_fiscale": profile.codice_fiscale if profile else "",
        "address": address,
        "email": patient.email,
    }


def _stamp_duty_note(doctor: DoctorProfile, breakdown: pricing.Breakdown) -> str:
    if not breakdown.has_stamp_duty:
        return ""
    settings_row = selectors.billing_settings_of(doctor)
    mode = settings_row.stamp_duty_mode if settings_row else StampDutyMode.VIRTUAL
    return STAMP_DUTY_WORDING[StampDutyMode(mode)]


def _invoice_issue(request: PaymentRequest) -> Invoice:
    doctor, patient = request.doctor, request.payer
    now = timezone.now()
    year = timezone.localtime(now).year
    breakdown = pricing.Breakdown.from_dict(request.proforma.service.breakdown)
    invoice = Invoice.objects.create(
        kind=InvoiceKind.INVOICE, doctor=doctor, patient=patient, payment_request=request, year=year,
        number=_next_number(doctor, InvoiceKind.INVOICE, year), issued_at=now, paid_at=request.paid_at,
        seller=_seller(doctor), buyer=_buyer(patient, request.payer_address),
        description=request.proforma.service.source_label, breakdown=breakdown.to_dict(), total=breakdown.patient_total,
        sts_opposition=request.sts_opposition, stamp_duty_note=_stamp_duty_note(doctor, breakdown),
    )  # fmt: skip
    tasks.deliver_invoice.enqueue(invoice_id=invoice.pk)
    return invoice


@transaction.atomic
def credit_note_issue(*, actor: User, invoice: Invoice, reason: str) -> Invoice:
    """The doctor corrects an invoice: a credit note for its whole amount, which references it;
    the patient is owed a refund and the money goes back from everyone's share."""
    doctor = _check_doctor(actor)
    reason = " ".join(str(reason or "").split())
    if len(reason) < 5:
        raise BillingError({"reason": _("Say why the invoice is corrected (at least 5 characters).")})
    original = Invoice.objects.select_for_update().filter(pk=invoice.pk, doctor=doctor).first()
    if original is None:
        raise PermissionDenied
    if original.is_credit_note:
        raise BillingError(_("A credit note cannot itself be corrected."))
    if Invoice.objects.filter(credits=original).exists():
        raise BillingError(_("Invoice %(number)s already has a credit note.") % {"number": original.display_number})
    now = timezone.now()
    year = timezone.localtime(now).year
    note = Invoice.objects.create(
        kind=InvoiceKind.CREDIT_NOTE, doctor=doctor, patient=original.patient, credits=original, year=year,
        number=_next_number(doctor, InvoiceKind.CREDIT_NOTE, year), issued_at=now, paid_at=None,
        seller=_seller(doctor), buyer=original.buyer, description=original.description, breakdown=original.breakdown,
        total=original.total, sts_opposition=original.sts_opposition, stamp_duty_note=original.stamp_duty_note, reason=reason[:300],
    )  # fmt: skip
    split = pricing.Breakdown.from_dict(original.breakdown).split()
    ledger.Journal("credit_note", actor=actor, links={"invoice": note, "payment_request": original.payment_request}).reverse_allocation(
        ledger.Account.REFUNDS_DUE, split, doctor=doctor
    ).post()
    Refund.objects.create(credit_note=note, patient=original.patient, amount=original.total)
    tasks.deliver_invoice.enqueue(invoice_id=note.pk)
    return note


def invoice_pdf_ensure(*, invoice: Invoice) -> Invoice:
    """The invoice's PDF, rendered once from its immutable data and kept."""
    from telemed.billing import invoice_pdf

    if invoice.pdf:
        return invoice
    with transaction.atomic():
        locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if not locked.pdf:
            pdf = invoice_pdf.render(locked)
            locked.pdf.save(f"{locked.kind}-{locked.number}.pdf", File(pdf), save=False)
            Invoice.objects.filter(pk=locked.pk, pdf="").update(pdf=locked.pdf.name)
        locked.refresh_from_db()
    return locked


@transaction.atomic
def stamp_duty_mode_set(*, actor: User, mode: str) -> DoctorBillingSettings:
    if mode not in StampDutyMode.values:
        raise BillingError({"stamp_duty_mode": _("Choose how you pay the stamp duty.")})
    settings_row = _doctor_lock(_check_doctor(actor))
    settings_row.stamp_duty_mode = mode
    settings_row.save(update_fields=["stamp_duty_mode", "updated_at"])
    return settings_row


# --- payouts -----------------------------------------------------------------------------------------


def _valid_iban(value: str) -> str | None:
    try:
        return identifiers.clean_iban(value or "")
    except identifiers.InvalidIdentifier:
        return None


def default_payout_cutoff(now: datetime.datetime | None = None) -> datetime.datetime:
    """Weekly by default: everything received until the end of last Sunday (Rome time)."""
    local = timezone.localtime(now or timezone.now())
    monday = (local - datetime.timedelta(days=local.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    return monday


@transaction.atomic
def payout_batch_run(
    *,
    actor: User,
    cutoff: datetime.datetime | None = None,
    execution_date: datetime.date | None = None,
    leave_out_invalid: bool = False,
) -> PayoutBatch:
    """One SEPA credit-transfer file paying each doctor's net and each charity's donations held
    until ``cutoff``. A payee without a valid IBAN stops the batch (nothing is paid, nothing
    changes) unless staff choose to leave them out: their money then waits for the next batch."""
    _check_staff(actor)
    cutoff = _aware(cutoff, "cutoff") if cutoff is not None else default_payout_cutoff()
    today = timezone.localdate()
    execution_date = execution_date or today
    if execution_date < today:
        raise BillingError({"execution_date": _("The execution date cannot be in the past.")})
    counter, _created = BatchCounter.objects.get_or_create(name="payout")
    counter = BatchCounter.objects.select_for_update().get(pk=counter.pk)
    unsettled = LedgerEntry.objects.filter(settled_by__isnull=True, created_at__lte=cutoff)
    owed = []
    for row in unsettled.filter(account=ledger.Account.DOCTOR).values("doctor").annotate(total=Sum("amount")).order_by("doctor"):
        if (total := ledger.cents(row["total"])) > 0:
            doctor = DoctorProfile.objects.select_related("user").get(pk=row["doctor"])
            owed.append(("doctor", doctor, doctor.user.get_full_name(), doctor.iban, total))
    for row in unsettled.filter(account=ledger.Account.CHARITY).values("charity").annotate(total=Sum("amount")).order_by("charity"):
        if (total := ledger.cents(row["total"])) > 0:
            charity = Charity.objects.get(pk=row["charity"])
            owed.append(("charity", charity, charity.name, charity.iban, total))
    invalid = [name for _kind, _payee, name, iban, _total in owed if _valid_iban(iban) is None]
    if invalid and not leave_out_invalid:
        raise BillingError(
            _("These payees have no valid IBAN: %(names)s. Nothing was paid. Ask them to correct it, or leave them out of this batch.")
            % {"names": ", ".join(invalid)}
        )
    owed = [item for item in owed if _valid_iban(item[3]) is not None]
    if not owed:
        raise BillingError(_("There is nothing to pay out until that date."))
    counter.last += 1
    counter.save(update_fields=["last"])
    payees = [
        sepa.Payee(
            name=name, iban=_valid_iban(iban), amount=total, end_to_end_id=f"TM-P{counter.last}-{kind[0].upper()}{payee.pk}",
            description=f"telemed payout {counter.last} {'donations' if kind == 'charity' else 'compensi'}",
        )
        for kind, payee, name, iban, total in owed
    ]  # fmt: skip
    try:
        message_id, xml = sepa.build(account=_platform_account(), payees=payees, execution_date=execution_date)
    except (sepa.PayoutFileInvalid, SepaValidationError) as error:
        raise BillingError(_("The payout file does not pass the pain.001.001.09 schema: %(error)s") % {"error": error}) from None
    batch = PayoutBatch.objects.create(
        number=counter.last, cutoff=cutoff, created_by=actor, execution_date=execution_date, message_id=message_id[:35],
        total=sum((item[4] for item in owed), Decimal("0.00")), xml=xml.decode(),
    )  # fmt: skip
    for (kind, payee, name, _iban, total), sepa_payee in zip(owed, payees, strict=True):
        line = PayoutLine.objects.create(
            batch=batch, doctor=payee if kind == "doctor" else None, charity=payee if kind == "charity" else None,
            name=name[:140], iban=sepa_payee.iban, amount=total, end_to_end_id=sepa_payee.end_to_end_id,
        )  # fmt: skip
        who = {"doctor": payee} if kind == "doctor" else {"charity": payee}
        held, paid = (ledger.Account.DOCTOR, ledger.Account.DOCTOR_PAYOUTS) if kind == "doctor" else (ledger.Account.CHARITY, ledger.Account.CHARITY_PAYOUTS)
        unsettled.filter(account=held, **who).update(settled_by=line)
        for entry in ledger.Journal("payout", actor=actor, links={"payout_line": line}).move(held, paid, total, source_links=who).post():
            if entry.account == held:
                LedgerEntry.objects.filter(pk=entry.pk).update(settled_by=line)
        if kind == "doctor":
            with translation.override(payee.user.language):
                notify(
                    recipient=payee.user,
                    kind=NOTIFY_PAYOUT,
                    title=_("Payout of %(amount)s on its way (batch %(number)s)") % {"amount": formatting.money(total), "number": batch.number},
                    url=reverse("billing:payout_statement", args=[line.pk]),
                )
    return batch


# --- storage space ------------------------------------------------------------------------------------


@transaction.atomic
def storage_purchase_start(*, actor: User, plan: StoragePlan) -> PaymentRequest:
    """A doctor or patient buys extra space: a payment request like any other; the space comes when it is paid."""
    if not (actor.is_active and (actor.is_doctor or actor.is_patient)):
        raise PermissionDenied
    plan = selectors.storage_plans_for(actor).filter(pk=plan.pk).first()
    if plan is None:
        raise BillingError(_("This storage plan is not on sale for your box."))
    purchase = StoragePurchase.objects.create(buyer=actor, plan=plan, extra_bytes=plan.extra_bytes, price=plan.price)
    return _payment_request_open(
        payer=actor,
        storage_purchase=purchase,
        amount=plan.price,
        description=_("Extra space: %(plan)s (+%(gb)d GB)") % {"plan": plan.name, "gb": plan.extra_gigabytes},
    )


def _storage_purchase_apply(purchase: StoragePurchase) -> None:
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
def storage_plan_set(*, actor: User, name: str, for_box: str, extra_gigabytes: int, price: Decimal, active: bool = True) -> StoragePlan:
    """Staff put a storage plan on sale (or change it, found by name); purchases keep the price they were made at."""
    _check_staff(actor)
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
        name=name, defaults={"for_box": for_box, "extra_gigabytes": extra_gigabytes, "price": price, "active": bool(active)}
    )
    return plan
