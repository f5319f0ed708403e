"""The profile is no dead end: people see their own data, change what they may, and know whom to
write to for the rest; a patient is not told about an Ordine registration."""

from tests.browser.conftest import screenshot
from tests.browser.test_messaging import doctor_with_demo_authenticator, log_in


def test_a_patient_sees_their_data_changes_the_phone_and_knows_whom_to_write_to(page, make_patient, settings):
    patient = make_patient(email="lucia.profilo@example.test", first_name="Lucia", last_name="Gallo")
    log_in(page, patient)
    page.get_by_role("link", name="Il mio profilo").click()
    page.wait_for_url("**/account/profile/")
    identity = page.get_by_test_id("identity").inner_text()
    assert patient.patient_profile.codice_fiscale in identity and "lucia.profilo@example.test" in identity
    contact = page.get_by_test_id("identity-contact")
    assert "Ordine" not in contact.inner_text()
    assert contact.get_by_role("link").get_attribute("href") == f"mailto:{settings.SUPPORT_EMAIL}"
    screenshot(page, "profile-patient")

    page.get_by_label("Telefono:", exact=True).fill("12")
    page.get_by_role("button", name="Salva").click()
    assert page.get_by_text("Inserisci un numero di telefono").is_visible()
    page.get_by_label("Telefono:", exact=True).fill("+39 347 000 1111")
    page.get_by_role("button", name="Salva").click()
    page.wait_for_url("**/account/profile/")
    assert page.get_by_text("Il tuo profilo è stato salvato.").is_visible()
    patient.patient_profile.refresh_from_db()
    assert patient.patient_profile.phone == "+39 347 000 1111"

    # E-mail and password are changed on the security page, one click away.
    page.get_by_role("link", name="Cambia l'indirizzo e-mail o la password").click()
    page.wait_for_url("**/account/security/")


def test_a_doctor_sees_the_ordine_registration_as_data_only_staff_correct(page, make_doctor):
    doctor = doctor_with_demo_authenticator(
        make_doctor, email="dott.profilo@example.test", first_name="Marco", last_name="Serra"
    )
    log_in(page, doctor)
    page.goto("/account/profile/")
    identity = page.get_by_test_id("identity").inner_text()
    assert doctor.doctor_profile.ordine_number in identity and doctor.doctor_profile.partita_iva in identity
    assert "iscrizione all'Ordine" in page.get_by_test_id("identity-contact").inner_text()
    assert page.locator("textarea[name=presentation]").is_visible()
    screenshot(page, "profile-doctor")
