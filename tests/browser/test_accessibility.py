"""axe-core (bundled by axe-playwright-python) finds no serious or critical violation on the
pages everyone meets first, on a desktop and on a phone-sized screen."""

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.core.management import call_command

from tests.browser.conftest import off_the_loop, screenshot

PUBLIC_PAGES = [
    "/",
    "/account/register/",
    "/account/register/patient/",
    "/account/register/doctor/",
    "/account/register/structure/",
    "/account/login/",
    "/medici/",
]
BLOCKING = {"serious", "critical"}


def blocking_violations(page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in BLOCKING
    ]


@pytest.mark.parametrize(
    "viewport", [{"width": 1280, "height": 900}, {"width": 390, "height": 844}], ids=["desktop", "phone"]
)
def test_public_pages_have_no_serious_accessibility_violations(new_page, viewport):
    page = new_page(viewport=viewport)
    problems = {}
    for url in PUBLIC_PAGES:
        page.goto(url)
        if found := blocking_violations(page):
            problems[url] = found
    screenshot(page, f"directory-{viewport['width']}")
    assert problems == {}


def test_forms_with_errors_and_dashboards_have_no_serious_accessibility_violations(new_page):
    off_the_loop(call_command, "load_demo", verbosity=0)
    page = new_page()
    problems = {}

    page.goto("/account/register/doctor/")
    page.get_by_role("button", name="Crea il mio account").click()
    if found := blocking_violations(page):
        problems["doctor registration with errors"] = found

    from tests.browser.test_registration_flows import code_for

    # Doctors and staff pass the second factor (the demo authenticator) on the way.
    for email in ["paziente", "segreteria", "struttura", "medico", "staff"]:
        page.context.clear_cookies()
        page.goto("/account/login/")
        page.get_by_label("E-mail:", exact=True).fill(f"{email}@demo.telemed.test")
        page.get_by_label("Password:", exact=True).fill("demo-telemed-2026")
        page.get_by_role("button", name="Accedi").click()
        if email in ("medico", "staff"):
            page.wait_for_url("**/two-factor/verify/**")
            if found := blocking_violations(page):
                problems["two-factor verify"] = found
            page.get_by_label("Codice:", exact=True).fill(code_for("ORSWYZLNMVSC2ZDFNVXS25DPORYC2MRW"))
            page.get_by_role("button", name="Continua").click()
        page.wait_for_url("**/dashboard/")
        screenshot(page, f"dashboard-{email}")
        if found := blocking_violations(page):
            problems[f"dashboard of {email}"] = found
    assert problems == {}
