"""Billing end to end: a doctor issues invoices with one button ("Emetti fattura"), reviews and
validates the proformas; the patient opens the payment page and its EPC QR code reads back."""

import io
import re
from decimal import Decimal

import zxingcpp
from django.utils import timezone
from PIL import Image

from telemed.billing import pricing, proformas, tariffs
from telemed.billing.models import PaymentRequest
from tests.browser.conftest import off_the_loop, screenshot
from tests.browser.test_messaging import doctor_with_demo_authenticator, log_in


def deliver(doctor, patient, label):
    profile = doctor.doctor_profile
    return proformas.billable_service_register(
        doctor=profile, patient=patient, kind="base", duration_minutes=None,
        breakdown=pricing.price_service(doctor=profile, kind="base"), accepted_at=timezone.now(),
        source_label=label,
    )  # fmt: skip


def test_a_doctor_issues_invoices_with_one_button_and_the_patient_sees_the_qr_code(new_page, make_doctor, make_patient):
    doctor = doctor_with_demo_authenticator(
        make_doctor, email="dott.rossi@example.test", first_name="Paolo", last_name="Rossi"
    )
    patient = make_patient(email="giulia@example.test", first_name="Giulia")
    off_the_loop(
        tariffs.tariff_set, actor=doctor, doctor=doctor.doctor_profile, kind="base", fee=Decimal("80.00"),
        response_value=72, response_unit="hours",
    )  # fmt: skip
    off_the_loop(deliver, doctor, patient, "Consulto: esami del sangue")
    off_the_loop(deliver, doctor, patient, "Consulto: controllo terapia")

    doctor_page = new_page()
    log_in(doctor_page, doctor)
    doctor_page.goto("/billing/invoicing/")
    assert doctor_page.get_by_test_id("services-to-bill").locator("tbody tr").count() == 2
    doctor_page.get_by_test_id("emetti-fattura").click()
    doctor_page.wait_for_url("**/billing/review/")
    proformas = doctor_page.get_by_test_id("proforma")
    assert proformas.count() == 2
    # Every line is shown: the doctor's fee, the platform fee, the stamp duty (80 + 3 > 77.47);
    # both services cost the same, so both proformas total 85,00 (whatever their order).
    assert proformas.filter(has_text="85,00").filter(has_text="2,00").count() == 2
    screenshot(doctor_page, "billing-review")
    doctor_page.get_by_test_id("validate-proformas").click()
    doctor_page.wait_for_url("**/billing/invoicing/")
    assert doctor_page.get_by_test_id("awaiting-payment").locator("tbody tr").count() == 2
    screenshot(doctor_page, "billing-doctor")

    patient_page = new_page()
    log_in(patient_page, patient)
    patient_page.goto("/billing/payments/")
    patient_page.get_by_test_id("open-payments").get_by_role("link").first.click()
    patient_page.wait_for_url(re.compile(r"/billing/payments/\d+/$"))
    assert "IT04 T030 6909 6060 0000 0100 000" in patient_page.get_by_test_id("iban").inner_text()
    assert patient_page.get_by_test_id("amount").inner_text().startswith("85,00")
    qr = patient_page.get_by_test_id("epc-qr")
    qr.wait_for()
    assert patient_page.evaluate("(img) => img.complete && img.naturalWidth > 0", qr.element_handle())
    screenshot(patient_page, "billing-payment")
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr.screenshot())))
    fields = decoded[0].text.split("\n")
    assert fields[0] == "BCD" and fields[6] == "IT04T0306909606000000100000" and fields[7] == "EUR85"
    # The reference in the code is the one the page shows, and it is one of the patient's requests.
    assert fields[9] == patient_page.get_by_test_id("reference").inner_text().replace(" ", "")
    assert fields[9] in off_the_loop(
        lambda: set(PaymentRequest.objects.filter(payer=patient).values_list("reference", flat=True))
    )
