"""The login lockout holds against the real login form: failures under several spellings of the
e-mail count for one account, and once it is locked the right password in yet another spelling
is refused. The running platform allows AXES_FAILURE_LIMIT failures (see the conftest)."""

from playwright.sync_api import expect

from conftest import PASSWORD
from tests.browser.conftest import screenshot

SPELLINGS = ["giulia@example.test", "GIULIA@example.test", "Giulia@Example.Test", " giulia@EXAMPLE.test "]
LIMIT = 50  # AXES_FAILURE_LIMIT of the live platform


def log_in_with_the_form(page, email: str, password: str) -> None:
    page.goto("/account/login/")
    page.get_by_label("E-mail:", exact=True).fill(email)
    page.get_by_label("Password:", exact=True).fill(password)
    page.get_by_role("button", name="Accedi").click()
    page.wait_for_load_state()


def test_case_variants_of_the_email_share_one_lockout_in_the_real_login_form(page, make_patient):
    make_patient(email="giulia@example.test", first_name="Giulia", last_name="Ferri")
    # The first failures are posted as the form would (quicker than typing them), each under
    # another spelling; the last one, which locks the account, is typed into the form.
    page.goto("/account/login/")
    token = page.locator("#main input[name=csrfmiddlewaretoken]").input_value()
    for attempt in range(LIMIT - 1):
        response = page.request.post(
            "/account/login/",
            form={"csrfmiddlewaretoken": token, "username": SPELLINGS[attempt % 4], "password": f"guess-{attempt}"},
        )
        assert response.status == 200, response.status
    log_in_with_the_form(page, "GIULIA@EXAMPLE.TEST", "guess-last")
    expect(page.get_by_role("heading", name="Troppi tentativi non riusciti")).to_be_visible()
    # Locked: the right password, in a spelling never tried before, does not get in.
    log_in_with_the_form(page, "gIuLiA@example.TEST", PASSWORD)
    expect(page.get_by_role("heading", name="Troppi tentativi non riusciti")).to_be_visible()
    screenshot(page, "login-locked-out")
    page.goto("/dashboard/")
    assert "/account/login/" in page.url
