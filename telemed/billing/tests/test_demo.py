"""The demo data sets tariffs for every demo doctor, once."""

from decimal import Decimal as D

import pytest
from django.core.management import call_command

from telemed.accounts.models import User
from telemed.billing import pricing, selectors
from telemed.billing.models import Tariff


@pytest.mark.django_db
def test_demo_tariffs_and_donation():
    call_command("load_demo", verbosity=0)
    versions = sorted(Tariff.objects.values_list("pk", "fee"))
    call_command("load_demo", verbosity=0)
    assert sorted(Tariff.objects.values_list("pk", "fee")) == versions

    medico = User.objects.get(email="medico@demo.telemed.test").doctor_profile
    base = selectors.tariff_current_for(medico, "base")
    assert base.set_by_structure == medico.structure and base.set_by.is_structure_manager
    settings = selectors.billing_settings_of(medico)
    assert settings.donation_percent == D("10.00") and settings.charity is not None

    medico2 = User.objects.get(email="medico2@demo.telemed.test").doctor_profile
    assert selectors.tariff_current_for(medico2, "base").set_by == medico2.user

    doctors = User.objects.filter(role="doctor")
    assert all(selectors.tariffs_offered_by(user.doctor_profile).exists() for user in doctors)
    assert any(item.breakdown.has_stamp_duty for user in doctors for item in pricing.price_list(user.doctor_profile))


@pytest.mark.django_db
def test_demo_billing_is_not_empty_and_loads_once(client):
    from django.urls import reverse

    from telemed.billing.models import Invoice, PaymentStatus, StoragePlan

    call_command("load_demo", verbosity=0)
    call_command("load_demo", verbosity=0)
    medico = User.objects.get(email="medico@demo.telemed.test").doctor_profile
    paziente = User.objects.get(email="paziente@demo.telemed.test")
    assert selectors.services_to_bill(medico).count() == 3  # two delivered services and the answered demo consult
    assert Invoice.objects.filter(doctor=medico).count() == 1
    requests = selectors.payment_requests_of_payer(paziente)
    assert sorted(requests.values_list("status", flat=True)) == sorted([PaymentStatus.OPEN, PaymentStatus.PAID])
    assert StoragePlan.objects.filter(active=True).count() == 3
    client.force_login(paziente)
    page = client.get(reverse("billing:payment", args=[requests.get(status=PaymentStatus.OPEN).pk]))
    assert b'data-testid="epc-qr"' in page.content


@pytest.mark.django_db
def test_the_demo_payout_batch_builds_without_leaving_anyone_out():
    import datetime

    from django.utils import timezone

    from telemed.billing import payouts

    call_command("load_demo", verbosity=0)
    call_command("load_demo", verbosity=0)
    assert selectors.charity_list().count() == selectors.charities_all().count() >= 3
    staff = User.objects.get(email="staff@demo.telemed.test")
    batch = payouts.payout_batch_run(actor=staff, cutoff=timezone.now() + datetime.timedelta(seconds=1))
    payees = {(line.doctor_id is not None, line.charity_id is not None) for line in batch.lines.all()}
    assert payees == {(True, False), (False, True)}  # medico@'s net and the donation to the charity
