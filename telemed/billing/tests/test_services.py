"""Billing's services: who may set what, what is refused (and then nothing is stored), and the history kept."""

from decimal import Decimal as D

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone, translation

from telemed.billing import donations, selectors, tariffs
from telemed.billing.models import BankFeeSetting, DoctorBillingSettings, PlatformFee, Tariff, VatSetting

pytestmark = pytest.mark.django_db

BASE = {"kind": "base", "fee": D("45.00"), "response_value": 72, "response_unit": "hours"}


def set_base(actor, doctor, **changes):
    return tariffs.tariff_set(actor=actor, doctor=doctor, **{**BASE, **changes})


# --- tariffs: versions ----------------------------------------------------------------------------


def test_a_doctor_sets_a_tariff(doctor):
    tariff = set_base(doctor.user, doctor)
    assert (tariff.fee, tariff.response_value, tariff.response_unit, tariff.offered) == (D("45.00"), 72, "hours", True)
    assert tariff.set_by == doctor.user and tariff.set_by_structure is None
    assert selectors.tariff_current_for(doctor, "base") == tariff


def test_a_change_closes_the_old_version_and_keeps_it(doctor):
    first = set_base(doctor.user, doctor)
    between = timezone.now()
    second = set_base(doctor.user, doctor, fee=D("50.00"))
    first.refresh_from_db()
    assert first.valid_to == second.valid_from and second.valid_to is None
    assert selectors.tariff_at(doctor, "base", between) == first
    assert selectors.tariff_current_for(doctor, "base") == second
    assert Tariff.objects.filter(doctor=doctor).count() == 2


def test_saving_the_same_values_adds_no_version(doctor):
    first = set_base(doctor.user, doctor)
    assert set_base(doctor.user, doctor) == first
    assert Tariff.objects.filter(doctor=doctor).count() == 1


def test_video_durations_each_have_their_own_fee(doctor):
    for minutes, fee in [(15, "25.00"), (30, "45.00"), (60, "80.00")]:
        tariffs.tariff_set(actor=doctor.user, doctor=doctor, kind="video", duration_minutes=minutes, fee=D(fee))
    assert selectors.tariff_current_for(doctor, "video", 30).fee == D("45.00")
    assert selectors.tariff_current_for(doctor, "video", 60).fee == D("80.00")
    assert selectors.tariff_current_for(doctor, "video", 45) is None
    assert selectors.tariff_current_for(doctor, "video") is None


def test_a_tariff_before_any_version_is_none(doctor):
    before = timezone.now()
    set_base(doctor.user, doctor)
    assert selectors.tariff_at(doctor, "base", before) is None


def test_info_requests_are_free_and_may_have_a_response_time(doctor):
    tariff = tariffs.tariff_set(
        actor=doctor.user, doctor=doctor, kind="info", fee=D("0"), response_value=2, response_unit="working_days"
    )
    assert tariff.is_free and tariff.response_value == 2


def test_a_service_can_be_withdrawn(doctor):
    set_base(doctor.user, doctor)
    withdrawn = set_base(doctor.user, doctor, offered=False, response_value=None, response_unit=None)
    assert not withdrawn.offered
    assert not selectors.tariffs_offered_by(doctor).exists()


def test_limits_that_are_accepted(doctor):
    assert set_base(doctor.user, doctor, fee=D("10000.00")).fee == D("10000.00")
    assert set_base(doctor.user, doctor, response_value=1440, response_unit="hours").response_value == 1440
    assert set_base(doctor.user, doctor, response_value=60, response_unit="working_days").response_value == 60
    assert set_base(doctor.user, doctor, fee="45,50").fee == D("45.50")


