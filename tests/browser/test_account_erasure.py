"""A patient deletes their account in Chromium against the real server: the page says what goes
and what stays, the confirmation link arrives at the real SMTP server, and after the grace period
(the erasure run as if a month had passed) the patient cannot log in, their files are gone from
the storage, and their invoice is still in the doctor's billing."""

import datetime
import re
import time

from django.core.files.storage import default_storage
from django.utils import timezone

from conftest import PASSWORD
from telemed.billing.models import Invoice
from telemed.consults.tests.conftest import welbox_document
from telemed.rights import erasure
from telemed.rights.tests.conftest import paid_invoice
from tests.browser.conftest import off_the_loop, screenshot
from tests.browser.test_accessibility import blocking_violations
from tests.browser.test_messaging import doctor_with_demo_authenticator, log_in

CONFIRM_LINK = re.compile(r"https?://[^/\s]+(/rights/erasure/confirm/\S+/)")


def confirmation_link(mailbox, address: str, timeout: float = 30) -> str:
    """The path of the deletion's confirmation link in the e-mail the server received for ``address``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in list(mailbox.messages):
            if address in message["To"]:
                found = CONFIRM_LINK.search(message.get_body(preferencelist=("plain",)).get_content())
                if found:
                    return found.group(1)
        time.sleep(0.2)
    raise AssertionError(f"no confirmation link mailed to {address}")


def wait_for(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not off_the_loop(condition):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_a_patient_deletes_the_account_and_after_the_grace_period_is_gone_but_the_invoice_stays(
    new_page, make_patient, make_doctor, mailbox
):
    doctor = doctor_with_demo_authenticator(
        make_doctor, email="dott.verdi@example.test", first_name="Marco", last_name="Verdi"
    )
    patient = make_patient(email="sara.erase@example.test", first_name="Sara", last_name="Neri")
    document = off_the_loop(welbox_document, patient, name="Ecografia addome.pdf")
    invoice = off_the_loop(paid_invoice, doctor, patient)
    wait_for(lambda: bool(Invoice.objects.get(pk=invoice.pk).delivered_at))  # the worker made and delivered it
    files = [document.file.name]
    assert all(default_storage.exists(name) for name in files)

    page = new_page(locale="en-GB")
    log_in(page, patient)
    page.goto("/account/security/")
    page.get_by_test_id("erasure-link").click()
    page.wait_for_url("**/rights/erasure/")
    assert "2220" in page.get_by_test_id("erasure-kept-list").inner_text()
    assert "Welbox" in page.get_by_test_id("erasure-erased-list").inner_text()
    screenshot(page, "rights-erasure-page")
    assert blocking_violations(page) == []
    page.locator('[data-testid="erasure-form"] input[name="password"]').fill(PASSWORD)
    page.get_by_test_id("erasure-ask").click()
    page.get_by_test_id("erasure-asked").wait_for()

    page.goto(confirmation_link(mailbox, patient.email))
    page.get_by_test_id("erasure-confirm").click()
    page.get_by_test_id("erasure-confirmed").wait_for()
    page.goto("/dashboard/")
    assert page.get_by_test_id("erasure-banner").is_visible()  # during the grace period, every page says it
    page.goto("/rights/erasure/")
    page.get_by_test_id("erasure-scheduled").wait_for()
    screenshot(page, "rights-erasure-scheduled")
    assert blocking_violations(page) == []

    # A month later: the erasure runs as the scheduled task would.
    assert off_the_loop(erasure.erasures_run_due, now=timezone.now() + datetime.timedelta(days=31)) == 1

    page.goto("/dashboard/")
    page.wait_for_url("**/account/login/**")  # the session ended with the account
    page.locator('input[name="username"]').fill("sara.erase@example.test")
    page.locator('input[name="password"]').fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.locator("main form .errorlist, main form [role=alert]").first.wait_for()
    assert "/account/login/" in page.url
    assert not any(default_storage.exists(name) for name in files)

    doctor_page = new_page(locale="en-GB")
    log_in(doctor_page, doctor)
    doctor_page.goto("/billing/invoicing/")
    row = doctor_page.get_by_test_id("invoices").locator("tr", has_text=invoice.display_number)
    assert "Neri" in row.inner_text()  # the patient's data as invoiced
