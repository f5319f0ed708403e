"""Reads of billing data: tariffs now and at any past moment, the fee rules in force, charities."""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet, Sum
from django.http import Http404
from django.utils import timezone

from telemed.accounts import selectors as accounts
from telemed.accounts.models import DoctorProfile, User
from telemed.billing.models import (
    LIVE_PROFORMA_STATES,
    Account,
    BankFeeSetting,
    BankStatement,
    BillableService,
    Charity,
    DoctorBillingSettings,
    IncomingTransfer,
    Invoice,
    InvoiceCounter,
    InvoiceKind,
    LedgerEntry,
    PaymentRequest,
    PaymentStatus,
    PayoutBatch,
    PayoutLine,
    PlatformFee,
    Proforma,
    ProformaStatus,
    Refund,
    ServiceKind,
    StoragePlan,
    StoragePurchase,
    Tariff,
    TransferStatus,
    VatSetting,
)


def _in_force(queryset: QuerySet, when: datetime.datetime) -> QuerySet:
    return queryset.filter(Q(valid_to__isnull=True) | Q(valid_to__gt=when), valid_from__lte=when).order_by(
        "-valid_from"
    )


def _service(queryset: QuerySet, kind: str, duration: int | None) -> QuerySet:
    queryset = queryset.filter(kind=kind)
    return (
        queryset.filter(duration_minutes__isnull=True)
        if duration is None
        else queryset.filter(duration_minutes=duration)
    )


# --- tariffs ------------------------------------------------------------------------------


def tariff_current_for(doctor: DoctorProfile, service_kind: str, duration: int | None = None) -> Tariff | None:
    """The doctor's tariff in force now for the service (offered or not), or None if never set."""
    return (
        _service(Tariff.objects.filter(doctor=doctor, valid_to__isnull=True), service_kind, duration)
        .select_related("set_by", "set_by_structure")
        .first()
    )


def tariff_at(doctor: DoctorProfile, kind: str, when: datetime.datetime, duration: int | None = None) -> Tariff | None:
    """The doctor's tariff that was in force at ``when`` for the service, or None."""
    return _in_force(_service(Tariff.objects.filter(doctor=doctor), kind, duration), when).first()


def tariff_version(tariff_id: int) -> Tariff:
    """One exact tariff version, as a request stored it (current or closed)."""
    tariff = Tariff.objects.select_related("doctor__user", "set_by_structure").filter(pk=tariff_id).first()
    if tariff is None:
        raise Http404
    return tariff


def tariffs_current_of(doctor: DoctorProfile) -> QuerySet[Tariff]:
    return Tariff.objects.filter(doctor=doctor, valid_to__isnull=True).select_related("set_by", "set_by_structure")


def tariffs_offered_by(doctor: DoctorProfile) -> QuerySet[Tariff]:
    """What a patient can ask of the doctor today."""
    return tariffs_current_of(doctor).filter(offered=True)


def tariff_history_of(doctor: DoctorProfile, limit: int = 30) -> QuerySet[Tariff]:
    return (
        Tariff.objects.filter(doctor=doctor)
        .select_related("set_by", "set_by_structure")
        .order_by("-valid_from", "-pk")[:limit]
    )


# --- who may edit whose tariffs ----------------------------------------------------------------


def doctor_of_structure_manager(user: User, doctor_id: int) -> DoctorProfile:
    """A doctor of the manager's structure; anyone else's doctor does not exist for them."""
    doctor = accounts.doctors_of_structure_manager(user).filter(pk=doctor_id).first()
    if doctor is None:
        raise Http404
    return doctor


def structure_doctors_for_manager(user: User) -> QuerySet[DoctorProfile]:
    return accounts.doctors_of_structure_manager(user)


# --- fee rules set by staff ----------------------------------------------------------------------


def platform_fee_at(kind: str, when: datetime.datetime | None = None) -> PlatformFee | None:
    if kind == ServiceKind.INFO:
        return None
    return _in_force(PlatformFee.objects.filter(kind=kind), when or timezone.now()).first()


def platform_fees_at(when: datetime.datetime | None = None) -> dict[str, PlatformFee]:
    """The platform fee in force at ``when`` of each paid service kind (as ``platform_fee_at``), in one query."""
    fees: dict[str, PlatformFee] = {}
    for fee in _in_force(PlatformFee.objects.exclude(kind=ServiceKind.INFO), when or timezone.now()):
        fees.setdefault(fee.kind, fee)
    return fees


def platform_fees_current() -> QuerySet[PlatformFee]:
    return PlatformFee.objects.filter(valid_to__isnull=True).order_by("kind")


