"""Buying space end to end: from the Welbox's usage bar a patient reaches the storage plans, reads
that a plan is a one-off payment, buys one through the usual bank-transfer payment request, and once
the transfer is recorded the space is in the box."""

import re
from decimal import Decimal

from django.contrib.auth import get_user_model

from telemed.billing import payments, storage_purchases
from telemed.billing.models import PaymentRequest
from tests.browser.conftest import off_the_loop, screenshot
from tests.browser.test_messaging import log_in
from tests.browser.test_paying import worker_idle


def test_a_patient_buys_welbox_space_and_gets_it_once_paid(new_page, make_patient):
    patient = make_patient(email="marta@example.test", first_name="Marta")
    staff = off_the_loop(
        lambda: get_user_model().objects.create_superuser("capo@example.test", "x-Long-enough-passw0rd")
    )
    for name, for_box, gigabytes, price in [
        ("Welbox Plus", "welbox", 5, "9.90"),
        ("Medbox Studio", "medbox", 50, "49.00"),
    ]:
        off_the_loop(
            storage_purchases.storage_plan_set,
            actor=staff,
            name=name,
            for_box=for_box,
            extra_gigabytes=gigabytes,
            price=Decimal(price),
        )

    page = new_page()
    log_in(page, patient)
    page.goto("/box/")
    page.get_by_role("link", name="Libera spazio o acquistane altro").click()
    page.wait_for_url("**/box/space/")
    assert "presto disponibili" not in page.content()
    page.get_by_test_id("storage-plans-link").click()
    page.wait_for_url("**/billing/storage/")
    plans = page.get_by_test_id("storage-plan")
    assert plans.count() == 1 and "Medbox" not in plans.inner_text()  # only the plans for a Welbox
    assert plans.get_by_test_id("storage-plan-term").inner_text() == "Pagamento unico, senza rinnovo"
    screenshot(page, "storage-plans")
    plans.get_by_role("button", name="Acquista Welbox Plus").click()
    page.wait_for_url(re.compile(r"/billing/payments/\d+/$"))
    assert page.get_by_test_id("amount").inner_text().startswith("9,90")
    assert "Pagamento unico" in page.get_by_test_id("storage-purchase").inner_text()
    screenshot(page, "storage-payment")

    request = off_the_loop(lambda: PaymentRequest.objects.get(payer=patient))
    off_the_loop(payments.payment_mark_paid, actor=staff, payment_request=request, reason="paid at the front desk")
    page.goto("/billing/storage/")
    assert "Aggiunto al tuo box il" in page.get_by_test_id("storage-purchases").inner_text()
    page.goto("/box/space/")
    assert "GB" in page.get_by_test_id("box-usage").inner_text()
    usage = page.locator("#box-usage-meter")
    assert int(usage.get_attribute("max")) >= 5 * 1024**3
    screenshot(page, "storage-space-after")
    worker_idle()