# --- tariffs: refused input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"fee": D("-1.00")}, "fee"),
        ({"fee": D("10000.01")}, "fee"),
        ({"fee": D("45.005")}, "fee"),
        ({"fee": "forty"}, "fee"),
        ({"fee": "NaN"}, "fee"),
        ({"fee": "1e40"}, "fee"),
        ({"fee": None}, "fee"),
        ({"response_value": 0}, "response_value"),
        ({"response_value": 61, "response_unit": "working_days"}, "response_value"),
        ({"response_value": 1441, "response_unit": "hours"}, "response_value"),
        ({"response_value": "2.5"}, "response_value"),
        ({"response_value": None, "response_unit": None}, "response_value"),
        ({"response_unit": "weeks"}, "response_unit"),
        ({"duration_minutes": 30}, "duration_minutes"),
        ({"kind": "video", "duration_minutes": 20, "response_value": None, "response_unit": None}, "duration_minutes"),
        (
            {"kind": "video", "duration_minutes": None, "response_value": None, "response_unit": None},
            "duration_minutes",
        ),
        ({"kind": "video", "duration_minutes": 30}, "response_value"),
        ({"kind": "info", "fee": D("5.00")}, "fee"),
        ({"kind": "surgery"}, "kind"),
    ],
)
def test_bad_tariffs_are_refused_and_nothing_is_stored(doctor, changes, field):
    set_base(doctor.user, doctor)
    with pytest.raises(ValidationError) as caught:
        set_base(doctor.user, doctor, **changes)
    assert field in caught.value.message_dict
    assert all(message for message in caught.value.messages)
    assert Tariff.objects.filter(doctor=doctor).count() == 1
    assert selectors.tariff_current_for(doctor, "base").fee == D("45.00")


def test_floats_are_a_programming_error(doctor):
    with pytest.raises(TypeError):
        set_base(doctor.user, doctor, fee=45.0)


# --- tariffs: the structure ----------------------------------------------------------------------


def test_the_structure_manager_sets_a_doctors_tariff(structure_doctor, manager, structure):
    set_base(structure_doctor.user, structure_doctor)
    tariff = set_base(manager, structure_doctor, fee=D("60.00"))
    assert tariff.set_by == manager and tariff.set_by_structure == structure
    assert selectors.tariff_current_for(structure_doctor, "base").fee == D("60.00")


def test_the_doctor_cannot_override_the_structure(structure_doctor, manager):
    set_base(manager, structure_doctor, fee=D("60.00"))
    with translation.override("en"), pytest.raises(ValidationError) as caught:
        set_base(structure_doctor.user, structure_doctor, fee=D("40.00"))
    assert "manager" in caught.value.messages[0]
    assert Tariff.objects.filter(doctor=structure_doctor).count() == 1


def test_the_doctor_keeps_other_services_of_their_own(structure_doctor, manager):
    set_base(manager, structure_doctor, fee=D("60.00"))
    video = tariffs.tariff_set(
        actor=structure_doctor.user, doctor=structure_doctor, kind="video", duration_minutes=30, fee=D("50.00")
    )
    assert video.set_by_structure is None


def test_after_leaving_the_structure_the_doctor_sets_their_tariff_again(structure_doctor, manager):
    set_base(manager, structure_doctor, fee=D("60.00"))
    structure_doctor.structure = None
    structure_doctor.save(update_fields=["structure"])
    tariff = set_base(structure_doctor.user, structure_doctor, fee=D("40.00"))
    assert tariff.set_by_structure is None and tariff.fee == D("40.00")


def test_a_manager_cannot_touch_a_doctor_outside_the_structure(manager, doctor):
    with pytest.raises(PermissionDenied):
        set_base(manager, doctor)


def test_another_structures_manager_is_refused(structure_doctor, make_structure):
    other = make_structure("Altro centro").managers.get().user
    with pytest.raises(PermissionDenied):
        set_base(other, structure_doctor)


@pytest.mark.parametrize("who", ["patient", "other_doctor", "staff"])
def test_others_cannot_set_a_doctors_tariff(request, doctor, make_doctor, who):
    actor = make_doctor("Giulia", "Russo").user if who == "other_doctor" else request.getfixturevalue(who)
    with pytest.raises(PermissionDenied):
        set_base(actor, doctor)
    assert not Tariff.objects.exists()


# --- donation --------------------------------------------------------------------------------------


def test_a_doctor_chooses_a_donation(doctor, charity):
    settings = donations.donation_set(actor=doctor.user, percent=D("10"), charity=charity)
    assert (settings.donation_percent, settings.charity) == (D("10.00"), charity)
    settings = donations.donation_set(actor=doctor.user, percent=D("0"), charity=None)
    assert settings.donation_percent == 0 and settings.charity is None


