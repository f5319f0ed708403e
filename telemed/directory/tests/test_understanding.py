"""The search as a patient types it: professional nouns, regions, small typos (both stacks), and
a wider search offered when nothing is found."""

import pytest
from django.urls import reverse

from telemed.directory import interpret
from telemed.directory.selectors import DoctorSearch
from telemed.directory.tests.test_search import city_of_doctors, names  # noqa: F401  (fixture)

SEARCH = reverse("directory:search")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("cardiologo", ["Marco Bianchi", "Francesca Esposito"]),
        ("cardiologa napoli", ["Francesca Esposito"]),
        ("dermatologi", ["Niccolò D'Angelo"]),
        ("pediatra", ["Giulia Russo"]),
        ("Cardiologist", ["Marco Bianchi", "Francesca Esposito"]),
        ("Lombardia", ["Marco Bianchi", "Giulia Russo"]),
        ("cardiologo lombardia", ["Marco Bianchi"]),
        ("pediatra in Emilia-Romagna", []),
        ("biachi", ["Marco Bianchi"]),  # one letter missing
        ("esposto", ["Francesca Esposito"]),
        ("russso", ["Giulia Russo"]),  # one letter too many
    ],
)
def test_nouns_regions_and_typos_find_the_doctors(city_of_doctors, text, expected):  # noqa: F811
    assert names(DoctorSearch(text=text)) == expected


def test_a_region_as_the_place_means_its_provinces(city_of_doctors):  # noqa: F811
    assert names(DoctorSearch(city="Lombardia")) == ["Marco Bianchi", "Giulia Russo"]
    assert names(DoctorSearch(city="campania", text="cardiologo")) == ["Francesca Esposito"]
    assert names(DoctorSearch(city="Milano")) == ["Marco Bianchi", "Giulia Russo"]  # a province still is one


def test_a_chosen_specialty_keeps_the_noun_a_plain_word(city_of_doctors):  # noqa: F811
    assert names(DoctorSearch(text="cardiologo", specialty="pediatria")) == []


def test_a_corrected_search_says_so_and_an_empty_one_offers_wider_searches(client, city_of_doctors):  # noqa: F811
    page = client.get(SEARCH, {"q": "biachi"}).content.decode()
    assert "Marco Bianchi" in page
    if 'data-testid="corrected"' in page:  # SQLite corrects after an empty result; PostgreSQL in the search
        assert "bianchi" in page
    page = client.get(SEARCH, {"q": "Russo", "city": "Roma", "specialty": "pediatria"}).content.decode()
    assert 'data-testid="no-results"' in page
    assert 'href="?q=Russo&amp;specialty=pediatria"' in page  # all of Italy
    assert 'href="?q=Russo&amp;city=Roma"' in page  # without the other filters
    assert 'href="?q=Russo"' in page
    wider = client.get(SEARCH, {"q": "Russo", "specialty": "pediatria"}).content.decode()
    assert "Giulia Russo" in wider


def test_typo_distance_is_bounded():
    assert interpret.edit_distance("biachi", "bianchi", 2) == 1
    assert interpret.edit_distance("rossi", "russo", 1) == 2  # beyond the limit of a short word
    assert interpret.close_words("rossi", ["russo", "rosso", "rossa"]) == ["rossa", "rosso"]
    assert interpret.close_words("cardiologo", ["cardiologia"]) == ["cardiologia"]
