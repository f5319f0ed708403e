"""A paid consult, as the billing services record it: priced, billed, paid at the counter, invoiced.
Used by the tests in this process and, against a restored database, in a `manage.py shell`."""

from decimal import Decimal

from django.utils import timezone

from telemed.billing import payments, pricing, proformas, tariffs


def consult_paid(*, doctor, patient, staff, fee: str = "45.00"):
    """The invoice of one paid consult of ``patient`` with ``doctor``."""
    if not doctor.tariffs.exists():
        tariffs.tariff_set(actor=doctor.user, doctor=doctor, kind="base", fee=Decimal(fee), response_value=72,
                           response_unit="hours")  # fmt: skip
    service = proformas.billable_service_register(
        doctor=doctor, patient=patient, kind="base", duration_minutes=None,
        breakdown=pricing.price_service(doctor=doctor, kind="base"), accepted_at=timezone.now(), source_label="Consulto",
    )  # fmt: skip
    proforma = proformas.proformas_draft(actor=doctor.user, service_ids=[service.pk])[0]
    request = payments.proformas_validate(actor=doctor.user, include=[proforma.pk])[0]
    payments.payment_mark_paid(actor=staff, payment_request=request, reason="paid at the front desk")
    request.refresh_from_db()
    return request.invoice
