"""The one pricing module: what a service costs the patient and what the doctor receives.

Every screen, proforma, invoice and payout gets its numbers from here. Amounts are
``Decimal`` euros; each line is rounded half-up to the cent on its own, and totals
are sums of rounded lines, so what is shown always adds up.

For one service with a doctor's fee F > 0:

=====================  ==========  =====================================================
line                   paid by     amount
=====================  ==========  =====================================================
doctor's fee           patient     F, exempt from VAT (art. 10, comma 1, n. 18, D.P.R.
                                   633/1972)
platform service fee   patient     the staff-set fee of the service kind; exempt by
                                   default, or taxable with VAT at the staff-set rate
stamp duty (bollo)     patient     EUR 2.00 when the VAT-exempt amount invoiced to the
                                   patient is strictly greater than EUR 77.47
bank fees              doctor      fixed + percent of F (staff setting), deducted from
                                   the payout, never added to the patient's total
donation               doctor      the doctor's chosen percent of their fee net of bank
                                   fees, to the charity they chose
=====================  ==========  =====================================================

Decisions:

* Stamp duty (imposta di bollo, art. 13 Tariffa D.P.R. 642/1972): the amount compared
  with EUR 77.47 is the VAT-exempt amount invoiced to the patient for the service:
  the doctor's fee plus the platform fee when the platform fee is exempt. When staff
  make the platform fee taxable, it is not an exempt amount and does not count. The
  duty is due only when that amount is strictly greater than 77.47 (77.47 pays none,
  77.48 pays 2.00); it is charged to the patient, added to their total, and is itself
  outside the scope of VAT (art. 15 D.P.R. 633/1972).
* Donation: computed on the doctor's fee net of bank fees, so that a 100% donation
  gives the charity everything the doctor would have received and leaves the doctor
  exactly 0, never a negative payout.
* Bank fees are capped at the doctor's fee: a payout never goes below zero.
* A free service (an Info request, or a fee of 0) has no lines at all: no platform
  fee, no stamp duty, no bank fees; the total is 0.
"""

import datetime
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.formats import localize
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from telemed.accounts.models import DoctorProfile
from telemed.billing import selectors
from telemed.billing.models import FREE_KINDS, SERVICES, ServiceKind, Tariff, service_label

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
HUNDRED = Decimal("100")
STAMP_DUTY = Decimal("2.00")
STAMP_DUTY_THRESHOLD = Decimal("77.47")
VAT_EXEMPTION_LAW = "art. 10, comma 1, n. 18, D.P.R. 633/1972"
STAMP_DUTY_VAT_LAW = "art. 15 D.P.R. 633/1972"


def round_cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


class LineCode(StrEnum):
    DOCTOR_FEE = "doctor_fee"
    PLATFORM_FEE = "platform_fee"
    STAMP_DUTY = "stamp_duty"
    BANK_FEE = "bank_fee"
    DONATION = "donation"


class Payer(StrEnum):
    PATIENT = "patient"
    DOCTOR = "doctor"


class VatTreatment(StrEnum):
    EXEMPT = "exempt"  # art. 10, comma 1, n. 18
    TAXABLE = "taxable"
    OUT_OF_SCOPE = "out_of_scope"  # the stamp duty
    NONE = "none"  # deductions from the doctor's payout: not a sale to the patient


LINE_LABELS = {
    LineCode.DOCTOR_FEE: _("Doctor's fee"),
    LineCode.PLATFORM_FEE: _("Platform service fee"),
    LineCode.STAMP_DUTY: _("Stamp duty (imposta di bollo)"),
    LineCode.BANK_FEE: _("Bank fees"),
    LineCode.DONATION: _("Donation"),
}
PAYER_LABELS = {Payer.PATIENT: _("Patient"), Payer.DOCTOR: _("Doctor (deducted from the payout)")}
VAT_LABELS = {
    VatTreatment.EXEMPT: _("Exempt from VAT"),
    VatTreatment.TAXABLE: _("VAT %(rate)s%%"),
    VatTreatment.OUT_OF_SCOPE: _("Outside the scope of VAT"),
    VatTreatment.NONE: "",
}


