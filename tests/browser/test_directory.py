"""A visitor finds a doctor without logging in, opens the profile and reads the full cost of a
priority consult; the request button leads to the login and back to the profile."""

import re

from axe_playwright_python.sync_playwright import Axe
from django.core.management import call_command

from tests.browser.conftest import off_the_loop, screenshot


def serious_accessibility_problems(page) -> list[str]:
    violations = Axe().run(page).response["violations"]
    return [f"{v['id']}: {v['help']}" for v in violations if v["impact"] in {"serious", "critical"}]


def test_a_visitor_searches_opens_a_profile_and_reads_the_full_cost(page):
    off_the_loop(call_command, "load_demo", verbosity=0)  # ends by building the directory's entries

    page.goto("/medici/")
    page.locator("input[name=q]").fill("Bianchi")
    page.locator("select[name=specialty]").select_option("cardiologia")
    page.get_by_test_id("search-submit").click()
    page.wait_for_url(re.compile(r".*/medici/\?.*q=Bianchi.*specialty=cardiologia.*"))
    results = page.get_by_test_id("result")
    assert results.count() == 1
    assert "Cardiologia" in results.first.inner_text()
    screenshot(page, "directory-search")
    assert serious_accessibility_problems(page) == []

    # The same search is a URL anyone can share.
    shared = page.url
    page.goto("/")
    page.goto(shared)
    assert page.get_by_test_id("result").count() == 1

    page.get_by_role("link", name="Marco Bianchi").click()
    page.wait_for_url("**/medici/marco-bianchi/")
    assert page.get_by_role("heading", level=1).inner_text() == "Dott. Marco Bianchi"  # the title the doctor chose
    assert page.get_by_test_id("verified-badge").is_visible()

    priority = page.get_by_test_id("service-priority")
    assert priority.get_by_test_id("commitment").is_visible()
    rows = [row.inner_text() for row in priority.locator("table.breakdown tbody tr").all()]
    # Doctor's fee, platform fee, stamp duty (the exempt amount is over 77.47), the patient's total.
    assert [re.search(r"\d+,\d\d", row).group(0) for row in rows] == ["85,00", "5,00", "2,00", "92,00"]
    assert page.get_by_test_id("donation").is_visible()
    screenshot(page, "directory-profile")
    assert serious_accessibility_problems(page) == []

    # Asking for the consult starts with the login, which brings the patient back here.
    priority.get_by_test_id("request-priority").click()
    page.wait_for_url(re.compile(r".*/account/login/\?next=.*marco-bianchi.*"))
    page.get_by_label("E-mail:", exact=True).fill("paziente@demo.telemed.test")
    page.get_by_label("Password:", exact=True).fill("demo-telemed-2026")
    page.get_by_role("button", name="Accedi").click()
    page.wait_for_url("**/medici/marco-bianchi/")
    assert page.get_by_test_id("service-priority").is_visible()
