"""After accepting a price, the patient always knows what is owed, when the payment request arrives
and where the payment stands, in plain Italian: on the consult page, on the visit page and under
"Pagamenti" — from the request to the answer, the payment request, the transfer and the invoice."""

import datetime
import uuid
from decimal import Decimal

from django.utils import timezone

from telemed.accounts.models import User
from telemed.billing import payments, pricing, proformas, tariffs
from telemed.billing.models import PaymentRequest
from telemed.consults import services as consults
from telemed.visits import services as visits
from telemed.visits.models import Booking
from tests.browser.conftest import off_the_loop, screenshot
from tests.browser.test_messaging import doctor_with_demo_authenticator, log_in


def worker_idle(timeout: float = 60) -> None:
    """Wait until the task worker has run everything due (e-mails, the invoice PDF): a task still
    running when the test's data are flushed would make the worker, and the platform, stop."""
    import time

    from django_tasks_db.models import DBTaskResult

    def busy():
        return DBTaskResult.objects.ready().exists() or DBTaskResult.objects.filter(status="RUNNING").exists()

    deadline = time.monotonic() + timeout
    while off_the_loop(busy):
        if time.monotonic() > deadline:
            raise AssertionError("the task worker is still busy")
        time.sleep(0.2)


def test_the_patient_reads_what_is_owed_when_and_the_state_of_each_payment(new_page, make_doctor, make_patient):
    doctor = doctor_with_demo_authenticator(
        make_doctor, email="dott.galli@example.test", first_name="Elena", last_name="Galli"
    )
    patient = make_patient(email="piero@example.test", first_name="Piero")
    staff = off_the_loop(lambda: User.objects.create_superuser("capo@example.test", "x-Long-enough-passw0rd"))
    profile = doctor.doctor_profile
    off_the_loop(
        tariffs.tariff_set,
        actor=doctor,
        doctor=profile,
        kind="base",
        fee=Decimal("50.00"),
        response_value=72,
        response_unit="hours",
    )
    off_the_loop(
        tariffs.tariff_set, actor=doctor, doctor=profile, kind="video", duration_minutes=30, fee=Decimal("40.00")
    )
    consult, _created = off_the_loop(
        consults.consult_request, actor=patient, doctor=profile,
        draft=consults.ConsultDraft(kind="base", question="Pressione alta al mattino", accepted_terms=True, idempotency_key=uuid.uuid4()),
    )  # fmt: skip
    start = timezone.now() + datetime.timedelta(days=3)
    booking = off_the_loop(
        lambda: Booking.objects.create(
            doctor=doctor, patient=patient, start=start, end=start + datetime.timedelta(minutes=30), duration_minutes=30,
            breakdown=visits.visit_quote(doctor=doctor).to_dict(), accepted_at=timezone.now(),
        )
    )  # fmt: skip

    page = new_page()
    log_in(page, patient)
    # Just sent: nothing to pay yet, and the page says when the request will come.
    page.goto(f"/consults/{consult.pk}/")
    charge = page.get_by_test_id("charge")
    assert charge.get_by_test_id("charge-state").inner_text() == "Da pagare dopo la prestazione"
    assert charge.get_by_test_id("charge-amount").inner_text() == "53,00\u00a0€"  # 50 + 3 platform fee
    assert "Quando il medico avrà risposto" in charge.get_by_test_id("charge-explanation").inner_text()
    screenshot(page, "paying-consult-sent")

    # The visit page: "Prenotata", never the accounting "Contabilizzato", and what the visit will cost.
    page.goto(f"/visits/{booking.pk}/")
    assert page.get_by_test_id("booking-status").inner_text() == "Prenotata"
    assert page.get_by_test_id("charge-amount").inner_text() == "44,00\u00a0€"
    assert "Dopo la visita" in page.get_by_test_id("charge-explanation").inner_text()
    screenshot(page, "paying-visit-booked")

    # Answered (the consult registers the delivered service): the request is on its way.
    off_the_loop(
        proformas.billable_service_register, doctor=profile, patient=patient, kind="base", duration_minutes=None,
        breakdown=pricing.Breakdown.from_dict(consult.breakdown), accepted_at=consult.accepted_at,
        source_label="Consulto: pressione alta", source_url=f"/consults/{consult.pk}/", source_key=consult.engagement,
    )  # fmt: skip
    page.goto(f"/consults/{consult.pk}/")
    assert page.get_by_test_id("charge-state").inner_text() == "Richiesta di pagamento in arrivo"
    page.goto("/billing/payments/")
    coming = page.get_by_test_id("coming-payments")
    assert "Consulto: pressione alta" in coming.inner_text() and "53,00\u00a0€" in coming.inner_text()
    screenshot(page, "paying-payments-coming")

    # The doctor sends the payment request: the consult page leads to the bank details.
    def request_sent():
        drafts = proformas.proformas_draft(actor=doctor)
        return payments.proformas_validate(actor=doctor, include=[proforma.pk for proforma in drafts])[0]

    off_the_loop(request_sent)
    page.goto(f"/consults/{consult.pk}/")
    assert page.get_by_test_id("charge-state").inner_text() == "Da pagare ora"
    screenshot(page, "paying-consult-to-pay")
    page.get_by_test_id("charge-link").click()
    page.wait_for_url("**/billing/payments/*/")
    assert page.get_by_test_id("amount").inner_text().startswith("53,00")

    # Paid: the consult says so, with the date.
    request = off_the_loop(lambda: PaymentRequest.objects.get(payer=patient))
    off_the_loop(payments.payment_mark_paid, actor=staff, payment_request=request, reason="paid at the front desk")
    page.goto(f"/consults/{consult.pk}/")
    assert page.get_by_test_id("charge-state").inner_text() == "Pagato"
    assert page.get_by_test_id("charge-explanation").inner_text().startswith("Pagato il")
    screenshot(page, "paying-consult-paid")
    worker_idle()
