"""A visitor searches the directory as people type: "cardiologo", a typo in a surname, a region;
an empty result offers a wider search."""

import re

from django.core.management import call_command

from tests.browser.conftest import off_the_loop, screenshot


def search(page, text: str, city: str = "") -> list[str]:
    page.goto("/medici/")
    page.locator("input[name=q]").fill(text)
    page.locator("input[name=city]").fill(city)
    page.get_by_test_id("search-submit").click()
    page.wait_for_url(re.compile(r".*/medici/\?.*"))
    return [name.strip() for name in page.get_by_test_id("result").locator("h3").all_inner_texts()]


def test_a_visitor_finds_doctors_by_profession_typo_and_region(page):
    off_the_loop(call_command, "load_demo", verbosity=0)
    # Each result names the doctor after the title they chose (directory entries carry it).
    assert "Dott. Marco Bianchi" in search(page, "cardiologo")
    assert "Dott.ssa Francesca Esposito" in search(page, "pediatra")
    assert search(page, "biachi")[:1] == ["Dott. Marco Bianchi"]
    screenshot(page, "directory-typo")
    found = search(page, "", city="Lombardia")
    assert {"Dott. Marco Bianchi", "Dott.ssa Chiara Colombo"} <= set(found) and "Dott.ssa Giulia Russo" not in found
    assert search(page, "cardiologo Lombardia")[:1] == ["Dott. Marco Bianchi"]

    # Nothing in Sicily for a neurologist: the page offers the same search in all of Italy.
    assert search(page, "neurologo", city="Sicilia") == []
    wider = page.get_by_test_id("wider-searches")
    screenshot(page, "directory-wider-search")
    wider.get_by_role("link", name="La stessa ricerca in tutta Italia").click()
    page.get_by_test_id("result").first.wait_for()
    assert "Alessandro Romano" in page.get_by_test_id("result").first.inner_text()