def vat_setting_at(when: datetime.datetime | None = None) -> VatSetting | None:
    return _in_force(VatSetting.objects.all(), when or timezone.now()).first()


def bank_fee_at(when: datetime.datetime | None = None) -> BankFeeSetting | None:
    return _in_force(BankFeeSetting.objects.all(), when or timezone.now()).first()


# --- charities and donations -----------------------------------------------------------------------


def charity_list() -> QuerySet[Charity]:
    """The charities a doctor can choose now: active and with an IBAN to pay their donations to
    (an IBAN is validated whenever it is stored, see ``charities``)."""
    return Charity.objects.filter(active=True).exclude(iban="")


def charities_all() -> QuerySet[Charity]:
    """Every charity, offered or not (for staff and the demo data)."""
    return Charity.objects.all()


def donation_chosen(doctor: DoctorProfile) -> bool:
    """The doctor has made their donation choice (a share for a charity, or none)."""
    return DoctorBillingSettings.objects.filter(doctor=doctor, donation_chosen_at__isnull=False).exists()


def billing_settings_of(doctor: DoctorProfile) -> DoctorBillingSettings | None:
    return DoctorBillingSettings.objects.select_related("charity").filter(doctor=doctor).first()


# --- what a doctor bills ----------------------------------------------------------------------------


def services_to_bill(doctor: DoctorProfile) -> QuerySet[BillableService]:
    """Delivered services of the doctor that no live proforma covers yet."""
    live = Proforma.objects.filter(service=OuterRef("pk"), status__in=LIVE_PROFORMA_STATES)
    return BillableService.objects.filter(doctor=doctor).exclude(Exists(live)).select_related("patient")


def proformas_of(doctor: DoctorProfile, *statuses: str) -> QuerySet[Proforma]:
    return (
        Proforma.objects.filter(doctor=doctor, status__in=statuses)
        .select_related("service", "patient", "payment_request")
        .order_by("pk")
    )


def payment_requests_of_doctor(doctor: DoctorProfile) -> QuerySet[PaymentRequest]:
    return PaymentRequest.objects.filter(doctor=doctor).select_related("payer", "proforma__service")


def payment_request_of_doctor(user: User, request_id: int) -> PaymentRequest:
    doctor = getattr(user, "doctor_profile", None) if user.is_doctor else None
    request = payment_requests_of_doctor(doctor).filter(pk=request_id).first() if doctor else None
    if request is None:
        raise Http404
    return request


# --- what a payer pays ----------------------------------------------------------------------------------


def payment_requests_of_payer(user: User) -> QuerySet[PaymentRequest]:
    return PaymentRequest.objects.filter(payer=user).select_related(
        "doctor__user", "proforma__service", "storage_purchase"
    )


def payment_requests_to_pay(user: User) -> QuerySet[PaymentRequest]:
    """What the payer still has to pay, the oldest request first."""
    return payment_requests_of_payer(user).filter(status=PaymentStatus.OPEN).order_by("created_at", "pk")


def proformas_to_validate(doctor: DoctorProfile) -> QuerySet[Proforma]:
    """The drafts the doctor reviews before the payment requests go out."""
    return proformas_of(doctor, ProformaStatus.DRAFT)


def payment_request_for_payer(user: User, request_id: int) -> PaymentRequest:
    request = payment_requests_of_payer(user).filter(pk=request_id).first()
    if request is None:
        raise Http404
    return request


def storage_purchases_of(user: User) -> QuerySet[StoragePurchase]:
    """The space a user bought, newest first, with the payment request of each."""
    return StoragePurchase.objects.filter(buyer=user).select_related("plan", "payment_request")


def storage_plans_for(user: User) -> QuerySet[StoragePlan]:
    kind = "medbox" if user.is_doctor else "welbox" if user.is_patient else None
    if kind is None:
        return StoragePlan.objects.none()
    return StoragePlan.objects.filter(active=True, for_box__in=["any", kind])


# --- invoices -------------------------------------------------------------------------------------------


def invoices_of_doctor(
    doctor: DoctorProfile, *, start: datetime.datetime | None = None, end: datetime.datetime | None = None
) -> QuerySet[Invoice]:
    invoices = Invoice.objects.filter(doctor=doctor).select_related("patient", "credits", "credit_note")
    if start is not None:
        invoices = invoices.filter(issued_at__gte=start)
    if end is not None:
        invoices = invoices.filter(issued_at__lt=end)
    return invoices


