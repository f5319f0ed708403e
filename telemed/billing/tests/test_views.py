"""The tariff pages: a doctor's, the structure manager's, the live preview and the donation form."""

from decimal import Decimal as D

import pytest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from conftest import log_in
from telemed.billing import pricing, selectors, tariffs
from telemed.billing.models import Tariff

pytestmark = pytest.mark.django_db

TARIFFS = reverse("billing:tariffs")


@pytest.fixture(autouse=True)
def english(client):
    # The assertions read the English msgids, whatever the Italian catalogue says.
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    with translation.override("en"):
        yield


def base_form(**changes):
    data = {
        "service": "base",
        "base-offered": "on",
        "base-fee": "45.00",
        "base-response_value": "72",
        "base-response_unit": "hours",
    }
    data.update(changes)
    return data


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(TARIFFS)
    assert response.status_code == 302 and reverse("accounts:login") in response.url


def test_only_doctors_have_a_tariff_page(client, patient):
    client.force_login(patient)
    assert client.get(TARIFFS).status_code == 403


def test_the_doctor_sees_every_service(doctor_client):
    response = doctor_client.get(TARIFFS)
    assert response.status_code == 200
    for key in ["info", "base", "imaging", "priority", "video-15", "video-30", "video-45", "video-60"]:
        assert f'id="service-{key}"' in response.content.decode()


def test_the_doctor_saves_a_tariff_and_sees_its_breakdown(doctor_client, doctor):
    response = doctor_client.post(TARIFFS, base_form(**{"base-fee": "80,00"}))
    assert response.status_code == 302
    assert selectors.tariff_current_for(doctor, "base").fee == D("80.00")
    page = doctor_client.get(TARIFFS).content.decode()
    assert "art. 10, comma 1, n. 18, D.P.R. 633/1972" in page
    assert "85,00" in page or "85.00" in page  # 80 + 3 platform fee + 2 stamp duty


def test_bad_input_shows_the_error_and_stores_nothing(doctor_client, doctor):
    response = doctor_client.post(TARIFFS, base_form(**{"base-fee": "-5"}))
    assert response.status_code == 400
    assert "cannot be negative" in response.content.decode()
    assert not Tariff.objects.exists()
    response = doctor_client.post(TARIFFS, base_form(**{"base-response_value": "0"}))
    assert response.status_code == 400 and not Tariff.objects.exists()
    response = doctor_client.post(TARIFFS, base_form(**{"base-fee": "abc"}))
    assert response.status_code == 400 and not Tariff.objects.exists()
    response = doctor_client.post(TARIFFS, {"service": "nonsense"})
    assert response.status_code == 302 and not Tariff.objects.exists()


def test_a_video_visit_and_an_info_request(doctor_client, doctor):
    response = doctor_client.post(TARIFFS, {"service": "video-30", "video-30-offered": "on", "video-30-fee": "55"})
    assert response.status_code == 302
    assert selectors.tariff_current_for(doctor, "video", 30).fee == D("55.00")
    response = doctor_client.post(TARIFFS, {"service": "info", "info-offered": "on"})
    assert response.status_code == 302
    assert selectors.tariff_current_for(doctor, "info").is_free


def test_the_doctor_sees_who_set_a_structure_tariff(client, login_doctor, structure_doctor, manager):
    tariffs.tariff_set(
        actor=manager, doctor=structure_doctor, kind="base", fee=D("60.00"), response_value=24, response_unit="hours"
    )
    login_doctor(client, structure_doctor)
    page = client.get(TARIFFS).content.decode()
    assert structure_doctor.structure.name in page and manager.get_full_name() in page
    response = client.post(TARIFFS, base_form())
    assert response.status_code == 400
    assert selectors.tariff_current_for(structure_doctor, "base").fee == D("60.00")


def test_the_manager_edits_a_structure_doctors_tariffs(client, manager, structure_doctor):
    client.force_login(manager)
    assert structure_doctor.user.last_name in client.get(reverse("billing:structure_tariffs")).content.decode()
    url = reverse("billing:structure_doctor_tariffs", args=[structure_doctor.pk])
    assert client.get(url).status_code == 200
    assert client.post(url, base_form(**{"base-fee": "70.00"})).status_code == 302
    tariff = selectors.tariff_current_for(structure_doctor, "base")
    assert tariff.fee == D("70.00") and tariff.set_by_structure_id == structure_doctor.structure_id


def test_the_manager_cannot_reach_other_doctors(client, manager, doctor, patient):
    client.force_login(manager)
    assert client.get(reverse("billing:structure_doctor_tariffs", args=[doctor.pk])).status_code == 404
    assert client.post(reverse("billing:structure_doctor_tariffs", args=[doctor.pk]), base_form()).status_code == 404
    client.force_login(patient)
    assert client.get(reverse("billing:structure_doctor_tariffs", args=[doctor.pk])).status_code == 403
    assert not Tariff.objects.exists()