@pytest.mark.parametrize(
    ("percent", "use_charity", "field"),
    [
        (D("101"), True, "percent"),
        (D("-1"), True, "percent"),
        (D("10.555"), True, "percent"),
        ("ten", True, "percent"),
        (D("10"), False, "charity"),
    ],
)
def test_bad_donations_are_refused(doctor, charity, percent, use_charity, field):
    with pytest.raises(ValidationError) as caught:
        donations.donation_set(actor=doctor.user, percent=percent, charity=charity if use_charity else None)
    assert field in caught.value.message_dict
    assert not DoctorBillingSettings.objects.filter(doctor=doctor, donation_percent__gt=0).exists()


def test_a_retired_charity_cannot_be_chosen(doctor, charity):
    charity.active = False
    charity.save()
    with pytest.raises(ValidationError):
        donations.donation_set(actor=doctor.user, percent=D("5"), charity=charity)


def test_only_a_doctor_donates(patient, charity):
    with pytest.raises(PermissionDenied):
        donations.donation_set(actor=patient, percent=D("5"), charity=charity)


# --- fee rules set by staff ---------------------------------------------------------------------------


def test_staff_change_a_platform_fee_from_now_on(staff):
    before = timezone.now()
    old = selectors.platform_fee_at("base")
    new = tariffs.platform_fee_set(actor=staff, kind="base", fee=D("3.50"))
    old.refresh_from_db()
    assert old.valid_to == new.valid_from
    assert selectors.platform_fee_at("base", before).fee == D("3.00")
    assert selectors.platform_fee_at("base").fee == D("3.50")
    assert tariffs.platform_fee_set(actor=staff, kind="base", fee=D("3.50")) == new


def test_platform_fee_rules(staff, doctor):
    with pytest.raises(PermissionDenied):
        tariffs.platform_fee_set(actor=doctor.user, kind="base", fee=D("1.00"))
    with pytest.raises(ValidationError):
        tariffs.platform_fee_set(actor=staff, kind="info", fee=D("1.00"))
    with pytest.raises(ValidationError):
        tariffs.platform_fee_set(actor=staff, kind="base", fee=D("-1.00"))
    assert PlatformFee.objects.filter(valid_to__isnull=True).count() == 4


def test_seeded_settings():
    assert selectors.vat_setting_at().platform_fee_exempt
    assert selectors.bank_fee_at().fixed == D("0.50")
    assert {fee.kind: fee.fee for fee in selectors.platform_fees_current()} == {
        "base": D("3.00"),
        "imaging": D("4.00"),
        "priority": D("5.00"),
        "video": D("4.00"),
    }
    # The seeded charities have no bank account yet: none is offered until staff add one.
    assert selectors.charities_all().count() >= 2 and not selectors.charity_list().exists()


def test_vat_and_bank_settings(staff):
    vat = tariffs.vat_setting_set(actor=staff, platform_fee_exempt=False, platform_fee_rate=D("22"))
    assert not selectors.vat_setting_at().platform_fee_exempt and vat.platform_fee_rate == D("22.00")
    assert VatSetting.objects.count() == 2
    with pytest.raises(ValidationError):
        tariffs.vat_setting_set(actor=staff, platform_fee_exempt=False, platform_fee_rate=D("0"))
    bank = tariffs.bank_fee_set(actor=staff, fixed=D("0.35"), percent=D("1.2"))
    assert selectors.bank_fee_at() == bank and BankFeeSetting.objects.count() == 2
    with pytest.raises(ValidationError):
        tariffs.bank_fee_set(actor=staff, fixed=D("-0.10"), percent=D("0"))


def test_a_charity_is_offered_only_with_a_valid_iban(doctor, staff):
    from telemed.billing import charities
    from telemed.billing.models import Charity

    unpaid = Charity.objects.create(name="Senza conto ETS")
    assert unpaid not in selectors.charity_list()
    with pytest.raises(ValidationError):
        donations.donation_set(actor=doctor.user, percent=D("5"), charity=unpaid)
    with pytest.raises(ValidationError):
        charities.charity_iban_set(actor=staff, charity=unpaid, iban="IT60X0542811101000000123457")
    with pytest.raises(PermissionDenied):
        charities.charity_iban_set(actor=doctor.user, charity=unpaid, iban="IT60X0542811101000000123456")
    charities.charity_iban_set(actor=staff, charity=unpaid, iban="IT60 X054 2811 1010 0000 0123 456")
    assert selectors.charity_list().get() == unpaid
    assert donations.donation_set(actor=doctor.user, percent=D("5"), charity=unpaid).charity == unpaid
