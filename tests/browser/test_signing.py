"""A doctor enrols the signing app, writes a report and signs it with a code from a TOTP generated
here; the patient downloads the signed PDF and checks it on the public verification page."""

import base64
import time

from django_otp.oath import totp

from telemed.boxes.models import Box, Document
from telemed.care import services as care
from telemed.signatures import services as signing
from tests.browser.conftest import off_the_loop, screenshot
from tests.browser.test_messaging import doctor_with_demo_authenticator, log_in


def signing_code(secret_base32: str, offset: int = 0) -> str:
    padded = secret_base32 + "=" * (-len(secret_base32) % 8)
    return f"{totp(base64.b32decode(padded), drift=offset):06d}"


def wait_for(condition, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def test_doctor_signs_a_report_and_the_patient_verifies_it(new_page, make_doctor, make_patient, tmp_path):
    off_the_loop(signing.certificate_authority_create, name="telemed Browser Test CA")
    doctor = doctor_with_demo_authenticator(
        make_doctor, email="dott.ferri@example.test", first_name="Giulia", last_name="Ferri"
    )
    patient = make_patient(email="carlo@example.test", first_name="Carlo", last_name="Marini")
    off_the_loop(lambda: care.care_accept(actor=doctor, link=care.care_request(actor=patient, doctor=doctor)))

    # The doctor enrols the signing app from the dashboard: a QR code and the key to type.
    page = new_page()
    log_in(page, doctor)
    page.locator("main a[href='/signatures/device/']").first.click()
    secret = page.get_by_test_id("signing-secret").inner_text().strip()
    screenshot(page, "signing-enrolment")
    page.locator("input[name=code]").fill(signing_code(secret))
    page.locator("button[name=enrol]").click()
    page.get_by_test_id("signing-ready").wait_for()

    # A new report for the linked patient; the draft saves itself while the doctor writes.
    page.goto("/reports/new/")
    page.locator("select[name=patient]").select_option(label="Carlo Marini")
    page.locator("select[name=kind]").select_option("report")
    page.locator("button[name=create]").click()
    page.wait_for_url("**/edit/")
    page.locator("textarea[name=diagnosis]").fill("Ipertensione arteriosa di grado 1")
    page.locator("textarea[name=findings]").fill("PA 150/95 mmHg in tre misurazioni; ECG nella norma.")
    page.locator("input[name='therapy-0-drug']").fill("Ramipril 5 mg")
    page.locator("input[name='therapy-0-dose']").fill("1 compressa")
    page.locator("input[name='therapy-0-schedule']").fill("al mattino")
    page.locator("input[name='therapy-0-duration']").fill("30 giorni")
    page.locator("[data-testid=autosave-status][data-state=saved]").wait_for()
    from telemed.reports.models import Report

    report = off_the_loop(lambda: Report.objects.get(doctor=doctor))
    assert report.status == "draft" and report.diagnosis == "Ipertensione arteriosa di grado 1"

    # A wrong code is refused with a message and signs nothing.
    right = signing_code(secret, offset=1)
    page.locator("input[name=code]").fill("000000" if right != "000000" else "111111")
    page.locator("button[name=sign]").click()
    page.get_by_test_id("sign-error").wait_for()
    assert off_the_loop(lambda: Report.objects.get(pk=report.pk).status) == "draft"

    # The next code of the signing app signs it: the document is locked and delivered.
    page.locator("input[name=code]").fill(signing_code(secret, offset=1))
    page.locator("button[name=sign]").click()
    page.get_by_test_id("download-pdf").wait_for()
    screenshot(page, "signing-signed-report")
    wait_for(lambda: off_the_loop(lambda: Document.objects.filter(box__in=Box.objects.filter(owner=patient)).exists()))

    # The patient downloads the signed PDF…
    patient_page = new_page()
    log_in(patient_page, patient)
    patient_page.goto(f"/reports/{report.public_id}/")
    with patient_page.expect_download() as download_info:
        patient_page.get_by_test_id("download-pdf").click()
    path = tmp_path / "referto.pdf"
    download_info.value.save_as(path)
    assert path.read_bytes().startswith(b"%PDF-")

    # …and checks it on the public page the QR code leads to: valid, the doctor's name and tax id.
    patient_page.goto(f"/signatures/verify/{report.public_id}/")
    patient_page.locator("input[name=document]").set_input_files(str(path))
    patient_page.locator("button[name=verify]").click()
    result = patient_page.get_by_test_id("verification-result")
    result.wait_for()
    screenshot(patient_page, "signing-verification")
    assert result.get_attribute("data-valid") == "true"
    assert result.get_by_test_id("signer-name").inner_text() == "Giulia Ferri"
    assert result.get_by_test_id("signer-fiscal-code").inner_text() == doctor.doctor_profile.codice_fiscale

    # One flipped byte and the same page says it is not valid.
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x01
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(bytes(data))
    patient_page.goto("/signatures/verify/")
    patient_page.locator("input[name=document]").set_input_files(str(tampered))
    patient_page.locator("button[name=verify]").click()
    patient_page.get_by_test_id("verification-result").wait_for()
    assert patient_page.get_by_test_id("verification-result").get_attribute("data-valid") == "false"
