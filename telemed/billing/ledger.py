"""The ledger: every move of money writes one journal of entries that sum to zero.

Accounts (``models.Account``), with the sign of their balance:

* ``payers`` — negative: what payers sent, net of what was refunded to them;
* held by the platform, positive: ``unapplied`` (transfers not matched to a request),
  ``toward_requests`` (part-payments of requests not settled yet), ``doctor`` and
  ``charity`` (owed to each, until a payout), ``refunds_due``;
* gone for good, positive: ``platform_fees``, ``bank_fees``, ``doctor_payouts``,
  ``charity_payouts``.

Because every journal balances, at any moment

    payments received = doctor payouts + charity payouts + platform fees + bank fees + held

and the tests check that the same figures, computed from the transfers, invoices and
payout lines themselves, agree with the ledger. Only the billing services call this
module, inside their own transaction.
"""

import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Sum

from telemed.accounts.models import User
from telemed.billing.models import HELD_ACCOUNTS, Account, LedgerEntry
from telemed.billing.pricing import ZERO, Split, round_cents


@dataclass
class Journal:
    operation: str
    actor: User | None = None
    links: dict = field(default_factory=dict)  # payment_request, transfer, invoice, payout_line
    lines: list[LedgerEntry] = field(default_factory=list)

    def add(self, account: str, amount: Decimal, **links) -> "Journal":
        if amount:
            self.lines.append(LedgerEntry(account=account, amount=amount, **links))
        return self

    def move(self, source: str, target: str, amount: Decimal, *, source_links=None, target_links=None) -> "Journal":
        """``amount`` leaves ``source`` and reaches ``target``."""
        self.add(source, -amount, **(source_links or {}))
        self.add(target, amount, **(target_links or {}))
        return self

    def allocate(self, source: str, split: Split, *, doctor=None) -> "Journal":
        """Take ``split.total`` from ``source`` and give each its share of it."""
        self.add(source, -split.total)
        self.add(Account.DOCTOR, split.doctor, doctor=doctor)
        self.add(Account.CHARITY, split.charity, charity_id=split.charity_id)
        self.add(Account.PLATFORM_FEES, split.platform)
        self.add(Account.BANK_FEES, split.bank_fees)
        return self

    def reverse_allocation(self, target: str, split: Split, *, doctor=None) -> "Journal":
        """The opposite of ``allocate``: every share goes back to ``target``."""
        self.add(Account.DOCTOR, -split.doctor, doctor=doctor)
        self.add(Account.CHARITY, -split.charity, charity_id=split.charity_id)
        self.add(Account.PLATFORM_FEES, -split.platform)
        self.add(Account.BANK_FEES, -split.bank_fees)
        self.add(target, split.total)
        return self

    def post(self) -> list[LedgerEntry]:
        total = sum((line.amount for line in self.lines), ZERO)
        if total != 0:
            raise AssertionError(f"unbalanced journal {self.operation}: {total}")
        if any(line.account == Account.CHARITY and line.charity_id is None for line in self.lines):
            raise AssertionError("a donation without its charity")
        journal = uuid.uuid4()
        for line in self.lines:
            line.journal = journal
            line.operation = self.operation
            line.actor = self.actor
            for name, value in self.links.items():
                if getattr(line, f"{name}_id") is None:
                    setattr(line, name, value)
        return LedgerEntry.objects.bulk_create(self.lines)


def cents(total) -> Decimal:
    """A database SUM as exact cents (SQLite sums decimals as floats: 0.1 + 0.2 comes back 0.30000000000000004)."""
    return round_cents(Decimal(str(total))) if total is not None else ZERO


def balance(account: str, **filters) -> Decimal:
    return cents(LedgerEntry.objects.filter(account=account, **filters).aggregate(total=Sum("amount"))["total"])


@dataclass(frozen=True)
class Totals:
    payments_received: Decimal
    doctor_payouts: Decimal
    charity_payouts: Decimal
    platform_fees: Decimal
    bank_fees: Decimal
    held: Decimal

    @property
    def balances(self) -> bool:
        return self.payments_received == (
            self.doctor_payouts + self.charity_payouts + self.platform_fees + self.bank_fees + self.held
        )


def totals() -> Totals:
    sums = dict(LedgerEntry.objects.values_list("account").annotate(total=Sum("amount")).order_by())
    get = lambda account: cents(sums.get(account))  # noqa: E731
    return Totals(
        payments_received=-get(Account.PAYERS),
        doctor_payouts=get(Account.DOCTOR_PAYOUTS),
        charity_payouts=get(Account.CHARITY_PAYOUTS),
        platform_fees=get(Account.PLATFORM_FEES),
        bank_fees=get(Account.BANK_FEES),
        held=sum((get(account) for account in HELD_ACCOUNTS), ZERO),
    )