def test_the_live_preview(doctor_client):
    preview = reverse("billing:tariff_preview")
    response = doctor_client.get(preview, {"service": "base", "fee": "74,48"})
    assert response.status_code == 200
    assert "imposta di bollo" in response.content.decode()
    response = doctor_client.get(preview, {"service": "base", "fee": "-1"})
    assert response.status_code == 400 and "negative" in response.content.decode()
    assert doctor_client.get(preview, {"service": "x", "fee": "1"}).status_code == 400
    assert doctor_client.get(preview, {"service": "info"}).status_code == 200


def test_the_managers_preview_is_scoped(client, manager, structure_doctor, doctor):
    client.force_login(manager)
    preview = reverse("billing:tariff_preview")
    assert client.get(preview, {"doctor": structure_doctor.pk, "service": "base", "fee": "10"}).status_code == 200
    assert client.get(preview, {"doctor": doctor.pk, "service": "base", "fee": "10"}).status_code == 404
    assert client.get(preview, {"doctor": "x", "service": "base", "fee": "10"}).status_code == 404


def test_the_donation_form(doctor_client, doctor, charity):
    url = reverse("billing:donation")
    assert doctor_client.post(url, {"percent": "10", "charity": charity.pk}).status_code == 302
    assert selectors.billing_settings_of(doctor).donation_percent == D("10.00")
    response = doctor_client.post(url, {"percent": "10", "charity": ""})
    assert response.status_code == 400
    response = doctor_client.post(url, {"percent": "150", "charity": charity.pk})
    assert response.status_code == 400
    assert selectors.billing_settings_of(doctor).donation_percent == D("10.00")


def test_the_breakdown_include_shows_every_line_and_who_pays():
    breakdown = pricing.price(
        fee=D("100.00"),
        rules=pricing.FeeRules(
            platform_fee=D("3.00"), bank_fee_fixed=D("0.50"), donation_percent=D("10"), charity_name="ETS"
        ),
    )
    html = render_to_string("billing/_breakdown.html", {"breakdown": breakdown})
    for text in [
        "Doctor&#x27;s fee",
        "Platform service fee",
        "Stamp duty",
        "Bank fees",
        "Donation: ETS",
        "D.P.R. 633/1972",
    ]:
        assert text in html
    patient_only = render_to_string("billing/_breakdown.html", {"breakdown": breakdown, "patient_view": True})
    assert "Bank fees" not in patient_only and "Stamp duty" in patient_only
    free = render_to_string(
        "billing/_breakdown.html", {"breakdown": pricing.price(fee=D("0"), rules=pricing.FeeRules())}
    )
    assert "<table" not in free


def test_staff_add_a_platform_fee_version_in_the_back_office(client, staff):
    log_in(client, staff)
    add = reverse("admin:billing_platformfee_add")
    assert client.get(add).status_code == 200
    response = client.post(add, {"kind": "imaging", "fee": "4.50"})
    assert response.status_code == 302
    assert selectors.platform_fee_at("imaging").fee == D("4.50")
    assert selectors.platform_fee_at("imaging").set_by == staff
    response = client.post(add, {"kind": "info", "fee": "1.00"})
    assert response.status_code == 200 and "always free" in response.content.decode()
    response = client.post(add, {"kind": "base", "fee": "0.001"})
    assert response.status_code == 200 and "errornote" in response.content.decode()
    assert selectors.platform_fee_at("base").fee == D("3.00")
    old = selectors.platform_fee_at("imaging").pk
    assert client.get(reverse("admin:billing_platformfee_change", args=[old])).status_code == 200
    for name in ["vatsetting", "bankfeesetting", "charity", "tariff", "doctorbillingsettings"]:
        assert client.get(reverse(f"admin:billing_{name}_changelist")).status_code == 200


def test_staff_change_vat_and_bank_fees_in_the_back_office(client, staff):
    log_in(client, staff)
    response = client.post(reverse("admin:billing_vatsetting_add"), {"platform_fee_rate": "22"})
    assert response.status_code == 302 and not selectors.vat_setting_at().platform_fee_exempt
    response = client.post(reverse("admin:billing_bankfeesetting_add"), {"fixed": "0.40", "percent": "101"})
    assert response.status_code == 200 and selectors.bank_fee_at().fixed == D("0.50")
    response = client.post(reverse("admin:billing_bankfeesetting_add"), {"fixed": "0.40", "percent": "1"})
    assert response.status_code == 302 and selectors.bank_fee_at().fixed == D("0.40")
