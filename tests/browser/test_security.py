"""A doctor who loses the phone: recovery codes end to end, as a person uses them."""

import re
import time

from conftest import PASSWORD
from tests.browser.conftest import next_authenticator_code, screenshot
from tests.browser.test_registration_flows import code_for


def password_step(page, email):
    page.goto("/account/login/")
    page.get_by_label("E-mail:", exact=True).fill(email)
    page.get_by_label("Password:", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Accedi").click()


def log_out(page):
    page.get_by_role("button", name="Esci", exact=True).click()
    page.wait_for_url("**/")


def test_recovery_codes_let_a_doctor_in_once_and_move_to_a_new_phone(page, make_doctor):
    make_doctor(email="dott.neri@example.test", first_name="Paolo", last_name="Neri")

    # First login: enrol the authenticator app, then the ten recovery codes, shown once.
    password_step(page, "dott.neri@example.test")
    page.wait_for_url("**/account/two-factor/setup/")
    old_secret = page.get_by_test_id("totp-secret").inner_text().strip()
    page.get_by_label("Codice a 6 cifre:", exact=True).fill(code_for(old_secret))
    page.get_by_role("button", name="Attiva").click()
    page.wait_for_url("**/account/two-factor/recovery-codes/**")
    screenshot(page, "security-recovery-codes")
    codes = [c.strip() for c in page.get_by_test_id("recovery-codes").locator("code").all_inner_texts()]
    assert len(codes) == 10 and all(re.fullmatch(r"[a-z2-7]{4}(-[a-z2-7]{4}){3}", c) for c in codes)
    page.get_by_role("link", name="Li ho salvati, continua").click()
    page.wait_for_url("**/dashboard/")
    log_out(page)

    # The phone is lost: a recovery code lets the doctor in.
    password_step(page, "dott.neri@example.test")
    page.wait_for_url("**/two-factor/verify/**")
    assert page.get_by_text("Hai perso il telefono?").is_visible()
    page.get_by_label("Codice:", exact=True).fill(codes[0])
    page.get_by_role("button", name="Continua").click()
    page.wait_for_url("**/dashboard/")

    # Re-enrol a new phone from the security page: the recovery code was the proof.
    page.get_by_role("link", name=re.compile("Paolo Neri")).click()
    page.wait_for_url("**/account/security/")
    assert page.get_by_test_id("recovery-codes-left").inner_text().startswith("Ti restano 9 codici")
    screenshot(page, "security-page")
    page.get_by_role("link", name="Passa a un nuovo telefono").click()
    page.wait_for_url("**/account/two-factor/replace/")
    new_secret = page.get_by_test_id("totp-secret").inner_text().strip()
    assert new_secret != old_secret
    page.get_by_label("Password attuale:", exact=True).fill(PASSWORD)
    page.get_by_label("Codice della nuova app:", exact=True).fill(code_for(new_secret))
    screenshot(page, "security-replace")
    page.get_by_role("button", name="Attiva la nuova app").click()
    page.wait_for_url("**/account/security/")
    assert page.get_by_text("La nuova app di autenticazione è attiva").is_visible()
    events = page.get_by_test_id("security-events").inner_text()
    assert "App di autenticazione sostituita" in events and "Codice di recupero usato" in events
    log_out(page)

    # The used recovery code is refused the second time; the old app no longer works; the new one does.
    password_step(page, "dott.neri@example.test")
    page.wait_for_url("**/two-factor/verify/**")
    page.get_by_label("Codice:", exact=True).fill(codes[0])
    page.get_by_role("button", name="Continua").click()
    assert page.get_by_text("Questo codice di recupero non è valido, o è già stato usato.").is_visible()
    page.get_by_label("Codice:", exact=True).fill(code_for(old_secret, offset=1))
    page.get_by_role("button", name="Continua").click()
    assert page.get_by_text("Il codice non è corretto").is_visible()
    time.sleep(1.1)  # django-otp's back-off after a wrong code
    page.get_by_label("Codice:", exact=True).fill(next_authenticator_code("dott.neri@example.test"))
    page.get_by_role("button", name="Continua").click()
    page.wait_for_url("**/dashboard/")
