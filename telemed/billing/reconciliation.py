"""Reconciliation: the platform account's camt.053 statements and the queue staff check.

Each new credit of an imported statement is matched by its RF reference and amount; an exact
match settles its request, anything else (unknown, partial, excess, duplicate, another currency,
cancelled) waits in the queue, where staff apply it to a request or record its refund. The same
statement (or the same entries in another file) imported again changes nothing. Staff also
record here the refunds that credit notes owe patients.
"""

from dataclasses import dataclass
from typing import BinaryIO

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from telemed.accounts.models import User
from telemed.billing import camt, ledger, transfer
from telemed.billing.acting import BillingError, check_staff, platform_account
from telemed.billing.models import (
    BankStatement,
    IncomingTransfer,
    PaymentRequest,
    PaymentStatus,
    QueueReason,
    Refund,
    TransferStatus,
)
from telemed.billing.payments import apply_payment, locked_request


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
    check_staff(actor)
    try:
        parsed = camt.parse(stream)
    except camt.StatementError as error:
        raise BillingError(str(error)) from None
    account = platform_account()
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
    known_keys = set(
        IncomingTransfer.objects.filter(entry_key__in=[c.entry_key for c in parsed.credits]).values_list(
            "entry_key", flat=True
        )
    )
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
    return ImportResult(
        statement=statement,
        already_imported=False,
        matched=matched,
        queued=queued,
        known=len(parsed.credits) - matched - queued,
    )


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
        remittance=credit.remittance, reference=(request.reference or "") if request else (references[0] if references else ""),
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
        apply_payment(request, credit.amount, transfer_row=row, actor=None)
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
def transfer_apply(
    *, actor: User, transfer_row: IncomingTransfer, payment_request: PaymentRequest, note: str
) -> IncomingTransfer:
    """Staff count a queued transfer (all of it, or what the request still needs) towards a request."""
    check_staff(actor)
    note = _clean_note(note)
    row = _locked_transfer(transfer_row)
    if row.currency != "EUR":
        raise BillingError(_("A transfer in another currency cannot pay a request: refund it."))
    request = locked_request(payment_request)
    if not request.is_open:
        raise BillingError(
            _("This request is not awaiting payment (it is %(status)s).")
            % {"status": request.get_status_display().lower()}
        )
    apply_payment(request, min(row.remaining, request.outstanding), transfer_row=row, actor=actor, reason=note)
    _resolve_if_done(row, actor, note)
    return row


@transaction.atomic
def transfer_refund(*, actor: User, transfer_row: IncomingTransfer, note: str) -> IncomingTransfer:
    """Staff record that what is left of a queued transfer was sent back to whoever paid it."""
    check_staff(actor)
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
    check_staff(actor)
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