def invoices_of_patient(user: User) -> QuerySet[Invoice]:
    return Invoice.objects.filter(patient=user).select_related("doctor__user", "credits")


def invoice_for_user(user: User, invoice_id: int) -> Invoice:
    """An invoice its doctor or its patient may see; anyone else gets 404."""
    query = Q(patient=user)
    doctor = getattr(user, "doctor_profile", None) if user.is_doctor else None
    if doctor is not None:
        query |= Q(doctor=doctor)
    invoice = Invoice.objects.filter(query, pk=invoice_id).select_related("doctor__user", "patient", "credits").first()
    if invoice is None:
        raise Http404
    return invoice


# --- payouts and donations ------------------------------------------------------------------------------


def payout_lines_of_doctor(doctor: DoctorProfile) -> QuerySet[PayoutLine]:
    return PayoutLine.objects.filter(doctor=doctor).select_related("batch").order_by("-batch__number")


def payout_line_for_user(user: User, line_id: int) -> PayoutLine:
    lines = PayoutLine.objects.select_related("batch", "doctor__user", "charity")
    if not user.is_staff:
        doctor = getattr(user, "doctor_profile", None) if user.is_doctor else None
        lines = lines.filter(doctor=doctor) if doctor is not None else lines.none()
    line = lines.filter(pk=line_id).first()
    if line is None:
        raise Http404
    return line


def payout_statement(line: PayoutLine) -> list[LedgerEntry]:
    """What a payout line pays: the entries of the payee's account it settled, oldest first."""
    return list(
        LedgerEntry.objects.filter(settled_by=line)
        .exclude(operation="payout")
        .select_related("payment_request__proforma__service", "payment_request__invoice", "invoice")
        .order_by("created_at", "pk")
    )


@dataclass(frozen=True)
class StatementRow:
    entry: LedgerEntry
    # Fee, bank fee, donation, stamp duty and net of the service, from the pricing module
    # (None for an entry that is not a priced service).
    amounts: object | None


def payout_statement_rows(line: PayoutLine) -> list[StatementRow]:
    """The payout statement: each settled entry with the amounts of the service it paid."""
    from telemed.billing import pricing  # pricing itself reads the fee rules through this module

    rows = []
    for entry in payout_statement(line):
        proforma = entry.payment_request.proforma if entry.payment_request is not None else None
        amounts = None
        if proforma is not None:
            amounts = pricing.statement_line(
                pricing.Breakdown.from_dict(proforma.service.breakdown),
                for_charity=line.charity_id is not None,
                reversed_=entry.operation == "credit_note",
            )
        rows.append(StatementRow(entry=entry, amounts=amounts))
    return rows


def held_for_doctor(doctor: DoctorProfile) -> Decimal:
    """What the platform holds for the doctor, not yet paid out."""
    from telemed.billing.ledger import cents

    return cents(
        LedgerEntry.objects.filter(account=Account.DOCTOR, doctor=doctor, settled_by__isnull=True).aggregate(
            total=Sum("amount")
        )["total"]
    )


def donations_by_year_of_doctor(doctor: DoctorProfile) -> list[dict]:
    """Per year and charity, what the doctor's invoices (net of credit notes) donated."""
    rows: dict[tuple[int, str], Decimal] = {}
    for invoice in Invoice.objects.filter(doctor=doctor).only("kind", "year", "breakdown"):
        for line in invoice.breakdown.get("lines", []):
            if line["code"] == "donation":
                sign = -1 if invoice.kind == InvoiceKind.CREDIT_NOTE else 1
                key = (invoice.year, line.get("detail", ""))
                rows[key] = rows.get(key, Decimal("0.00")) + sign * Decimal(line["amount"])
    return [
        {"year": year, "charity": charity, "amount": amount}
        for (year, charity), amount in sorted(rows.items(), reverse=True)
    ]


# --- staff: reconciliation and payouts -------------------------------------------------------------------


def transfers_to_check() -> QuerySet[IncomingTransfer]:
    return (
        IncomingTransfer.objects.filter(status=TransferStatus.QUEUED)
        .select_related("payment_request", "statement")
        .order_by("booked_on", "pk")
    )


def transfer_for_staff(user: User, transfer_id: int) -> IncomingTransfer:
    if not user.is_staff:
        raise Http404
    row = IncomingTransfer.objects.filter(pk=transfer_id).first()
    if row is None:
        raise Http404
    return row


def payment_request_by_reference(user: User, reference: str) -> PaymentRequest | None:
    if not user.is_staff:
        return None
    return (
        PaymentRequest.objects.filter(reference=(reference or "").replace(" ", "").upper())
        .select_related("payer")
        .first()
    )


