"""Many invoices issued at the same moment for one doctor: numbers 1..N, no gap, no duplicate;
two validations of the same proforma at once: one wins, nothing is sent twice.

Needs PostgreSQL (real row locks and concurrent transactions); on SQLite the IMMEDIATE
transactions serialise every writer, so there is no race to test.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections

from telemed.billing import acting, payments, proformas
from telemed.billing.models import Invoice, PaymentRequest

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="concurrent row locks need PostgreSQL; SQLite serialises writers"
    ),
]


def concurrently(function, items, workers=8):
    barrier = threading.Barrier(min(workers, len(items)))

    def call(item):
        try:
            barrier.wait(timeout=30)
            return function(item)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [future.exception() or future.result() for future in [pool.submit(call, item) for item in items]]


def test_invoice_numbers_under_concurrent_issuing(doctor, make_patient_user, billed, staff):
    patient = make_patient_user()
    requests = [billed(doctor, patient) for _ in range(16)]
    results = concurrently(
        lambda request: payments.payment_mark_paid(
            actor=staff, payment_request=request, reason="paid at the front desk"
        ),
        requests,
    )
    assert not [r for r in results if isinstance(r, BaseException)], results
    numbers = sorted(Invoice.objects.filter(doctor=doctor).values_list("number", flat=True))
    assert numbers == list(range(1, 17))


def test_concurrent_validation_of_the_same_proforma_sends_one_request(doctor, patient, deliver):
    service = deliver(doctor, patient)
    proforma = proformas.proformas_draft(actor=doctor.user, service_ids=[service.pk])[0]
    results = concurrently(
        lambda _: payments.proformas_validate(actor=doctor.user, include=[proforma.pk]), range(6), workers=6
    )
    refused = [r for r in results if isinstance(r, acting.BillingError)]
    assert len(refused) == 5 and PaymentRequest.objects.filter(proforma=proforma).count() == 1


def test_concurrent_emetti_fattura_drafts_each_service_once(doctor, patient, deliver):
    for _ in range(5):
        deliver(doctor, patient)
    results = concurrently(lambda _: proformas.proformas_draft(actor=doctor.user), range(4), workers=4)
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert sum(len(r) for r in results) == 5
