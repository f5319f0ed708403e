"""The patient's data rights in Chromium against the real server.

Oscuramento: a patient hides a shared document and the doctor no longer sees it, then sees it
again after the undo; both changes are in the patient's access log."""

from telemed.boxes import services as box_services
from telemed.consults.tests.conftest import welbox_document
from tests.browser.conftest import off_the_loop, screenshot
from tests.browser.test_accessibility import blocking_violations
from tests.browser.test_messaging import doctor_with_demo_authenticator, log_in


def test_a_patient_hides_a_document_from_the_linked_doctor_and_shows_it_again(new_page, make_patient, make_doctor):
    doctor = doctor_with_demo_authenticator(make_doctor, email="dott.bruno@example.test", first_name="Paolo", last_name="Bruno")
    patient = make_patient(email="giulia.rights@example.test", first_name="Giulia", last_name="Sala")
    document = off_the_loop(welbox_document, patient, name="Esame tiroide.pdf")
    off_the_loop(box_services.document_share, actor=patient, document=document, doctor=doctor)

    patient_page, doctor_page = new_page(locale="en-GB"), new_page(locale="en-GB")
    log_in(doctor_page, doctor)
    doctor_page.goto("/box/shared/")
    assert doctor_page.locator('[data-testid="shared-list"]').get_by_text("Esame tiroide.pdf").is_visible()

    log_in(patient_page, patient)
    patient_page.goto(f"/box/documents/{document.pk}/")
    patient_page.locator('[data-testid="hide-form"] button').click()
    patient_page.locator('[data-testid="hidden-notice"]').wait_for()
    patient_page.reload()  # the flash message's list is checked elsewhere; this checks the page itself
    screenshot(patient_page, "rights-document-hidden")
    assert blocking_violations(patient_page) == []

    doctor_page.goto("/box/shared/")
    assert doctor_page.get_by_text("Esame tiroide.pdf").count() == 0
    assert doctor_page.goto(f"/box/documents/{document.pk}/download").status == 404

    patient_page.locator('[data-testid="show-form"] button').click()
    patient_page.locator('[data-testid="hide-form"]').wait_for()
    doctor_page.goto("/box/shared/")
    assert doctor_page.locator('[data-testid="shared-list"]').get_by_text("Esame tiroide.pdf").is_visible()

    patient_page.goto("/audit/")
    log = patient_page.locator('[data-testid="audit-entries"]').inner_text()
    assert "hidden from doctors" in log and "shown to doctors again" in log