def payment_request_for_staff(user: User, request_id: int) -> PaymentRequest:
    if not user.is_staff:
        raise Http404
    request = PaymentRequest.objects.filter(pk=request_id).first()
    if request is None:
        raise Http404
    return request


def open_payment_requests() -> QuerySet[PaymentRequest]:
    return (
        PaymentRequest.objects.filter(status=PaymentStatus.OPEN)
        .select_related("payer", "doctor__user")
        .order_by("created_at")
    )


def statements_recent(limit: int = 20) -> QuerySet[BankStatement]:
    return BankStatement.objects.select_related("imported_by")[:limit]


def refunds_due() -> QuerySet[Refund]:
    return Refund.objects.filter(done_at__isnull=True).select_related("patient", "credit_note")


def refund_for_staff(user: User, refund_id: int) -> Refund:
    refund = Refund.objects.filter(pk=refund_id).first() if user.is_staff else None
    if refund is None:
        raise Http404
    return refund


def payout_batches() -> QuerySet[PayoutBatch]:
    return PayoutBatch.objects.select_related("created_by").prefetch_related("lines")


def payout_batch_for_staff(user: User, batch_id: int) -> PayoutBatch:
    batch = PayoutBatch.objects.filter(pk=batch_id).first() if user.is_staff else None
    if batch is None:
        raise Http404
    return batch


def donations_by_charity(year: int) -> list[dict]:
    """Per charity, in a year: donations from paid invoices (net of credit notes) and paid out."""
    totals: dict[str, dict] = {}
    for invoice in Invoice.objects.filter(year=year).select_related("doctor__user").only("kind", "breakdown", "doctor"):
        for line in invoice.breakdown.get("lines", []):
            if line["code"] == "donation":
                sign = -1 if invoice.kind == InvoiceKind.CREDIT_NOTE else 1
                row = totals.setdefault(
                    line.get("detail", ""),
                    {"charity": line.get("detail", ""), "amount": Decimal("0.00"), "doctors": set()},
                )
                row["amount"] += sign * Decimal(line["amount"])
                row["doctors"].add(invoice.doctor_id)
    return [{**row, "doctors": len(row["doctors"])} for _name, row in sorted(totals.items())]


# --- whole-ledger figures, for the checks of a restored backup (telemed/backups) --------------------
# They read the database ``using`` (a restored one is not the default), all of it: staff's concern.


def ledger_balances(*, using: str = "default") -> dict[str, Decimal]:
    """Each account's balance."""
    from telemed.billing.ledger import cents

    entries = LedgerEntry.objects.using(using)
    rows = entries.values_list("account").annotate(total=Sum("amount")).order_by("account")
    return {account: cents(total) for account, total in rows}


def ledger_entry_count(*, using: str = "default") -> int:
    return LedgerEntry.objects.using(using).count()


def ledger_unbalanced_journals(*, using: str = "default") -> list[tuple[str, Decimal]]:
    """The journals whose entries do not sum to zero (none, as long as every move went through
    ledger.Journal), with their sums."""
    from telemed.billing.ledger import cents

    rows = LedgerEntry.objects.using(using).values("journal").annotate(total=Sum("amount")).order_by("journal")
    # SQLite sums decimals as floats: a journal is unbalanced only if its sum in cents is not zero.
    return [(str(row["journal"]), cents(row["total"])) for row in rows.exclude(total=0) if cents(row["total"])]


def invoice_series(*, using: str = "default") -> list[dict]:
    """Each numbering series (doctor, kind, year): its counter's last number, and the invoices
    issued in it (how many, the highest number). Numbers run 1..N without gaps when both are N."""
    rows = (
        Invoice.objects.using(using)
        .values("doctor_id", "kind", "year")
        .annotate(count=Count("id"), highest=Max("number"))
    )
    issued = {(r["doctor_id"], r["kind"], r["year"]): (r["count"], r["highest"]) for r in rows.order_by()}
    series = []
    for counter in InvoiceCounter.objects.using(using).order_by("doctor_id", "kind", "year"):
        count, highest = issued.pop((counter.doctor_id, counter.kind, counter.year), (0, None))
        series.append({"doctor": counter.doctor_id, "kind": counter.kind, "year": counter.year,
                       "last": counter.last_number, "issued": count, "highest": highest})  # fmt: skip
    for (doctor, kind, year), (count, highest) in sorted(issued.items()):  # invoices without a counter
        series.append({"doctor": doctor, "kind": kind, "year": year, "last": None, "issued": count, "highest": highest})
    return series
