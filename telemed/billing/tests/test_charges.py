"""What a patient is told about one service's payment: each state in order, and none for a free one."""

from decimal import Decimal as D

import pytest
from django.utils import timezone

from telemed.billing import charges, payments, pricing, proformas, tariffs
from telemed.billing.charges import ChargeState

pytestmark = pytest.mark.django_db


def test_a_service_goes_from_after_service_to_paid(doctor, patient, staff):
    tariffs.tariff_set(
        actor=doctor.user, doctor=doctor, kind="base", fee=D("50.00"), response_value=72, response_unit="hours"
    )
    key = "consult:4242"

    def charge(chargeable=True):
        return charges.charge_for_patient(patient=patient, source_key=key, amount=D("53.00"), chargeable=chargeable)

    assert charges.charge_for_patient(patient=patient, source_key=key, amount=D("0.00"), chargeable=True) is None
    assert (charge().state, charge().amount) == (ChargeState.AFTER_SERVICE, D("53.00"))
    assert charge(chargeable=False).state == ChargeState.NOT_CHARGED
    service = proformas.billable_service_register(
        doctor=doctor, patient=patient, kind="base", duration_minutes=None, breakdown=pricing.price_service(doctor=doctor, kind="base"),
        accepted_at=timezone.now(), source_label="Consulto", source_key=key,
    )  # fmt: skip
    assert charge().state == ChargeState.REQUEST_COMING and list(charges.services_awaiting_request(patient)) == [
        service
    ]
    proforma = proformas.proformas_draft(actor=doctor.user)[0]
    assert charge().state == ChargeState.REQUEST_COMING  # a draft the doctor is still reviewing
    request = payments.proformas_validate(actor=doctor.user, include=[proforma.pk])[0]
    assert (charge().state, charge().payment_request) == (ChargeState.TO_PAY, request)
    assert not charges.services_awaiting_request(patient).exists()
    payments.payment_mark_paid(actor=staff, payment_request=request, reason="paid at the front desk")
    assert charge().state == ChargeState.PAID and str(charge().label)
    # Someone else's service under the same key is never shown.
    assert (
        charges.charge_for_patient(patient=staff, source_key=key, amount=D("53.00"), chargeable=True).state
        == ChargeState.AFTER_SERVICE
    )
