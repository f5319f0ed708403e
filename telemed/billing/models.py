"""Tariffs, the fee rules set by platform staff, charities and each doctor's donation choice.

Every row that a price depends on is kept for ever: a change closes the current
row (``valid_to``) and adds a new one (``valid_from``), so what a service cost at
any moment can be read back, and a request that stored a tariff's id keeps the
price it was made at.
"""

from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from telemed.accounts.models import DoctorProfile, Structure, User
from telemed.lib import formatting


class ServiceKind(models.TextChoices):
    INFO = "info", _("Info request")
    BASE = "base", _("Consult")
    IMAGING = "imaging", _("Consult with radiology images")
    PRIORITY = "priority", _("Priority consult")
    VIDEO = "video", _("Video visit")


class ResponseUnit(models.TextChoices):
    HOURS = "hours", _("hours")
    WORKING_DAYS = "working_days", _("working days")


# The durations a video visit can be offered in, in minutes; each has its own fee.
VIDEO_DURATIONS: tuple[int, ...] = (15, 30, 45, 60)
# Info requests are always free; every other service may carry a fee.
FREE_KINDS = frozenset({ServiceKind.INFO})
# The written services, for which the doctor commits to a response time.
CONSULT_KINDS = frozenset({ServiceKind.BASE, ServiceKind.IMAGING, ServiceKind.PRIORITY})
# Every service a doctor can offer, in the order the pages list them.
SERVICES: tuple[tuple[str, int | None], ...] = (
    (ServiceKind.INFO, None),
    (ServiceKind.BASE, None),
    (ServiceKind.IMAGING, None),
    (ServiceKind.PRIORITY, None),
    *((ServiceKind.VIDEO, minutes) for minutes in VIDEO_DURATIONS),
)


def _current(name: str, fields: list[str]) -> models.UniqueConstraint:
    return models.UniqueConstraint(fields=fields, condition=Q(valid_to__isnull=True), name=name)


def _valid_period(name: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from")), name=name
    )


class Versioned(models.Model):
    """A row that holds from ``valid_from`` until ``valid_to`` (open: still current). Never edited in place."""

    valid_from = models.DateTimeField(_("valid from"))
    valid_to = models.DateTimeField(_("valid until"), null=True, blank=True)
    set_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("set by")
    )

    class Meta:
        abstract = True

    @property
    def is_current(self) -> bool:
        return self.valid_to is None


class Tariff(Versioned):
    """One version of what a doctor asks for one service, and the response time they commit to.

    Set by the doctor, or by the manager of the doctor's structure: then
    ``set_by_structure`` names the structure, and the doctor cannot change it
    while they belong to that structure.
    """

    doctor = models.ForeignKey(
        DoctorProfile, on_delete=models.PROTECT, related_name="tariffs", verbose_name=_("doctor")
    )
    kind = models.CharField(_("service"), max_length=10, choices=ServiceKind.choices)
    duration_minutes = models.PositiveSmallIntegerField(_("duration (minutes)"), null=True, blank=True)
    offered = models.BooleanField(_("offered"), default=True)
    fee = models.DecimalField(_("fee (EUR)"), max_digits=7, decimal_places=2)
    response_value = models.PositiveSmallIntegerField(_("response time"), null=True, blank=True)
    response_unit = models.CharField(_("response time unit"), max_length=12, choices=ResponseUnit.choices, blank=True)
    set_by_structure = models.ForeignKey(
        Structure,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("set by the structure"),
    )

    class Meta:
        ordering = ["doctor", "kind", "duration_minutes", "-valid_from"]
        verbose_name = _("tariff")
        verbose_name_plural = _("tariffs")
        indexes = [models.Index(fields=["doctor", "kind", "valid_from"], name="billing_tariff_lookup")]
        constraints = [
            models.UniqueConstraint(
                fields=["doctor", "kind"],
                condition=Q(valid_to__isnull=True, duration_minutes__isnull=True),
                name="billing_tariff_one_current",
            ),
            models.UniqueConstraint(
                fields=["doctor", "kind", "duration_minutes"],
                condition=Q(valid_to__isnull=True, duration_minutes__isnull=False),
                name="billing_tariff_one_current_per_duration",
            ),
            models.CheckConstraint(
                condition=(Q(kind=ServiceKind.VIDEO) & Q(duration_minutes__in=VIDEO_DURATIONS))
                | (~Q(kind=ServiceKind.VIDEO) & Q(duration_minutes__isnull=True)),
                name="billing_tariff_duration_only_for_video",
            ),
            models.CheckConstraint(
                condition=Q(fee__gte=0, fee__lte=Decimal("10000.00")), name="billing_tariff_fee_range"
            ),
            models.CheckConstraint(condition=~Q(kind=ServiceKind.INFO) | Q(fee=0), name="billing_tariff_info_free"),
            models.CheckConstraint(
                condition=(Q(response_value__isnull=True) & Q(response_unit=""))
                | (Q(response_value__gte=1) & ~Q(response_unit="")),
                name="billing_tariff_response_complete",
            ),
            _valid_period("billing_tariff_valid_period"),
        ]

    def __str__(self) -> str:
        return f"{self.doctor} — {self.service_label}: {formatting.money(self.fee)}"

    @property
    def service_label(self) -> str:
        return service_label(self.kind, self.duration_minutes)

    @property
    def is_free(self) -> bool:
        return self.kind in FREE_KINDS or self.fee == 0

    @property
    def has_response_time(self) -> bool:
        return self.response_value is not None


