"""Payouts end to end: staff run the demo's weekly payout batch and every charity is paid (the
demo charities have valid IBANs); a doctor opens a payout statement and reads, per service, the fee,
the bank fees, the donation, the stamp duty and the net."""

from decimal import Decimal

from django.core.management import call_command
from django.utils import timezone

from telemed.accounts.models import User
from telemed.billing import donations, payments, payouts, proformas, tariffs
from telemed.billing.models import Charity
from tests.browser.conftest import off_the_loop, screenshot
from tests.browser.test_billing import deliver
from tests.browser.test_messaging import doctor_with_demo_authenticator, log_in
from tests.browser.test_paying import worker_idle
from tests.browser.test_registration_flows import code_for

DEMO_KEY = "ORSWYZLNMVSC2ZDFNVXS25DPORYC2MRW"


def log_in_demo(page, local: str):
    page.goto("/account/login/")
    page.get_by_label("E-mail:", exact=True).fill(f"{local}@demo.telemed.test")
    page.get_by_label("Password:", exact=True).fill("demo-telemed-2026")
    page.get_by_role("button", name="Accedi").click()
    page.wait_for_url("**/two-factor/verify/**")
    page.get_by_label("Codice:", exact=True).fill(code_for(DEMO_KEY))
    page.get_by_role("button", name="Continua").click()
    page.wait_for_url("**/dashboard/")


def test_staff_pay_out_the_demo_including_its_charity_without_leaving_anyone_out(new_page):
    off_the_loop(call_command, "load_demo", verbosity=0)
    charity = off_the_loop(
        lambda: User.objects.get(email="medico@demo.telemed.test").doctor_profile.billing_settings.charity
    )
    page = new_page()
    log_in_demo(page, "staff")
    page.goto("/billing/staff/payouts/")
    # Everything the demo received until today, paid as the weekly batch would pay it.
    page.get_by_label("Paga quanto ricevuto fino al (compreso)").fill(timezone.localdate().isoformat())
    page.get_by_role("button", name="Esegui il lotto").click()
    page.wait_for_url("**/billing/staff/payouts/")
    assert page.locator(".messages, [role=status], [role=alert]").filter(has_text="IBAN").count() == 0
    lines = page.locator("main li").filter(has_text="€")
    assert lines.filter(has_text=charity.name).count() == 1 and lines.filter(has_text="Bianchi").count() == 1
    screenshot(page, "payouts-demo-batch")
    lines.filter(has_text=charity.name).get_by_role("link").click()
    statement = page.get_by_test_id("payout-statement")
    assert statement.get_by_test_id("payout-statement-line").count() == 1
    screenshot(page, "payouts-charity-statement")
    worker_idle()


def test_a_doctor_reads_fee_bank_fee_donation_and_net_on_the_payout_statement(new_page, make_doctor, make_patient):
    doctor = doctor_with_demo_authenticator(
        make_doctor, email="dott.neri@example.test", first_name="Carla", last_name="Neri"
    )
    patient = make_patient(email="bruno@example.test", first_name="Bruno")
    staff = off_the_loop(lambda: User.objects.create_superuser("capo@example.test", "x-Long-enough-passw0rd"))
    charity = off_the_loop(
        lambda: Charity.objects.create(name="Fondazione Sorriso ETS", iban="IT60X0542811101000000123456")
    )
    off_the_loop(
        tariffs.tariff_set, actor=doctor, doctor=doctor.doctor_profile, kind="base", fee=Decimal("80.00"),
        response_value=72, response_unit="hours",
    )  # fmt: skip
    off_the_loop(donations.donation_set, actor=doctor, percent=Decimal("10"), charity=charity)

    def paid_and_paid_out():
        service = deliver(doctor, patient, "Consulto: esami del sangue")
        proforma = proformas.proformas_draft(actor=doctor, service_ids=[service.pk])[0]
        request = payments.proformas_validate(actor=doctor, include=[proforma.pk])[0]
        payments.payment_mark_paid(actor=staff, payment_request=request, reason="paid at the front desk")
        return payouts.payout_batch_run(actor=staff, cutoff=timezone.now())

    off_the_loop(paid_and_paid_out)
    page = new_page()
    log_in(page, doctor)
    page.goto("/billing/invoicing/#payouts")
    page.locator("#payouts").get_by_role("link").first.click()
    statement = page.get_by_test_id("payout-statement")
    headers = statement.locator("thead th").all_inner_texts()
    assert headers[2:] == [
        "Onorario (EUR)",
        "Spese bancarie (EUR)",
        "Donazione (EUR)",
        "Bollo incassato (EUR)",
        "Netto (EUR)",
    ]
    # 80.00 fee; 0.50 bank fees; 10% of 79.50 = 7.95 donated; 2.00 stamp duty collected; 73.55 net.
    cells = statement.get_by_test_id("payout-statement-line").locator("td").all_inner_texts()
    assert cells[2:] == ["80,00", "−0,50", "−7,95", "2,00", "73,55"]
    assert page.get_by_test_id("payout-total").inner_text() == "73,55"
    screenshot(page, "payouts-doctor-statement")
    worker_idle()
