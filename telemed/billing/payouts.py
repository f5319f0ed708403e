"""Payouts: one SEPA credit-transfer file (pain.001.001.09) per batch.

A batch pays each doctor's net and each charity's donations held until its cut-off (weekly by
default). A payee without a valid IBAN stops the batch, unless staff leave them out: their
money then waits for the next one. The batch is one transaction: a kill leaves nothing.
"""

import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from sepaxml.validation import ValidationError as SepaValidationError

from telemed.accounts.models import DoctorProfile, User
from telemed.billing import ledger, sepa
from telemed.billing.acting import BillingError, aware, check_staff, platform_account
from telemed.billing.models import (
    BatchCounter,
    Charity,
    LedgerEntry,
    PayoutBatch,
    PayoutLine,
)
from telemed.billing.notices import NOTIFY_PAYOUT
from telemed.lib import formatting, identifiers
from telemed.notifications.services import notify


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
    check_staff(actor)
    cutoff = aware(cutoff, "cutoff") if cutoff is not None else default_payout_cutoff()
    today = timezone.localdate()
    execution_date = execution_date or today
    if execution_date < today:
        raise BillingError({"execution_date": _("The execution date cannot be in the past.")})
    counter, _created = BatchCounter.objects.get_or_create(name="payout")
    counter = BatchCounter.objects.select_for_update().get(pk=counter.pk)
    unsettled = LedgerEntry.objects.filter(settled_by__isnull=True, created_at__lte=cutoff)
    # (kind, payee, name, IBAN as entered, amount)
    owed: list[tuple[str, DoctorProfile | Charity, str, str, Decimal]] = []
    for doctor_row in (
        unsettled.filter(account=ledger.Account.DOCTOR)
        .values("doctor")
        .annotate(total=Sum("amount"))
        .order_by("doctor")
    ):
        if (total := ledger.cents(doctor_row["total"])) > 0:
            doctor = DoctorProfile.objects.select_related("user").get(pk=doctor_row["doctor"])
            owed.append(("doctor", doctor, doctor.user.get_full_name(), doctor.iban, total))
    for charity_row in (
        unsettled.filter(account=ledger.Account.CHARITY)
        .values("charity")
        .annotate(total=Sum("amount"))
        .order_by("charity")
    ):
        if (total := ledger.cents(charity_row["total"])) > 0:
            charity = Charity.objects.get(pk=charity_row["charity"])
            owed.append(("charity", charity, charity.name, charity.iban, total))
    invalid = [name for _kind, _payee, name, iban, _total in owed if _valid_iban(iban) is None]
    if invalid and not leave_out_invalid:
        raise BillingError(
            _(
                "These payees have no valid IBAN: %(names)s. Nothing was paid. Ask them to correct it, or leave them out of this batch."
            )
            % {"names": ", ".join(invalid)}
        )
    # The IBANs as the payout file writes them (those left out wait for the next batch).
    owed = [
        (kind, payee, name, valid, total) for kind, payee, name, iban, total in owed if (valid := _valid_iban(iban))
    ]
    if not owed:
        raise BillingError(_("There is nothing to pay out until that date."))
    counter.last += 1
    counter.save(update_fields=["last"])
    payees = [
        sepa.Payee(
            name=name, iban=iban, amount=total, end_to_end_id=f"TM-P{counter.last}-{kind[0].upper()}{payee.pk}",
            description=f"telemed payout {counter.last} {'donations' if kind == 'charity' else 'compensi'}",
        )
        for kind, payee, name, iban, total in owed
    ]  # fmt: skip
    try:
        message_id, xml = sepa.build(account=platform_account(), payees=payees, execution_date=execution_date)
    except (sepa.PayoutFileInvalid, SepaValidationError) as error:
        raise BillingError(
            _("The payout file does not pass the pain.001.001.09 schema: %(error)s") % {"error": error}
        ) from None
    batch = PayoutBatch.objects.create(
        number=counter.last, cutoff=cutoff, created_by=actor, execution_date=execution_date, message_id=message_id[:35],
        total=sum((item[4] for item in owed), Decimal("0.00")), xml=xml.decode(),
    )  # fmt: skip
    for (kind, payee, name, _iban, total), sepa_payee in zip(owed, payees, strict=True):
        line = PayoutLine.objects.create(
            batch=batch, doctor=payee if isinstance(payee, DoctorProfile) else None,
            charity=payee if isinstance(payee, Charity) else None,
            name=name[:140], iban=sepa_payee.iban, amount=total, end_to_end_id=sepa_payee.end_to_end_id,
        )  # fmt: skip
        who = {"doctor": payee} if kind == "doctor" else {"charity": payee}
        held, paid = (
            (ledger.Account.DOCTOR, ledger.Account.DOCTOR_PAYOUTS)
            if kind == "doctor"
            else (ledger.Account.CHARITY, ledger.Account.CHARITY_PAYOUTS)
        )
        unsettled.filter(account=held, **who).update(settled_by=line)
        for entry in (
            ledger.Journal("payout", actor=actor, links={"payout_line": line})
            .move(held, paid, total, source_links=who)
            .post()
        ):
            if entry.account == held:
                LedgerEntry.objects.filter(pk=entry.pk).update(settled_by=line)
        if isinstance(payee, DoctorProfile):
            with translation.override(payee.user.language):
                notify(
                    recipient=payee.user,
                    kind=NOTIFY_PAYOUT,
                    title=_("Payout of %(amount)s on its way (batch %(number)s)")
                    % {"amount": formatting.money(total), "number": batch.number},
                    url=reverse("billing:payout_statement", args=[line.pk]),
                )
    return batch