def service_label(kind: str, duration_minutes: int | None = None) -> str:
    label = ServiceKind(kind).label
    if duration_minutes:
        return _("%(service)s, %(duration)s") % {"service": label, "duration": formatting.minutes(duration_minutes)}
    return str(label)


class PlatformFee(Versioned):
    """The platform's fixed service fee for one kind of service, paid by the patient. Set by staff."""

    kind = models.CharField(_("service"), max_length=10, choices=ServiceKind.choices)
    fee = models.DecimalField(_("platform fee (EUR)"), max_digits=7, decimal_places=2)

    class Meta:
        ordering = ["kind", "-valid_from"]
        verbose_name = _("platform fee")
        verbose_name_plural = _("platform fees")
        constraints = [
            _current("billing_platformfee_one_current", ["kind"]),
            models.CheckConstraint(condition=Q(fee__gte=0), name="billing_platformfee_fee_not_negative"),
            models.CheckConstraint(condition=~Q(kind=ServiceKind.INFO), name="billing_platformfee_not_info"),
            _valid_period("billing_platformfee_valid_period"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {formatting.money(self.fee)}"


class VatSetting(Versioned):
    """How the platform fee is treated for VAT. Default: exempt like the doctor's fee (art. 10 n. 18)."""

    platform_fee_exempt = models.BooleanField(_("platform fee exempt from VAT"), default=True)
    platform_fee_rate = models.DecimalField(
        _("VAT rate on the platform fee (%)"), max_digits=5, decimal_places=2, default=Decimal("22.00")
    )

    class Meta:
        ordering = ["-valid_from"]
        verbose_name = _("VAT setting")
        verbose_name_plural = _("VAT settings")
        constraints = [
            models.CheckConstraint(
                condition=Q(platform_fee_rate__gte=0, platform_fee_rate__lte=100), name="billing_vatsetting_rate_range"
            ),
            _valid_period("billing_vatsetting_valid_period"),
        ]

    def __str__(self) -> str:
        if self.platform_fee_exempt:
            return str(_("Platform fee exempt from VAT"))
        return str(_("Platform fee taxable at %(rate)s%%") % {"rate": self.platform_fee_rate})


class BankFeeSetting(Versioned):
    """The bank fees of a payment, charged to the doctor: deducted from the payout, never added for the patient."""

    fixed = models.DecimalField(_("fixed amount (EUR)"), max_digits=6, decimal_places=2, default=Decimal("0.50"))
    percent = models.DecimalField(
        _("percentage of the doctor's fee"), max_digits=5, decimal_places=2, default=Decimal("0.00")
    )

    class Meta:
        ordering = ["-valid_from"]
        verbose_name = _("bank fee setting")
        verbose_name_plural = _("bank fee settings")
        constraints = [
            models.CheckConstraint(condition=Q(fixed__gte=0), name="billing_bankfee_fixed_not_negative"),
            models.CheckConstraint(condition=Q(percent__gte=0, percent__lte=100), name="billing_bankfee_percent_range"),
            _valid_period("billing_bankfee_valid_period"),
        ]

    def __str__(self) -> str:
        return f"{formatting.money(self.fixed)} + {self.percent}%"


class Charity(models.Model):
    """A non-profit organisation doctors can donate a share of their fees to. The list is kept by staff."""

    name = models.CharField(_("name"), max_length=160, unique=True)
    description = models.TextField(_("description"), blank=True, max_length=1000)
    website = models.URLField(_("website"), blank=True)
    codice_fiscale = models.CharField(_("codice fiscale"), max_length=16, blank=True)
    # Where payouts of the donations go; a charity without a valid IBAN holds up its payout.
    iban = models.CharField(_("IBAN"), max_length=34, blank=True)
    active = models.BooleanField(_("can be chosen"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("charity")
        verbose_name_plural = _("charities")

    def __str__(self) -> str:
        return self.name


class StampDutyMode(models.TextChoices):
    VIRTUAL = "virtual", _("Paid virtually (the invoice is an electronic document)")
    ORIGINAL = "original", _("Paid on the original (a revenue stamp on the paper copy)")


class DoctorBillingSettings(models.Model):
    """A doctor's own billing choices: the share of their fees they donate, and to whom; how they pay the stamp duty."""

    doctor = models.OneToOneField(DoctorProfile, on_delete=models.CASCADE, related_name="billing_settings")
    donation_percent = models.DecimalField(
        _("donation (% of the fee)"), max_digits=5, decimal_places=2, default=Decimal("0.00")
    )
    charity = models.ForeignKey(
        Charity, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("charity")
    )
    stamp_duty_mode = models.CharField(
        _("stamp duty"), max_length=10, choices=StampDutyMode.choices, default=StampDutyMode.VIRTUAL
    )
    # When the doctor last chose (a share, or none): the row itself exists as soon as they price a service.
    donation_chosen_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("doctor's billing settings")
        verbose_name_plural = _("doctors' billing settings")
        constraints = [
            models.CheckConstraint(
                condition=Q(donation_percent__gte=0, donation_percent__lte=100), name="billing_donation_percent_range"
            ),
            models.CheckConstraint(
                condition=Q(donation_percent=0) | Q(charity__isnull=False), name="billing_donation_needs_charity"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.doctor}: {self.donation_percent}%"


# === From a delivered service to the money: proformas, payments, invoices, payouts ===============
#
# The path of a service: consults or visits register it (``BillableService``) with the
# breakdown the patient accepted; the doctor's "Emetti fattura" drafts a ``Proforma`` for
# each one not yet billed; validated, it becomes a ``PaymentRequest`` (bank transfer, RF
# reference); money arrives as ``IncomingTransfer`` rows from the bank statement (or is
# marked by staff) and is applied to the request; once fully paid, the doctor's
# ``Invoice`` is issued; ``PayoutBatch`` later pays doctors and charities. Every move of
# money writes balanced ``LedgerEntry`` rows (see ``ledger.py``).


def _money(verbose_name, **kwargs) -> models.DecimalField:
    return models.DecimalField(verbose_name, max_digits=12, decimal_places=2, **kwargs)


class BillableService(models.Model):
    """A delivered paid service, with the breakdown the patient accepted (amounts and time)."""

    doctor = models.ForeignKey(
        DoctorProfile, on_delete=models.PROTECT, related_name="billable_services", verbose_name=_("doctor")
    )
    patient = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="billable_services", verbose_name=_("patient")
    )
    kind = models.CharField(_("service"), max_length=10, choices=ServiceKind.choices)
    duration_minutes = models.PositiveSmallIntegerField(_("duration (minutes)"), null=True, blank=True)
    breakdown = models.JSONField(_("accepted breakdown"))
    patient_total = _money(_("total for the patient (EUR)"))
    accepted_at = models.DateTimeField(_("accepted by the patient at"))
    delivered_at = models.DateTimeField(_("delivered at"))
    source_label = models.CharField(_("description"), max_length=200)
    source_url = models.CharField(_("link"), max_length=500, blank=True)
    # The caller's own key ("consult:42"): registering the same delivery twice gives one service.
    source_key = models.CharField(max_length=100, unique=True, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-delivered_at", "-pk"]
        verbose_name = _("billable service")
        verbose_name_plural = _("billable services")
        constraints = [models.CheckConstraint(condition=Q(patient_total__gt=0), name="billing_billable_not_free")]

    def __str__(self) -> str:
        return f"{self.source_label} ({formatting.money(self.patient_total)})"

    @property
    def service_label(self) -> str:
        return service_label(self.kind, self.duration_minutes)


class ProformaStatus(models.TextChoices):
    DRAFT = "draft", _("Draft, to review")
    EXCLUDED = "excluded", _("Excluded")
    AWAITING_PAYMENT = "awaiting_payment", _("Awaiting payment")
    PAID = "paid", _("Paid")
    CANCELLED = "cancelled", _("Cancelled")


# A service is "billed" while one of its proformas is in one of these states.
LIVE_PROFORMA_STATES = (ProformaStatus.DRAFT, ProformaStatus.AWAITING_PAYMENT, ProformaStatus.PAID)


class Proforma(models.Model):
    """Avviso di parcella: the non-fiscal notice of one service's cost; no invoice number."""

    service = models.ForeignKey(BillableService, on_delete=models.PROTECT, related_name="proformas")
    doctor = models.ForeignKey(DoctorProfile, on_delete=models.PROTECT, related_name="proformas")
    patient = models.ForeignKey(User, on_delete=models.PROTECT, related_name="proformas")
    status = models.CharField(_("status"), max_length=20, choices=ProformaStatus.choices, default=ProformaStatus.DRAFT)
    amount = _money(_("amount (EUR)"))
    created_at = models.DateTimeField(auto_now_add=True)
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("proforma")
        verbose_name_plural = _("proformas")
        constraints = [
            # No service is ever billed twice, even by two requests at the same moment.
            models.UniqueConstraint(
                fields=["service"],
                condition=Q(status__in=LIVE_PROFORMA_STATES),
                name="billing_proforma_one_live_per_service",
            ),
        ]

    def __str__(self) -> str:
        return f"AP-{self.pk} {self.service}"

    @property
    def display_number(self) -> str:
        return f"AP-{self.pk}"


class StoragePlan(models.Model):
    """Extra space for a Medbox or Welbox, sold at a price set by staff.

    A plan is a one-off purchase: paid once, its space is added to the box for good (no
    yearly renewal, nothing expires); the pages say so next to the price."""

    class For(models.TextChoices):
        ANY = "any", _("Medbox and Welbox")
        MEDBOX = "medbox", _("Medbox (doctors)")
        WELBOX = "welbox", _("Welbox (patients)")

    name = models.CharField(_("name"), max_length=80)
    for_box = models.CharField(_("for"), max_length=10, choices=For.choices, default=For.ANY)
    extra_gigabytes = models.PositiveIntegerField(_("extra space (GB)"))
    price = _money(_("price (EUR, VAT included)"))
    active = models.BooleanField(_("on sale"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["price", "name"]
        verbose_name = _("storage plan")
        verbose_name_plural = _("storage plans")
        constraints = [
            models.CheckConstraint(condition=Q(price__gt=0), name="billing_storageplan_price_positive"),
            models.CheckConstraint(condition=Q(extra_gigabytes__gt=0), name="billing_storageplan_space_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name}: +{self.extra_gigabytes} GB, {formatting.money(self.price)}"

    @property
    def extra_bytes(self) -> int:
        return self.extra_gigabytes * 1024**3


class StoragePurchase(models.Model):
    buyer = models.ForeignKey(User, on_delete=models.PROTECT, related_name="storage_purchases")
    plan = models.ForeignKey(StoragePlan, on_delete=models.PROTECT, related_name="+")
    extra_bytes = models.PositiveBigIntegerField()
    price = _money(_("price (EUR)"))
    created_at = models.DateTimeField(auto_now_add=True)
    # Set once the box's quota has been raised (when the payment was recorded).
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("storage purchase")
        verbose_name_plural = _("storage purchases")

    def __str__(self) -> str:
        return f"{self.buyer} — {self.plan.name}"


class PaymentStatus(models.TextChoices):
    OPEN = "open", _("Awaiting payment")
    PAID = "paid", _("Paid")
    CANCELLED = "cancelled", _("Cancelled")


class PaymentRequest(models.Model):
    """What someone has to pay by bank transfer, with its structured creditor reference (RF…)."""

    payer = models.ForeignKey(User, on_delete=models.PROTECT, related_name="payment_requests", verbose_name=_("payer"))
    doctor = models.ForeignKey(
        DoctorProfile, null=True, blank=True, on_delete=models.PROTECT, related_name="payment_requests"
    )
    proforma = models.OneToOneField(
        Proforma, null=True, blank=True, on_delete=models.PROTECT, related_name="payment_request"
    )
    storage_purchase = models.OneToOneField(
        StoragePurchase, null=True, blank=True, on_delete=models.PROTECT, related_name="payment_request"
    )
    description = models.CharField(_("description"), max_length=200)
    amount = _money(_("amount (EUR)"))
    received = _money(_("received so far (EUR)"), default=Decimal("0.00"))
    reference = models.CharField(_("payment reference"), max_length=25, unique=True, null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=PaymentStatus.choices, default=PaymentStatus.OPEN)
    # The patient's opposition to sending this expense to the Sistema Tessera Sanitaria.
    sts_opposition = models.BooleanField(_("oppose transmission to the Sistema Tessera Sanitaria"), default=False)
    # The payer's address for the invoice, when they give it (the invoice shows it if known).
    payer_address = models.CharField(_("your address for the invoice"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    reminders_sent = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("payment request")
        verbose_name_plural = _("payment requests")
        constraints = [
            models.CheckConstraint(
                condition=(Q(proforma__isnull=False) & Q(storage_purchase__isnull=True))
                | (Q(proforma__isnull=True) & Q(storage_purchase__isnull=False)),
                name="billing_payment_one_purpose",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="billing_payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(received__gte=0) & Q(received__lte=models.F("amount")),
                name="billing_payment_received_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {formatting.money(self.amount)}"

    @property
    def outstanding(self) -> Decimal:
        return self.amount - self.received

    @property
    def is_open(self) -> bool:
        return self.status == PaymentStatus.OPEN


class BankStatement(models.Model):
    """An imported camt.053 file. The same file imported twice is recognised by its digest."""

    account_iban = models.CharField(_("account"), max_length=34)
    statement_id = models.CharField(_("statement"), max_length=35)
    file_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64, unique=True)
    entries = models.PositiveIntegerField(default=0)
    new_transfers = models.PositiveIntegerField(default=0)
    imported_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-imported_at"]
        verbose_name = _("bank statement")
        verbose_name_plural = _("bank statements")

    def __str__(self) -> str:
        return f"{self.statement_id} ({self.imported_at:%Y-%m-%d})"


class TransferStatus(models.TextChoices):
    MATCHED = "matched", _("Matched")
    QUEUED = "queued", _("To check")
    RESOLVED = "resolved", _("Resolved")


class QueueReason(models.TextChoices):
    PARTIAL = "partial", _("Less than the amount due")
    EXCESS = "excess", _("More than the amount due")
    DUPLICATE = "duplicate", _("The request was already paid")
    UNKNOWN = "unknown", _("No payment request has this reference")
    CANCELLED = "cancelled", _("The request was cancelled")
    CURRENCY = "currency", _("Not in euro")


class IncomingTransfer(models.Model):
    """One credit on the platform's account, read from a bank statement."""

    statement = models.ForeignKey(BankStatement, on_delete=models.PROTECT, related_name="transfers")
    # The bank's own reference of the entry (or a digest of its fields): the same entry seen in
    # two statements is one transfer.
    entry_key = models.CharField(max_length=100, unique=True)
    amount = _money(_("amount"))
    currency = models.CharField(max_length=3, default="EUR")
    booked_on = models.DateField(_("booked on"))
    debtor_name = models.CharField(_("from"), max_length=140, blank=True)
    debtor_iban = models.CharField(_("from account"), max_length=34, blank=True)
    remittance = models.CharField(_("remittance information"), max_length=500, blank=True)
    reference = models.CharField(_("reference found"), max_length=35, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=TransferStatus.choices)
    queue_reason = models.CharField(_("why it is to check"), max_length=10, choices=QueueReason.choices, blank=True)
    payment_request = models.ForeignKey(
        PaymentRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="transfers"
    )
    applied = _money(_("applied to requests"), default=Decimal("0.00"))
    refunded = _money(_("refunded"), default=Decimal("0.00"))
    resolved_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.CharField(_("note"), max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-booked_on", "-pk"]
        verbose_name = _("incoming transfer")
        verbose_name_plural = _("incoming transfers")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="billing_transfer_amount_positive"),
            models.CheckConstraint(
                condition=Q(applied__gte=0, refunded__gte=0), name="billing_transfer_parts_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.booked_on} {self.amount} {self.currency} {self.reference or self.remittance[:30]}"

    @property
    def remaining(self) -> Decimal:
        """What is still held from this transfer: neither applied to a request nor refunded."""
        return self.amount - self.applied - self.refunded


class PaymentApplication(models.Model):
    """Money counted towards a payment request: from a transfer, or marked by staff with a reason."""

    payment_request = models.ForeignKey(PaymentRequest, on_delete=models.PROTECT, related_name="applications")
    transfer = models.ForeignKey(
        IncomingTransfer, null=True, blank=True, on_delete=models.PROTECT, related_name="applications"
    )
    amount = _money(_("amount"))
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    recorded_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("payment applied")
        verbose_name_plural = _("payments applied")
        ordering = ["created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="billing_application_amount_positive"),
            # A payment marked by hand always says why.
            models.CheckConstraint(
                condition=Q(transfer__isnull=False) | ~Q(reason=""), name="billing_application_manual_reason"
            ),
        ]


class Refund(models.Model):
    """Money to give back to a patient after a credit note; staff record when they made the transfer."""

    credit_note = models.OneToOneField("Invoice", on_delete=models.PROTECT, related_name="refund")
    patient = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    amount = _money(_("amount"))
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="billing_refund_amount_positive")]


class InvoiceKind(models.TextChoices):
    INVOICE = "invoice", _("Invoice")
    CREDIT_NOTE = "credit_note", _("Credit note")


class InvoiceCounter(models.Model):
    """The last number a doctor gave in a year, per kind of document. Locked while a number is taken."""

    doctor = models.ForeignKey(DoctorProfile, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=12, choices=InvoiceKind.choices)
    year = models.PositiveSmallIntegerField()
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("invoice counter")
        verbose_name_plural = _("invoice counters")
        constraints = [models.UniqueConstraint(fields=["doctor", "kind", "year"], name="billing_invoicecounter_unique")]


def invoice_pdf_path(instance: "Invoice", filename: str) -> str:
    return f"private/invoices/{instance.doctor_id}/{instance.year}/{instance.kind}-{instance.number}.pdf"


class Invoice(models.Model):
    """The doctor's invoice to the patient (or a credit note that corrects one). Never changed once issued:
    every party's data is copied in at issue, and a correction is a credit note."""

    kind = models.CharField(_("kind"), max_length=12, choices=InvoiceKind.choices, default=InvoiceKind.INVOICE)
    doctor = models.ForeignKey(DoctorProfile, on_delete=models.PROTECT, related_name="invoices")
    patient = models.ForeignKey(User, on_delete=models.PROTECT, related_name="invoices")
    payment_request = models.OneToOneField(
        PaymentRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="invoice"
    )
    credits = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="credit_note", verbose_name=_("corrects")
    )
    year = models.PositiveSmallIntegerField(_("year"))
    number = models.PositiveIntegerField(_("number"))
    issued_at = models.DateTimeField(_("issued at"))
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    seller = models.JSONField()
    buyer = models.JSONField()
    description = models.CharField(_("description"), max_length=300)
    breakdown = models.JSONField()
    total = _money(_("total (EUR)"))
    sts_opposition = models.BooleanField(_("patient opposed transmission to the Sistema TS"), default=False)
    stamp_duty_note = models.CharField(max_length=300, blank=True)
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    pdf = models.FileField(upload_to=invoice_pdf_path, max_length=200, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-issued_at", "-pk"]
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")
        constraints = [
            models.UniqueConstraint(fields=["doctor", "kind", "year", "number"], name="billing_invoice_number_unique"),
            models.CheckConstraint(
                condition=(Q(kind="invoice") & Q(credits__isnull=True) & Q(payment_request__isnull=False))
                | (Q(kind="credit_note") & Q(credits__isnull=False) & Q(payment_request__isnull=True)),
                name="billing_invoice_kind_links",
            ),
        ]
        indexes = [models.Index(fields=["doctor", "issued_at"], name="billing_invoice_doctor_date")]

    def __str__(self) -> str:
        return f"{self.display_number} — {self.doctor}"

    @property
    def display_number(self) -> str:
        prefix = "NC " if self.kind == InvoiceKind.CREDIT_NOTE else ""
        return f"{prefix}{self.number}/{self.year}"

    @property
    def is_credit_note(self) -> bool:
        return self.kind == InvoiceKind.CREDIT_NOTE


class PayoutBatch(models.Model):
    """One SEPA credit-transfer file paying doctors' nets and charities' donations held until ``cutoff``."""

    number = models.PositiveIntegerField(unique=True)
    cutoff = models.DateTimeField(_("money received until"))
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    execution_date = models.DateField(_("execution date"))
    message_id = models.CharField(max_length=35, unique=True)
    total = _money(_("total (EUR)"))
    xml = models.TextField()

    class Meta:
        ordering = ["-number"]
        verbose_name = _("payout batch")
        verbose_name_plural = _("payout batches")

    def __str__(self) -> str:
        return f"#{self.number} {formatting.money(self.total)}"


class PayoutLine(models.Model):
    batch = models.ForeignKey(PayoutBatch, on_delete=models.PROTECT, related_name="lines")
    doctor = models.ForeignKey(
        DoctorProfile, null=True, blank=True, on_delete=models.PROTECT, related_name="payout_lines"
    )
    charity = models.ForeignKey(Charity, null=True, blank=True, on_delete=models.PROTECT, related_name="payout_lines")
    name = models.CharField(max_length=140)
    iban = models.CharField(max_length=34)
    amount = _money(_("amount"))
    end_to_end_id = models.CharField(max_length=35)

    class Meta:
        verbose_name = _("payout line")
        verbose_name_plural = _("payout lines")
        ordering = ["batch", "name"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(doctor__isnull=False) & Q(charity__isnull=True))
                | (Q(doctor__isnull=True) & Q(charity__isnull=False)),
                name="billing_payoutline_one_payee",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="billing_payoutline_amount_positive"),
        ]


class BatchCounter(models.Model):
    """Named counters that also serialise their users (payout batches are numbered one at a time)."""

    name = models.CharField(max_length=40, unique=True)
    last = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("payout batch counter")
        verbose_name_plural = _("payout batch counters")


class Account(models.TextChoices):
    """The ledger's accounts. Balances: payers negative (money came from them), every other positive."""

    PAYERS = "payers", _("Payers (money received, net of refunds)")
    UNAPPLIED = "unapplied", _("Held: transfers not applied to a request")
    TOWARD_REQUESTS = "toward_requests", _("Held: part-payments of requests not yet settled")
    DOCTOR = "doctor", _("Held: owed to a doctor")
    CHARITY = "charity", _("Held: owed to a charity")
    REFUNDS_DUE = "refunds_due", _("Held: refunds to make")
    PLATFORM_FEES = "platform_fees", _("Platform fees")
    BANK_FEES = "bank_fees", _("Bank fees")
    DOCTOR_PAYOUTS = "doctor_payouts", _("Paid out to doctors")
    CHARITY_PAYOUTS = "charity_payouts", _("Paid out to charities")


HELD_ACCOUNTS = (Account.UNAPPLIED, Account.TOWARD_REQUESTS, Account.DOCTOR, Account.CHARITY, Account.REFUNDS_DUE)


class LedgerEntry(models.Model):
    """One line of a journal: every move of money writes lines that sum to zero. Never changed."""

    journal = models.UUIDField(db_index=True)
    operation = models.CharField(max_length=30)
    account = models.CharField(max_length=20, choices=Account.choices)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    doctor = models.ForeignKey(DoctorProfile, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    charity = models.ForeignKey(Charity, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    payment_request = models.ForeignKey(
        PaymentRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    transfer = models.ForeignKey(IncomingTransfer, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    invoice = models.ForeignKey(Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    payout_line = models.ForeignKey(PayoutLine, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # Which payout settled this line of a doctor's or charity's account (set once, by the batch).
    settled_by = models.ForeignKey(PayoutLine, null=True, blank=True, on_delete=models.PROTECT, related_name="settles")
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        indexes = [
            models.Index(fields=["account", "doctor"], name="billing_ledger_doctor"),
            models.Index(fields=["account", "charity"], name="billing_ledger_charity"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(account="doctor") | Q(doctor__isnull=False), name="billing_ledger_doctor_named"
            ),
            models.CheckConstraint(
                condition=~Q(account="charity") | Q(charity__isnull=False), name="billing_ledger_charity_named"
            ),
        ]
