"""The pricing module: a table of cases computed by hand, then prices that must not move over time."""

import datetime
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from telemed.billing import donations, pricing, selectors, tariffs
from telemed.billing.models import ServiceKind
from telemed.billing.pricing import Breakdown, FeeRules, LineCode, Payer, VatTreatment, price

# The rules of a fresh installation: platform fee 3.00 exempt, bank fee 0.50, no donation.
DEFAULT = {"platform_fee": D("3.00"), "bank_fee_fixed": D("0.50")}


def rules(**changes) -> FeeRules:
    return FeeRules(**{**DEFAULT, **changes})


TAXABLE = {"platform_fee_vat_rate": D("22.00")}

# id, kind, doctor's fee, rules, expected lines {code: amount}, VAT on the platform fee, patient total, doctor net
CASES = [
    (
        "base-45",
        "base",
        "45.00",
        rules(),
        {"doctor_fee": "45.00", "platform_fee": "3.00", "bank_fee": "0.50"},
        "0.00",
        "48.00",
        "44.50",
    ),
    (
        "exempt-total-77.47-no-bollo",
        "base",
        "74.47",
        rules(),
        {"doctor_fee": "74.47", "platform_fee": "3.00", "bank_fee": "0.50"},
        "0.00",
        "77.47",
        "73.97",
    ),
    (
        "exempt-total-77.48-bollo",
        "base",
        "74.48",
        rules(),
        {"doctor_fee": "74.48", "platform_fee": "3.00", "stamp_duty": "2.00", "bank_fee": "0.50"},
        "0.00",
        "79.48",
        "73.98",
    ),
    (
        "fee-77.47-no-platform-fee",
        "base",
        "77.47",
        rules(platform_fee=D("0")),
        {"doctor_fee": "77.47", "bank_fee": "0.50"},
        "0.00",
        "77.47",
        "76.97",
    ),
    (
        "fee-77.48-no-platform-fee",
        "base",
        "77.48",
        rules(platform_fee=D("0")),
        {"doctor_fee": "77.48", "stamp_duty": "2.00", "bank_fee": "0.50"},
        "0.00",
        "79.48",
        "76.98",
    ),
    ("fee-zero-is-free", "base", "0.00", rules(), {}, "0.00", "0.00", "0.00"),
    ("video-fee-zero-is-free", "video", "0", rules(platform_fee=D("4.00")), {}, "0.00", "0.00", "0.00"),
    ("info-is-free", "info", "0.00", rules(), {}, "0.00", "0.00", "0.00"),
    ("info-is-free-whatever-the-fee", "info", "50.00", rules(donation_percent=D("10")), {}, "0.00", "0.00", "0.00"),
    (
        "taxable-platform-fee",
        "base",
        "45.00",
        rules(**TAXABLE),
        {"doctor_fee": "45.00", "platform_fee": "3.00", "bank_fee": "0.50"},
        "0.66",
        "48.66",
        "44.50",
    ),
    (
        "taxable-platform-fee-out-of-bollo-base",
        "base",
        "76.00",
        rules(**TAXABLE),
        {"doctor_fee": "76.00", "platform_fee": "3.00", "bank_fee": "0.50"},
        "0.66",
        "79.66",
        "75.50",
    ),
    (
        "exempt-platform-fee-in-bollo-base",
        "base",
        "76.00",
        rules(),
        {"doctor_fee": "76.00", "platform_fee": "3.00", "stamp_duty": "2.00", "bank_fee": "0.50"},
        "0.00",
        "81.00",
        "75.50",
    ),
    (
        "taxable-fee-77.47-no-bollo",
        "base",
        "77.47",
        rules(**TAXABLE),
        {"doctor_fee": "77.47", "platform_fee": "3.00", "bank_fee": "0.50"},
        "0.66",
        "81.13",
        "76.97",
    ),
    (
        "taxable-fee-77.48-bollo",
        "base",
        "77.48",
        rules(**TAXABLE),
        {"doctor_fee": "77.48", "platform_fee": "3.00", "stamp_duty": "2.00", "bank_fee": "0.50"},
        "0.66",
        "83.14",
        "76.98",
    ),
    (
        "vat-odd-cents",
        "base",
        "40.00",
        rules(platform_fee=D("3.33"), **TAXABLE),
        {"doctor_fee": "40.00", "platform_fee": "3.33", "bank_fee": "0.50"},
        "0.73",
        "44.06",
        "39.50",
    ),
    (
        "vat-half-up-not-half-even",
        "base",
        "40.00",
        rules(platform_fee=D("2.75"), **TAXABLE),
        {"doctor_fee": "40.00", "platform_fee": "2.75", "bank_fee": "0.50"},
        "0.61",
        "43.36",
        "39.50",
    ),
    (
        "vat-10-percent-half-up",
        "base",
        "40.00",
        rules(platform_fee=D("4.05"), platform_fee_vat_rate=D("10")),
        {"doctor_fee": "40.00", "platform_fee": "4.05", "bank_fee": "0.50"},
        "0.41",
        "44.46",
        "39.50",
    ),
    (
        "donation-0",
        "base",
        "45.00",
        rules(donation_percent=D("0")),
        {"doctor_fee": "45.00", "platform_fee": "3.00", "bank_fee": "0.50"},
        "0.00",
        "48.00",
        "44.50",
    ),
    (
        "donation-10",
        "base",
        "45.00",
        rules(donation_percent=D("10")),
        {"doctor_fee": "45.00", "platform_fee": "3.00", "bank_fee": "0.50", "donation": "4.45"},
        "0.00",
        "48.00",
        "40.05",
    ),
    (
        "donation-100",
        "base",
        "45.00",
        rules(donation_percent=D("100")),
        {"doctor_fee": "45.00", "platform_fee": "3.00", "bank_fee": "0.50", "donation": "44.50"},
        "0.00",
        "48.00",
        "0.00",
    ),
    (
        "donation-10-odd-cents-half-up",
        "base",
        "45.55",
        rules(donation_percent=D("10")),
        {"doctor_fee": "45.55", "platform_fee": "3.00", "bank_fee": "0.50", "donation": "4.51"},
        "0.00",
        "48.55",
        "40.54",
    ),
    (
        "donation-33.33-percent",
        "base",
        "100.00",
        rules(donation_percent=D("33.33")),
        {"doctor_fee": "100.00", "platform_fee": "3.00", "stamp_duty": "2.00", "bank_fee": "0.50", "donation": "33.16"},
        "0.00",
        "105.00",
        "66.34",
    ),
    (
        "donation-100-taxable-and-bollo",
        "base",
        "80.00",
        rules(donation_percent=D("100"), **TAXABLE),
        {"doctor_fee": "80.00", "platform_fee": "3.00", "stamp_duty": "2.00", "bank_fee": "0.50", "donation": "79.50"},
        "0.66",
        "85.66",
        "0.00",
    ),
    (
        "bank-fee-fixed-plus-percent",
        "base",
        "45.00",
        rules(bank_fee_fixed=D("0.25"), bank_fee_percent=D("1.5")),
        {"doctor_fee": "45.00", "platform_fee": "3.00", "bank_fee": "0.93"},
        "0.00",
        "48.00",
        "44.07",
    ),
    (
        "bank-fee-percent-odd-cents",
        "base",
        "33.33",
        rules(bank_fee_fixed=D("0.25"), bank_fee_percent=D("1.4")),
        {"doctor_fee": "33.33", "platform_fee": "3.00", "bank_fee": "0.72"},
        "0.00",
        "36.33",
        "32.61",
    ),
    (
        "bank-fee-capped-at-fee",
        "base",
        "0.30",
        rules(),
        {"doctor_fee": "0.30", "platform_fee": "3.00", "bank_fee": "0.30"},
        "0.00",
        "3.30",
        "0.00",
    ),
    (
        "smallest-fee",
        "base",
        "0.01",
        rules(donation_percent=D("50")),
        {"doctor_fee": "0.01", "platform_fee": "3.00", "bank_fee": "0.01"},
        "0.00",
        "3.01",
        "0.00",
    ),
    (
        "no-bank-fee",
        "base",
        "45.00",
        rules(bank_fee_fixed=D("0")),
        {"doctor_fee": "45.00", "platform_fee": "3.00"},
        "0.00",
        "48.00",
        "45.00",
    ),
    (
        "no-platform-fee",
        "base",
        "45.00",
        rules(platform_fee=D("0")),
        {"doctor_fee": "45.00", "bank_fee": "0.50"},
        "0.00",
        "45.00",
        "44.50",
    ),
    (
        "donation-50-with-bank-percent",
        "base",
        "50.00",
        rules(bank_fee_percent=D("2"), donation_percent=D("50")),
        {"doctor_fee": "50.00", "platform_fee": "3.00", "bank_fee": "1.50", "donation": "24.25"},
        "0.00",
        "53.00",
        "24.25",
    ),
    (
        "video-30",
        "video",
        "60.00",
        rules(platform_fee=D("4.00")),
        {"doctor_fee": "60.00", "platform_fee": "4.00", "bank_fee": "0.50"},
        "0.00",
        "64.00",
        "59.50",
    ),
    (
        "video-60-bollo",
        "video",
        "120.00",
        rules(platform_fee=D("4.00")),
        {"doctor_fee": "120.00", "platform_fee": "4.00", "stamp_duty": "2.00", "bank_fee": "0.50"},
        "0.00",
        "126.00",
        "119.50",
    ),
    (
        "priority-bollo",
        "priority",
        "74.47",
        rules(platform_fee=D("5.00")),
        {"doctor_fee": "74.47", "platform_fee": "5.00", "stamp_duty": "2.00", "bank_fee": "0.50"},
        "0.00",
        "81.47",
        "73.97",
    ),
    (
        "imaging-77.47-no-bollo",
        "imaging",
        "73.47",
        rules(platform_fee=D("4.00")),
        {"doctor_fee": "73.47", "platform_fee": "4.00", "bank_fee": "0.50"},
        "0.00",
        "77.47",
        "72.97",
    ),
    (
        "imaging-77.48-bollo",
        "imaging",
        "73.48",
        rules(platform_fee=D("4.00")),
        {"doctor_fee": "73.48", "platform_fee": "4.00", "stamp_duty": "2.00", "bank_fee": "0.50"},
        "0.00",
        "79.48",
        "72.98",
    ),
    (
        "largest-fee-donation-10",
        "base",
        "10000.00",
        rules(donation_percent=D("10")),
        {
            "doctor_fee": "10000.00",
            "platform_fee": "3.00",
            "stamp_duty": "2.00",
            "bank_fee": "0.50",
            "donation": "999.95",
        },
        "0.00",
        "10005.00",
        "8999.55",
    ),
]


