"""Tariffs, the fee rules set by platform staff, charities and each doctor's donation choice.

Every row that a price depends on is kept for ever: a change closes the current
row (``valid_to``) and adds a new one (``valid_from``), so what a service cost at
any moment can be read back, and a request that stored a tariff's id keeps the
price it was made at.
"""

from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from telemed.accounts.models import DoctorProfile, Structure, User


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
    return models.CheckConstraint(condition=Q(valid_to__isnull=True) | Q(valid_to__gte=models.F("valid_from")), name=name)


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

    doctor = models.ForeignKey(DoctorProfile, on_delete=models.PROTECT, related_name="tariffs", verbose_name=_("doctor"))
    kind = models.CharField(_("service"), max_length=10, choices=ServiceKind.choices)
    duration_minutes = models.PositiveSmallIntegerField(_("duration (minutes)"), null=True, blank=True)
    offered = models.BooleanField(_("offered"), default=True)
    fee = models.DecimalField(_("fee (EUR)"), max_digits=7, decimal_places=2)
    response_value = models.PositiveSmallIntegerField(_("response time"), null=True, blank=True)
    response_unit = models.CharField(_("response time unit"), max_length=12, choices=ResponseUnit.choices, blank=True)
    set_by_structure = models.ForeignKey(
        Structure, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("set by the structure")
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
        return f"{self.doctor} — {self.service_label}: {self.fee} EUR"

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
        return _("%(service)s, %(minutes)d minutes") % {"service": label, "minutes": duration_minutes}
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
        return f"{self.get_kind_display()}: {self.fee} EUR"


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
        return f"{self.fixed} EUR + {self.percent}%"


class Charity(models.Model):
    """A non-profit organisation doctors can donate a share of their fees to. The list is kept by staff."""

    name = models.CharField(_("name"), max_length=160, unique=True)
    description = models.TextField(_("description"), blank=True, max_length=1000)
    website = models.URLField(_("website"), blank=True)
    codice_fiscale = models.CharField(_("codice fiscale"), max_length=16, blank=True)
    active = models.BooleanField(_("can be chosen"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("charity")
        verbose_name_plural = _("charities")

    def __str__(self) -> str:
        return self.name


class DoctorBillingSettings(models.Model):
    """A doctor's own billing choices: the share of their fees they donate, and to whom."""

    doctor = models.OneToOneField(DoctorProfile, on_delete=models.CASCADE, related_name="billing_settings")
    donation_percent = models.DecimalField(
        _("donation (% of the fee)"), max_digits=5, decimal_places=2, default=Decimal("0.00")
    )
    charity = models.ForeignKey(
        Charity, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("charity")
    )
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