def _vat_exemption_note() -> str:
    return gettext("VAT-exempt healthcare service under %(law)s.") % {"law": VAT_EXEMPTION_LAW}


@dataclass(frozen=True)
class FeeRules:
    """Everything besides the doctor's fee that a price depends on, as in force at one moment."""

    platform_fee: Decimal = ZERO
    platform_fee_vat_rate: Decimal | None = None  # None: the platform fee is exempt
    bank_fee_fixed: Decimal = ZERO
    bank_fee_percent: Decimal = ZERO
    donation_percent: Decimal = ZERO
    charity_id: int | None = None
    charity_name: str = ""


@dataclass(frozen=True)
class Line:
    code: LineCode
    amount: Decimal  # without VAT
    payer: Payer
    vat_treatment: VatTreatment
    vat_rate: Decimal | None = None
    vat: Decimal = ZERO
    detail: str = ""  # e.g. the charity's name

    @property
    def total(self) -> Decimal:
        return self.amount + self.vat

    @property
    def label(self) -> str:
        return str(LINE_LABELS[self.code])

    @property
    def payer_label(self) -> str:
        return str(PAYER_LABELS[self.payer])

    @property
    def vat_label(self) -> str:
        label = VAT_LABELS[self.vat_treatment]
        if self.vat_treatment == VatTreatment.TAXABLE and self.vat_rate is not None:
            return str(label) % {"rate": localize(self.vat_rate.normalize())}
        return str(label)

    @property
    def paid_by_patient(self) -> bool:
        return self.payer == Payer.PATIENT