@pytest.mark.parametrize(
    ("kind", "fee", "fee_rules", "lines", "platform_vat", "total", "net"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_price(kind, fee, fee_rules, lines, platform_vat, total, net):
    breakdown = price(fee=D(fee), rules=fee_rules, kind=kind)

    assert {line.code.value: str(line.amount) for line in breakdown.lines} == lines
    platform = breakdown.line(LineCode.PLATFORM_FEE)
    assert str(platform.vat if platform else D("0.00")) == platform_vat
    assert str(breakdown.patient_total) == total
    assert str(breakdown.doctor_net) == net
    # What every breakdown must satisfy, whatever the numbers.
    assert breakdown.patient_total == sum((line.total for line in breakdown.patient_lines), D("0"))
    assert breakdown.doctor_net == breakdown.doctor_fee - sum((line.amount for line in breakdown.doctor_lines), D("0"))
    assert breakdown.doctor_net >= 0
    for line in breakdown.lines:
        assert line.amount.as_tuple().exponent == -2 and line.vat.as_tuple().exponent == -2
    assert breakdown.is_free == (lines == {})


def test_there_are_at_least_30_cases():
    assert len(CASES) >= 30


def test_who_pays_what_and_the_vat_treatment():
    breakdown = price(fee=D("100.00"), rules=rules(donation_percent=D("10"), charity_name="Test ETS"))
    by_code = {line.code: line for line in breakdown.lines}
    assert by_code[LineCode.DOCTOR_FEE].payer == Payer.PATIENT
    assert by_code[LineCode.DOCTOR_FEE].vat_treatment == VatTreatment.EXEMPT
    assert by_code[LineCode.PLATFORM_FEE].vat_treatment == VatTreatment.EXEMPT
    assert by_code[LineCode.STAMP_DUTY].payer == Payer.PATIENT
    assert by_code[LineCode.STAMP_DUTY].vat_treatment == VatTreatment.OUT_OF_SCOPE
    assert by_code[LineCode.BANK_FEE].payer == Payer.DOCTOR
    assert by_code[LineCode.DONATION].payer == Payer.DOCTOR
    assert by_code[LineCode.DONATION].detail == "Test ETS"
    # Bank fees and donations never reach the patient's total.
    assert breakdown.patient_total == D("105.00")
    assert breakdown.exempt_amount == D("103.00")
    assert "art. 10, comma 1, n. 18, D.P.R. 633/1972" in breakdown.vat_exemption_note


def test_taxable_platform_fee_line_carries_the_vat():
    breakdown = price(fee=D("45.00"), rules=rules(**TAXABLE))
    platform = breakdown.line(LineCode.PLATFORM_FEE)
    assert platform.vat_treatment == VatTreatment.TAXABLE
    assert (platform.vat_rate, platform.vat, platform.total) == (D("22.00"), D("0.66"), D("3.66"))
    assert breakdown.exempt_amount == D("45.00")
    assert breakdown.vat_total == D("0.66")


def test_breakdown_is_frozen_and_survives_a_round_trip():
    breakdown = price(
        fee=D("80.00"), rules=rules(donation_percent=D("10"), **TAXABLE), kind="video", duration_minutes=30
    )
    with pytest.raises(AttributeError):
        breakdown.patient_total = D("1.00")
    assert Breakdown.from_dict(breakdown.to_dict()) == breakdown


def test_float_is_refused():
    with pytest.raises(ValueError):
        price(fee=45.0, rules=rules())


def test_negative_fee_is_refused():
    with pytest.raises(ValueError):
        price(fee=D("-1.00"), rules=rules())


# --- with the database ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_seeded_rules_price_a_service(doctor):
    tariffs.tariff_set(
        actor=doctor.user, doctor=doctor, kind="base", fee=D("45.00"), response_value=72, response_unit="hours"
    )
    breakdown = pricing.price_service(doctor=doctor, kind="base")
    # Platform fee 3.00 exempt, bank fee 0.50: the defaults of the data migration.
    assert (breakdown.patient_total, breakdown.doctor_net) == (D("48.00"), D("44.50"))
    assert breakdown.tariff_id == selectors.tariff_current_for(doctor, "base").pk


@pytest.mark.django_db
def test_a_tariff_changed_after_a_request_keeps_the_old_price(doctor):
    old = tariffs.tariff_set(
        actor=doctor.user, doctor=doctor, kind="base", fee=D("45.00"), response_value=72, response_unit="hours"
    )
    requested_at = timezone.now()
    at_request = pricing.price_service(doctor=doctor, kind="base", when=requested_at)
    stored = at_request.to_dict()  # what a request keeps

    new = tariffs.tariff_set(
        actor=doctor.user, doctor=doctor, kind="base", fee=D("90.00"), response_value=72, response_unit="hours"
    )

    assert new.pk != old.pk
    assert pricing.price_service(doctor=doctor, kind="base").patient_total == D("95.00")  # 90 + 3 + bollo 2
    assert pricing.price_service(doctor=doctor, kind="base", when=requested_at) == at_request
    assert pricing.price_tariff(selectors.tariff_version(stored["tariff_id"]), when=requested_at) == at_request
    assert Breakdown.from_dict(stored).patient_total == D("48.00")
    assert selectors.tariff_at(doctor, "base", requested_at).fee == D("45.00")


@pytest.mark.django_db
def test_a_platform_fee_changed_after_a_request_keeps_the_old_price(doctor, staff):
    tariffs.tariff_set(
        actor=doctor.user, doctor=doctor, kind="priority", fee=D("50.00"), response_value=24, response_unit="hours"
    )
    requested_at = timezone.now()
    tariffs.platform_fee_set(actor=staff, kind="priority", fee=D("7.50"))
    assert pricing.price_service(doctor=doctor, kind="priority", when=requested_at).patient_total == D("55.00")
    assert pricing.price_service(doctor=doctor, kind="priority").patient_total == D("57.50")


@pytest.mark.django_db
def test_staff_make_the_platform_fee_taxable(doctor, staff):
    tariffs.tariff_set(
        actor=doctor.user, doctor=doctor, kind="base", fee=D("76.00"), response_value=3, response_unit="working_days"
    )
    assert pricing.price_service(doctor=doctor, kind="base").has_stamp_duty  # 76 + 3 exempt > 77.47
    tariffs.vat_setting_set(actor=staff, platform_fee_exempt=False, platform_fee_rate=D("22.00"))
    breakdown = pricing.price_service(doctor=doctor, kind="base")
    assert not breakdown.has_stamp_duty  # only the doctor's 76.00 is exempt now
    assert breakdown.line(LineCode.PLATFORM_FEE).vat == D("0.66")
    assert breakdown.patient_total == D("79.66")


@pytest.mark.django_db
def test_the_doctors_donation_is_in_the_breakdown(doctor, charity):
    tariffs.tariff_set(actor=doctor.user, doctor=doctor, kind="video", duration_minutes=30, fee=D("60.00"))
    donations.donation_set(actor=doctor.user, percent=D("10"), charity=charity)
    breakdown = pricing.price_service(doctor=doctor, kind="video", duration=30)
    donation = breakdown.line(LineCode.DONATION)
    assert (donation.amount, donation.detail) == (D("5.95"), charity.name)
    assert breakdown.doctor_net == D("53.55")


@pytest.mark.django_db
def test_a_service_not_offered_cannot_be_priced(doctor):
    with pytest.raises(ValidationError):
        pricing.price_service(doctor=doctor, kind="base")
    tariffs.tariff_set(actor=doctor.user, doctor=doctor, kind="base", fee=D("45.00"), offered=False)
    with pytest.raises(ValidationError):
        pricing.price_service(doctor=doctor, kind="base")
    with pytest.raises(ValidationError):
        pricing.price_service(doctor=doctor, kind="base", when=timezone.now() - datetime.timedelta(days=1))


@pytest.mark.django_db
def test_price_list_follows_the_catalogue(doctor):
    tariffs.tariff_set(actor=doctor.user, doctor=doctor, kind="video", duration_minutes=60, fee=D("120.00"))
    tariffs.tariff_set(actor=doctor.user, doctor=doctor, kind="info", fee=D("0"))
    tariffs.tariff_set(
        actor=doctor.user, doctor=doctor, kind="base", fee=D("45.00"), response_value=72, response_unit="hours"
    )
    listed = pricing.price_list(doctor)
    assert [(item.kind, item.duration_minutes) for item in listed] == [("info", None), ("base", None), ("video", 60)]
    assert listed[0].breakdown.is_free
    assert listed[2].breakdown.has_stamp_duty
    assert listed[2].breakdown.kind == ServiceKind.VIDEO


@pytest.mark.django_db
def test_a_price_list_prices_each_tariff_as_it_would_alone_with_the_rules_read_once(doctor, staff, charity):
    for kind, fee in (("base", "45.00"), ("priority", "76.00"), ("imaging", "60.00")):
        tariffs.tariff_set(
            actor=doctor.user, doctor=doctor, kind=kind, fee=D(fee), response_value=3, response_unit="working_days"
        )
    tariffs.tariff_set(actor=doctor.user, doctor=doctor, kind="video", duration_minutes=30, fee=D("60.00"))
    tariffs.platform_fee_set(actor=staff, kind="priority", fee=D("7.50"))
    tariffs.vat_setting_set(actor=staff, platform_fee_exempt=False, platform_fee_rate=D("22.00"))
    donations.donation_set(actor=doctor.user, percent=D("10"), charity=charity)
    offered = list(selectors.tariffs_offered_by(doctor))
    now = timezone.now()

    with CaptureQueriesContext(connection) as queries:
        together = pricing.price_tariffs(doctor, offered, when=now)

    assert together == [pricing.price_tariff(tariff, when=now) for tariff in offered]
    assert len(queries) == 4  # platform fees, VAT, bank fees, the doctor's donation: whatever the number of tariffs
