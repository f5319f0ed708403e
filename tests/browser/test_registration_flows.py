"""A new doctor and a new patient go through registration as real people would."""

import base64
import re
import time

from django_otp.oath import totp

from conftest import PASSWORD, image_bytes
from telemed.accounts.models import User
from telemed.portal.management.commands.load_demo import demo_codice_fiscale, demo_iban, demo_partita_iva, demo_pdf
from tests.browser.conftest import next_authenticator_code, screenshot


def code_for(secret_base32: str, offset: int = 0) -> str:
    return f"{totp(base64.b32decode(secret_base32), drift=offset):06d}"


def fill_person(page, first, last, birth, sex, comune, email):
    page.get_by_label("Nome:", exact=True).fill(first)
    page.get_by_label("Cognome:", exact=True).fill(last)
    page.get_by_label("Codice fiscale:", exact=True).fill(demo_codice_fiscale(last, first, birth, sex, comune).lower())
    page.get_by_label("Data di nascita:", exact=True).fill(birth.isoformat())
    page.get_by_label("Femmina" if sex == "F" else "Maschio").check()
    page.get_by_label("Telefono:", exact=True).fill("+39 333 765 4321")
    page.get_by_label("E-mail:", exact=True).fill(email)
    page.get_by_label("Password:", exact=True).fill(PASSWORD)
    page.get_by_label("Ripeti la password:", exact=True).fill(PASSWORD)
    page.get_by_label("Ho letto l'informativa").check()


def test_new_doctor_registers_enrols_totp_and_logs_in(page, tmp_path):
    import datetime

    degree = tmp_path / "laurea.pdf"
    degree.write_bytes(demo_pdf("Laurea").getvalue())
    insurance = tmp_path / "polizza.jpg"
    insurance.write_bytes(image_bytes("JPEG").getvalue())

    page.goto("/")
    page.get_by_role("link", name="Registrati gratis").first.click()
    page.get_by_role("link", name="Registrati come medico").click()
    page.wait_for_url("**/account/register/doctor/")
    fill_person(page, "Elisa", "Martini", datetime.date(1980, 4, 2), "F", "F205", "elisa.martini@example.test")
    page.get_by_label("Cardiologia", exact=True).check()
    page.get_by_label("Ordine dei Medici (provincia):", exact=True).select_option("MI")
    page.get_by_label("Numero di iscrizione all'Ordine:", exact=True).fill("40404")
    page.get_by_label("Partita IVA:", exact=True).fill(demo_partita_iva(8080))
    page.get_by_label("IBAN per ricevere i pagamenti:", exact=True).fill(demo_iban(8080))
    page.get_by_label("Indirizzo dello studio:", exact=True).fill("Corso Buenos Aires 10")
    page.get_by_label("Città:", exact=True).fill("Milano")
    page.get_by_label("CAP:", exact=True).fill("20124")
    page.get_by_label("Provincia:", exact=True).select_option("MI")
    page.get_by_label("Italiano", exact=True).check()
    page.get_by_label("Inglese", exact=True).check()
    page.locator("input[name=certification_degree_albo]").set_input_files(str(degree))
    page.locator("input[name=certification_insurance]").set_input_files(str(insurance))

    # A wrong IBAN first: a clear message, nothing stored, the form keeps what was typed.
    page.get_by_label("IBAN per ricevere i pagamenti:", exact=True).fill("IT00X0000000000000000000000")
    page.get_by_role("button", name="Crea il mio account").click()
    assert "IBAN non è valido" in page.content()
    assert not User.objects.filter(email="elisa.martini@example.test").exists()
    page.get_by_label("IBAN per ricevere i pagamenti:", exact=True).fill(demo_iban(8080))
    page.locator("input[name=certification_degree_albo]").set_input_files(str(degree))
    page.locator("input[name=certification_insurance]").set_input_files(str(insurance))
    page.get_by_label("Password:", exact=True).fill(PASSWORD)
    page.get_by_label("Ripeti la password:", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Crea il mio account").click()

    # Straight to the two-factor enrolment: a QR code and the key to type.
    page.wait_for_url("**/account/two-factor/setup/")
    screenshot(page, "doctor-totp-setup")
    secret = page.get_by_test_id("totp-secret").inner_text().strip()
    page.get_by_label("Codice a 6 cifre:", exact=True).fill(code_for(secret))
    page.get_by_role("button", name="Attiva").click()
    # The recovery codes, shown once, then on to the dashboard.
    page.wait_for_url("**/account/two-factor/recovery-codes/**")
    assert page.get_by_text("L'autenticazione a due fattori è attiva.").is_visible()
    assert page.get_by_test_id("recovery-codes").locator("li").count() == 10
    page.get_by_role("link", name="Li ho salvati, continua").click()
    page.wait_for_url("**/dashboard/")
    assert page.get_by_text("In attesa di verifica").first.is_visible()
    screenshot(page, "doctor-dashboard")

    # The public profile is online at once and honest about the verification.
    page.get_by_role("link", name="Vedi il mio profilo pubblico").click()
    page.wait_for_url("**/medici/elisa-martini/")  # and loaded: is_visible() does not wait
    assert page.get_by_role("heading", name="Elisa Martini").is_visible()
    assert page.get_by_text("In attesa di verifica").first.is_visible()

    # First real login: password, then the code from the phone.
    page.get_by_role("button", name="Esci").click()
    page.get_by_role("link", name="Accedi").click()
    page.get_by_label("E-mail:", exact=True).fill("Elisa.Martini@example.test")
    page.get_by_label("Password:", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Accedi").click()
    page.wait_for_url("**/account/two-factor/verify/**")
    page.get_by_label("Codice:", exact=True).fill("000000" if code_for(secret) != "000000" else "111111")
    page.get_by_role("button", name="Continua").click()
    assert "Il codice non è corretto" in page.content()
    time.sleep(1.1)  # the authenticator back-off after a wrong code
    # The enrolment code cannot be replayed; the next one (one step ahead) is accepted.
    page.get_by_label("Codice:", exact=True).fill(next_authenticator_code("elisa.martini@example.test"))
    page.get_by_role("button", name="Continua").click()
    page.wait_for_url("**/dashboard/")
    assert page.get_by_role("heading", name=re.compile("Elisa Martini")).is_visible()


def test_new_patient_registers_and_verifies_the_email(page, mailbox):
    import datetime

    page.goto("/account/register/")
    page.get_by_role("link", name="Registrati come paziente").click()
    fill_person(page, "Paolo", "Serra", datetime.date(1975, 8, 30), "M", "H501", "paolo.serra@example.test")
    page.get_by_label("Acconsento al trattamento dei miei dati sanitari").check()  # the health-data consent
    page.get_by_role("button", name="Crea il mio account").click()
    screenshot(page, "patient-after-submit")
    page.wait_for_url("**/dashboard/")
    assert (
        page.get_by_text("Conferma il tuo indirizzo e-mail").first.is_visible()
        or page.get_by_text("paolo.serra@example.test").is_visible()
    )
    screenshot(page, "patient-dashboard-unverified")

    message = mailbox.wait_for("paolo.serra@example.test")
    body = message.get_body(preferencelist=("plain",)).get_content()
    link = re.search(r"http://\S+/account/verify-email/\S+/", body).group(0)
    page.goto(link)
    assert page.get_by_role("heading", name="Il tuo indirizzo e-mail è confermato").is_visible()
    assert User.objects.get(email="paolo.serra@example.test").email_verified
    page.get_by_role("link", name="Vai alla mia pagina").click()
    assert "Invia di nuovo il link" not in page.content()