@dataclass(frozen=True)
class Breakdown:
    """The priced service: its lines, the patient's total and the doctor's net payout."""

    kind: str
    duration_minutes: int | None
    lines: tuple[Line, ...] = ()
    patient_total: Decimal = ZERO
    doctor_net: Decimal = ZERO
    tariff_id: int | None = None
    priced_at: datetime.datetime | None = field(default=None, compare=False)
    # The charity that receives the donation line, if any (its name is the line's detail).
    charity_id: int | None = None

    @property
    def is_free(self) -> bool:
        return not self.lines

    @property
    def service_label(self) -> str:
        return service_label(self.kind, self.duration_minutes)

    @property
    def patient_lines(self) -> tuple[Line, ...]:
        return tuple(line for line in self.lines if line.payer == Payer.PATIENT)

    @property
    def doctor_lines(self) -> tuple[Line, ...]:
        return tuple(line for line in self.lines if line.payer == Payer.DOCTOR)

    def line(self, code: LineCode) -> Line | None:
        return next((line for line in self.lines if line.code == code), None)

    def amount(self, code: LineCode) -> Decimal:
        line = self.line(code)
        return line.amount if line else ZERO

    @property
    def doctor_fee(self) -> Decimal:
        return self.amount(LineCode.DOCTOR_FEE)

    @property
    def vat_total(self) -> Decimal:
        return sum((line.vat for line in self.lines), ZERO)

    @property
    def exempt_amount(self) -> Decimal:
        """The VAT-exempt amount invoiced to the patient: the base of the stamp-duty threshold."""
        return sum((line.amount for line in self.patient_lines if line.vat_treatment == VatTreatment.EXEMPT), ZERO)

    @property
    def has_stamp_duty(self) -> bool:
        return self.line(LineCode.STAMP_DUTY) is not None

    @property
    def vat_exemption_law(self) -> str:
        return VAT_EXEMPTION_LAW

    @property
    def vat_exemption_note(self) -> str:
        return _vat_exemption_note()

    def split(self) -> "Split":
        """Where the patient's payment goes once received: every cent of ``patient_total`` once.

        The doctor is owed their net plus the stamp duty (the invoice is theirs, so the
        duty is theirs to pay to the State); the charity its donation; the platform its
        fee with the VAT on it (the platform pays that VAT); the bank fees cover the bank.
        """
        platform = sum((line.total for line in self.lines if line.code == LineCode.PLATFORM_FEE), ZERO)
        split = Split(
            doctor=self.doctor_net + self.amount(LineCode.STAMP_DUTY),
            charity=self.amount(LineCode.DONATION),
            platform=platform,
            bank_fees=self.amount(LineCode.BANK_FEE),
            charity_id=self.charity_id if self.amount(LineCode.DONATION) > 0 else None,
        )
        if split.total != self.patient_total:
            raise ValueError("the breakdown does not add up: its lines and its total disagree")
        return split

    def to_dict(self) -> dict:
        """A JSON-ready copy to store with a request: amounts as strings, nothing lost."""
        return {
            "kind": ServiceKind(self.kind).value,
            "duration_minutes": self.duration_minutes,
            "lines": [
                {
                    "code": line.code.value,
                    "amount": str(line.amount),
                    "payer": line.payer.value,
                    "vat_treatment": line.vat_treatment.value,
                    "vat_rate": None if line.vat_rate is None else str(line.vat_rate),
                    "vat": str(line.vat),
                    "detail": line.detail,
                }
                for line in self.lines
            ],
            "patient_total": str(self.patient_total),
            "doctor_net": str(self.doctor_net),
            "tariff_id": self.tariff_id,
            "priced_at": self.priced_at.isoformat() if self.priced_at else None,
            "charity_id": self.charity_id,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Breakdown":
        lines = tuple(
            Line(
                code=LineCode(item["code"]),
                amount=Decimal(item["amount"]),
                payer=Payer(item["payer"]),
                vat_treatment=VatTreatment(item["vat_treatment"]),
                vat_rate=None if item["vat_rate"] is None else Decimal(item["vat_rate"]),
                vat=Decimal(item["vat"]),
                detail=item.get("detail", ""),
            )
            for item in data["lines"]
        )
        priced_at = data.get("priced_at")
        return cls(
            kind=data["kind"],
            duration_minutes=data["duration_minutes"],
            lines=lines,
            patient_total=Decimal(data["patient_total"]),
            doctor_net=Decimal(data["doctor_net"]),
            tariff_id=data.get("tariff_id"),
            priced_at=datetime.datetime.fromisoformat(priced_at) if priced_at else None,
            charity_id=data.get("charity_id"),
        )


@dataclass(frozen=True)
class Split:
    """A received payment divided among those it belongs to (see ``Breakdown.split``)."""

    doctor: Decimal = ZERO
    charity: Decimal = ZERO
    platform: Decimal = ZERO
    bank_fees: Decimal = ZERO
    charity_id: int | None = None

    @property
    def total(self) -> Decimal:
        return self.doctor + self.charity + self.platform + self.bank_fees


@dataclass(frozen=True)
class StatementLine:
    """One service on a payout statement: what it earned and what was taken from it before the payee.

    For a doctor: ``net`` = ``fee`` − ``bank_fee`` − ``donation`` + ``stamp_duty`` (the duty is
    collected from the patient for the doctor, who pays it to the State). For a charity the
    line is the donation alone (``net`` = ``donation``). A credit note gives the same line negated.
    """

    fee: Decimal
    bank_fee: Decimal
    donation: Decimal
    stamp_duty: Decimal
    net: Decimal


def statement_line(breakdown: Breakdown, *, for_charity: bool = False, reversed_: bool = False) -> StatementLine:
    """The payout statement's line of one priced service (``reversed_`` for its credit note)."""
    split = breakdown.split()
    sign = -1 if reversed_ else 1
    if for_charity:
        return StatementLine(
            fee=ZERO, bank_fee=ZERO, donation=sign * split.charity, stamp_duty=ZERO, net=sign * split.charity
        )
    return StatementLine(
        fee=sign * breakdown.doctor_fee,
        bank_fee=sign * breakdown.amount(LineCode.BANK_FEE),
        donation=sign * breakdown.amount(LineCode.DONATION),
        stamp_duty=sign * breakdown.amount(LineCode.STAMP_DUTY),
        net=sign * split.doctor,
    )


def platform_only_split(amount: Decimal) -> Split:
    """A payment that is entirely the platform's (extra storage space): no doctor, no fees."""
    _check_amount(amount, "amount")
    return Split(platform=round_cents(amount))


def _check_amount(value: Decimal, name: str) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
        raise ValueError(f"{name} must be a non-negative Decimal")


def price(
    *,
    fee: Decimal,
    rules: FeeRules,
    kind: str = ServiceKind.BASE,
    duration_minutes: int | None = None,
    tariff_id: int | None = None,
    priced_at: datetime.datetime | None = None,
) -> Breakdown:
    """Price a service from its doctor's fee and the fee rules; no database access."""
    _check_amount(fee, "fee")
    for name in ("platform_fee", "bank_fee_fixed", "bank_fee_percent", "donation_percent"):
        _check_amount(getattr(rules, name), name)
    kind = ServiceKind(kind)
    doctor_fee = round_cents(fee)
    empty = Breakdown(kind=kind, duration_minutes=duration_minutes, tariff_id=tariff_id, priced_at=priced_at)
    if kind in FREE_KINDS or doctor_fee == 0:
        return empty

    lines = [Line(LineCode.DOCTOR_FEE, doctor_fee, Payer.PATIENT, VatTreatment.EXEMPT)]

    platform_fee = round_cents(rules.platform_fee)
    if platform_fee > 0:
        if rules.platform_fee_vat_rate is None:
            lines.append(Line(LineCode.PLATFORM_FEE, platform_fee, Payer.PATIENT, VatTreatment.EXEMPT))
        else:
            rate = rules.platform_fee_vat_rate
            vat = round_cents(platform_fee * rate / HUNDRED)
            lines.append(Line(LineCode.PLATFORM_FEE, platform_fee, Payer.PATIENT, VatTreatment.TAXABLE, rate, vat))

    # The stamp-duty base: the VAT-exempt amount invoiced to the patient (see the module's docstring).
    exempt_amount = sum((line.amount for line in lines if line.vat_treatment == VatTreatment.EXEMPT), ZERO)
    if exempt_amount > STAMP_DUTY_THRESHOLD:
        lines.append(Line(LineCode.STAMP_DUTY, STAMP_DUTY, Payer.PATIENT, VatTreatment.OUT_OF_SCOPE))

    bank_fee = min(round_cents(rules.bank_fee_fixed + doctor_fee * rules.bank_fee_percent / HUNDRED), doctor_fee)
    if bank_fee > 0:
        lines.append(Line(LineCode.BANK_FEE, bank_fee, Payer.DOCTOR, VatTreatment.NONE))

    # The donation is a share of what the doctor would receive: their fee net of bank fees.
    donation_percent = min(rules.donation_percent, HUNDRED)
    donation = round_cents((doctor_fee - bank_fee) * donation_percent / HUNDRED)
    if donation > 0:
        lines.append(Line(LineCode.DONATION, donation, Payer.DOCTOR, VatTreatment.NONE, detail=rules.charity_name))

    patient_total = sum((line.total for line in lines if line.payer == Payer.PATIENT), ZERO)
    doctor_net = doctor_fee - sum((line.amount for line in lines if line.payer == Payer.DOCTOR), ZERO)
    return Breakdown(
        kind=kind,
        duration_minutes=duration_minutes,
        lines=tuple(lines),
        patient_total=patient_total,
        doctor_net=doctor_net,
        tariff_id=tariff_id,
        priced_at=priced_at,
        charity_id=rules.charity_id if donation > 0 else None,
    )


# --- with the database: the rules in force and the doctor's tariff --------------------------------


def fee_rules_for(*, doctor: DoctorProfile | None, kind: str, when: datetime.datetime | None = None) -> FeeRules:
    """The staff-set rules in force at ``when`` (default: now) and the doctor's current donation choice."""
    when = when or timezone.now()
    return _fee_rules(
        platform_fee=selectors.platform_fee_at(kind, when),
        vat=selectors.vat_setting_at(when),
        bank=selectors.bank_fee_at(when),
        settings=selectors.billing_settings_of(doctor) if doctor is not None else None,
    )


def _fee_rules(*, platform_fee, vat, bank, settings) -> FeeRules:
    donation_percent, charity = ZERO, None
    if settings is not None and settings.charity is not None and settings.donation_percent > 0:
        donation_percent, charity = settings.donation_percent, settings.charity
    return FeeRules(
        platform_fee=platform_fee.fee if platform_fee else ZERO,
        platform_fee_vat_rate=None if vat is None or vat.platform_fee_exempt else vat.platform_fee_rate,
        bank_fee_fixed=bank.fixed if bank else ZERO,
        bank_fee_percent=bank.percent if bank else ZERO,
        donation_percent=donation_percent,
        charity_id=charity.pk if charity else None,
        charity_name=charity.name if charity else "",
    )


def price_tariff(tariff: Tariff, *, when: datetime.datetime | None = None) -> Breakdown:
    """Price one tariff version with the rules in force at ``when`` (default: now)."""
    when = when or timezone.now()
    return price(
        fee=tariff.fee,
        rules=fee_rules_for(doctor=tariff.doctor, kind=tariff.kind, when=when),
        kind=tariff.kind,
        duration_minutes=tariff.duration_minutes,
        tariff_id=tariff.pk,
        priced_at=when,
    )


def price_tariffs(
    doctor: DoctorProfile, tariffs: list[Tariff], *, when: datetime.datetime | None = None
) -> list[Breakdown]:
    """Price several tariff versions of one doctor, each as ``price_tariff`` would: the rules in
    force are read once for all of them, not once per tariff (a price list shows them all)."""
    when = when or timezone.now()
    fees = selectors.platform_fees_at(when)
    vat, bank, settings = (
        selectors.vat_setting_at(when),
        selectors.bank_fee_at(when),
        selectors.billing_settings_of(doctor),
    )
    return [
        price(
            fee=tariff.fee,
            rules=_fee_rules(platform_fee=fees.get(tariff.kind), vat=vat, bank=bank, settings=settings),
            kind=tariff.kind,
            duration_minutes=tariff.duration_minutes,
            tariff_id=tariff.pk,
            priced_at=when,
        )
        for tariff in tariffs
    ]


def price_service(
    *, doctor: DoctorProfile, kind: str, duration: int | None = None, when: datetime.datetime | None = None
) -> Breakdown:
    """Price a service of a doctor as it was (or is) at ``when``: their tariff then, the rules then.

    Raises ValidationError if the doctor did not offer the service at that moment.
    The donation share always follows the doctor's current choice: a request stores
    its breakdown (``Breakdown.to_dict``) when it is made, and that copy is the record.
    """
    when = when or timezone.now()
    tariff = selectors.tariff_at(doctor, kind, when, duration)
    if tariff is None or not tariff.offered:
        raise ValidationError(
            gettext("%(doctor)s does not offer this service: %(service)s.")
            % {"doctor": doctor, "service": service_label(kind, duration)}
        )
    return price_tariff(tariff, when=when)


@dataclass(frozen=True)
class PricedService:
    kind: str
    duration_minutes: int | None
    tariff: Tariff
    breakdown: Breakdown

    @property
    def label(self) -> str:
        return service_label(self.kind, self.duration_minutes)


def price_list(doctor: DoctorProfile) -> list[PricedService]:
    """The services a doctor offers now, in catalogue order, each priced as a patient would pay today."""
    tariffs = {(t.kind, t.duration_minutes): t for t in selectors.tariffs_offered_by(doctor)}
    offered = [
        (kind, duration, tariffs[(kind, duration)]) for kind, duration in SERVICES if (kind, duration) in tariffs
    ]
    breakdowns = price_tariffs(doctor, [tariff for _kind, _duration, tariff in offered])
    return [
        PricedService(kind, duration, tariff, breakdown)
        for (kind, duration, tariff), breakdown in zip(offered, breakdowns, strict=True)
    ]
