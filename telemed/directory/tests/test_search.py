"""The public search: filters, words, ranking, pages and bad input, on SQLite and on PostgreSQL."""

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from telemed.accounts.models import Structure
from telemed.billing import pricing
from telemed.directory import selectors, services
from telemed.directory.forms import DirectorySearchForm
from telemed.directory.models import DirectoryEntry
from telemed.directory.selectors import DoctorSearch, doctor_search

postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")
SEARCH = reverse("directory:search")


def names(search: DoctorSearch, page: int = 1) -> list[str]:
    return [result.entry.display_name for result in doctor_search(search, page).results]


def result_names(response) -> list[str]:
    return re.findall(r'data-testid="result".*?<h3><a href="[^"]+">([^<]+)</a>', response.content.decode(), re.S)


@pytest.fixture
def city_of_doctors(doctor_factory):
    """A few doctors who differ in everything the filters look at."""
    return {
        "bianchi": doctor_factory("Marco", "Bianchi", verified=True, languages=("it", "en"),
                                  fees={"info": "0", "base": "45.00", "priority": "85.00"}),
        "dangelo": doctor_factory("Niccolò", "D'Angelo", specialties=("dermatologia",), city="Roma", province="RM",
                                  second_opinion=False, fees={"info": "0", "base": "30.00", "video-30": "40.00"}),
        "russo": doctor_factory("Giulia", "Russo", specialties=("pediatria",), city="Sesto San Giovanni", province="MI",
                                languages=("it", "fr"), fees={"info": "0"}),
        "esposito": doctor_factory("Francesca", "Esposito", specialties=("cardiologia", "medicina-dello-sport"),
                                   city="Napoli", province="NA", fees={"info": "0", "base": "70.00", "imaging": "90.00"}),
    }  # fmt: skip


def test_every_public_doctor_is_found_verified_first(city_of_doctors):
    assert names(DoctorSearch()) == ["Marco Bianchi", "Niccolò D'Angelo", "Francesca Esposito", "Giulia Russo"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("bianchi", ["Marco Bianchi"]),
        ("BIANCHI marco", ["Marco Bianchi"]),
        ("niccolo", ["Niccolò D'Angelo"]),  # accents typed or not
        ("Niccolò d'angelo", ["Niccolò D'Angelo"]),
        ("dott. Russo", ["Giulia Russo"]),  # titles are ignored
        ("dermatologia", ["Niccolò D'Angelo"]),  # a specialty, in Italian…
        ("Dermatology", ["Niccolò D'Angelo"]),  # …or in English
        ("cardiologia napoli", ["Francesca Esposito"]),
        ("medicina dello sport", ["Francesca Esposito"]),
        ("zzzz", []),
    ],
)
def test_words_match_names_specialties_and_places_without_accents(city_of_doctors, text, expected):
    assert names(DoctorSearch(text=text)) == expected


@postgres_only
@pytest.mark.postgres
@pytest.mark.parametrize(
    "typo, expected", [("bianki", "Marco Bianchi"), ("esposto", "Francesca Esposito"), ("russso", "Giulia Russo")]
)
def test_small_typos_in_a_name_still_find_the_doctor_on_postgresql(city_of_doctors, typo, expected):
    assert names(DoctorSearch(text=typo))[:1] == [expected]


@postgres_only
@pytest.mark.postgres
def test_italian_stemming_matches_the_specialist_for_the_specialty_on_postgresql(city_of_doctors):
    assert names(DoctorSearch(text="cardiologo")) == ["Marco Bianchi", "Francesca Esposito"]
    # Giulia Russo practises in Sesto San Giovanni, in the province of Milano.
    assert names(DoctorSearch(text="pediatra milano")) == ["Giulia Russo"]
    assert names(DoctorSearch(text="pediatra roma")) == []


def test_the_exact_name_comes_first(doctor_factory):
    doctor_factory("Anna", "Rossini", verified=True)
    doctor_factory("Luca", "Rossi")
    doctor_factory("Mario", "Rossi")
    assert names(DoctorSearch(text="mario rossi"))[0] == "Mario Rossi"
    assert names(DoctorSearch(text="rossi"))[0] in {"Luca Rossi", "Mario Rossi"}


@pytest.mark.parametrize(
    "search, expected",
    [
        (DoctorSearch(specialty="cardiologia"), ["Marco Bianchi", "Francesca Esposito"]),
        (DoctorSearch(city="milano"), ["Marco Bianchi", "Giulia Russo"]),  # the city, and its province
        (DoctorSearch(city="MI"), ["Marco Bianchi", "Giulia Russo"]),
        (DoctorSearch(city="Sesto San Giovanni"), ["Giulia Russo"]),
        (DoctorSearch(city="roma"), ["Niccolò D'Angelo"]),
        (DoctorSearch(language="en"), ["Marco Bianchi"]),
        (DoctorSearch(language="fr", city="MI"), ["Giulia Russo"]),
        (DoctorSearch(second_opinion=True), ["Marco Bianchi", "Francesca Esposito", "Giulia Russo"]),
        (DoctorSearch(service="priority"), ["Marco Bianchi"]),
        (DoctorSearch(service="video"), ["Niccolò D'Angelo"]),
        (DoctorSearch(service="info"), ["Marco Bianchi", "Niccolò D'Angelo", "Francesca Esposito", "Giulia Russo"]),
        # Maximum price: what the patient pays in total (fee + platform fee + stamp duty), for
        # the service asked or else for the cheapest paid one; Info-only doctors have no price.
        (DoctorSearch(max_price=Decimal("40")), ["Niccolò D'Angelo"]),
        (DoctorSearch(max_price=Decimal("48")), ["Marco Bianchi", "Niccolò D'Angelo"]),
        (DoctorSearch(service="base", max_price=Decimal("47.99")), ["Niccolò D'Angelo"]),
        (DoctorSearch(service="imaging", max_price=Decimal("1000")), ["Francesca Esposito"]),
        (DoctorSearch(specialty="cardiologia", city="NA", service="base"), ["Francesca Esposito"]),
    ],
)
def test_filters(city_of_doctors, search, expected):
    assert names(search) == expected


def test_prices_of_the_entries_are_those_of_the_pricing_module(city_of_doctors):
    for doctor in city_of_doctors.values():
        entry = DirectoryEntry.objects.get(doctor=doctor)
        expected: dict[str, Decimal] = {}
        for item in pricing.price_list(doctor):
            expected[item.kind] = min(
                item.breakdown.patient_total, expected.get(item.kind, item.breakdown.patient_total)
            )
        assert {kind: getattr(entry, f"price_{kind}") for kind in expected} == expected
        paid = [total for kind, total in expected.items() if kind != "info"]
        assert entry.price_from == (min(paid) if paid else None)
    bianchi = DirectoryEntry.objects.get(doctor=city_of_doctors["bianchi"])
    # 85.00 + platform fee 5.00 + stamp duty 2.00 (the exempt amount is over 77.47).
    assert bianchi.price_priority == Decimal("92.00")


def test_pages_of_twenty_and_any_page_number_gives_a_page(doctor_factory):
    for n in range(45):
        doctor_factory("Medico", f"Numero{n:02d}", fees={"info": "0"})
    first = doctor_search(DoctorSearch(), 1)
    assert (first.count, first.num_pages, len(first.results)) == (45, 3, 20)
    assert first.results[0].entry.display_name == "Medico Numero00"
    last = doctor_search(DoctorSearch(), 3)
    assert [r.entry.display_name for r in last.results] == [f"Medico Numero{n}" for n in range(40, 45)]
    assert doctor_search(DoctorSearch(), 10**9).number == 3
    assert doctor_search(DoctorSearch(), -4).number == 1
    seen = {r.entry.doctor_id for page in (1, 2, 3) for r in doctor_search(DoctorSearch(), page).results}
    assert len(seen) == 45  # every doctor once, on a stable order


def test_a_search_is_a_shareable_url_and_pages_keep_the_filters(client, doctor_factory):
    for n in range(25):
        doctor_factory("Medico", f"Cardio{n:02d}", languages=("it", "en"), fees={"info": "0"})
    doctor_factory("Medico", "Altro", specialties=("pediatria",))
    response = client.get(SEARCH, {"specialty": "cardiologia", "language": "en", "q": "medico"})
    assert response.status_code == 200
    html = response.content.decode()
    assert len(result_names(response)) == 20
    assert 'href="?q=medico&amp;specialty=cardiologia&amp;language=en&amp;page=2"' in html
    second = client.get(SEARCH + "?q=medico&specialty=cardiologia&language=en&page=2")
    assert len(result_names(second)) == 5
    assert '<option value="cardiologia" selected>' in second.content.decode()


@pytest.mark.parametrize(
    "query",
    [
        "q=" + "x" * 10000,
        "q=%27%3B+DROP+TABLE+accounts_user%3B--&city=%00",
        "q=a:*+|+b+%26+!(c)&city=%5C",
        "q=%E2%80%AE%F0%9F%98%80+%00%01",
        "page=99999999999999999999",
        "page=-1&specialty=%3Cscript%3E",
        "page=abc&max_price=-5",
        "max_price=1e400&language=xx&service=surgery&second_opinion=banana",
        "max_price=NaN",
        "specialty=cardiologia&specialty=dermatologia",
        "q=di+la+il",
    ],
)
def test_bad_input_gives_a_normal_page(client, city_of_doctors, query):
    response = client.get(f"{SEARCH}?{query}")
    assert response.status_code == 200
    assert "<h1>" in response.content.decode()


def test_filters_that_do_not_parse_are_left_out_and_say_why(client, city_of_doctors):
    response = client.get(SEARCH, {"max_price": "-5", "specialty": "<script>", "q": "bianchi"})
    html = response.content.decode()
    assert response.status_code == 200
    assert result_names(response) == ["Dott. Marco Bianchi"]  # the words still count
    assert 'id="id_max_price_error"' in html and 'id="id_specialty_error"' in html
    assert "<script>" not in html.split("<main", 1)[1]
    form = DirectorySearchForm({"max_price": "-5", "q": "  bianchi  ", "page": "7"})
    assert form.criteria() == DoctorSearch(text="bianchi")
    assert form.page_number() == 7


def test_the_text_is_bounded_before_it_reaches_a_query(client, city_of_doctors):
    with CaptureQueriesContext(connection) as queries:
        client.get(SEARCH, {"q": "bianchi " * 2000})
    assert all(len(query["sql"]) < 10000 for query in queries.captured_queries)
    assert DirectorySearchForm({"q": "x" * 10000}).criteria().text == "x" * 200
    assert len(DoctorSearch(text="a1 b2 c3 d4 e5 f6 g7 h8 i9").words) == selectors.MAX_WORDS


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"page": "2"},
        {"q": "medico"},
        {"q": "medico numero"},
        {"specialty": "cardiologia", "city": "MI", "language": "it", "service": "base", "max_price": "100"},
        {"q": "cardiologia milano", "second_opinion": "on"},
    ],
)
def test_the_number_of_queries_does_not_grow_with_the_doctors(client, doctor_factory, params):
    def queries_for_a_search() -> int:
        client.get(SEARCH, params)  # warm: the reference lists, the sweep check
        with CaptureQueriesContext(connection) as captured:
            assert client.get(SEARCH, params).status_code == 200
        return len(captured.captured_queries)

    for n in range(5):
        doctor_factory("Medico", f"Numero{n:02d}", fees={"info": "0", "base": "50"})
    few = queries_for_a_search()
    for n in range(5, 50):
        doctor_factory("Medico", f"Numero{n:02d}", fees={"info": "0", "base": "50"})
    assert queries_for_a_search() == few
    assert few <= 6


def test_a_deactivated_doctor_leaves_the_results_at_once(city_of_doctors):
    user = city_of_doctors["bianchi"].user
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert "Marco Bianchi" not in names(DoctorSearch())


def test_the_search_page_shows_each_result_with_its_facts(client, city_of_doctors):
    response = client.get(SEARCH, {"q": "bianchi"}, HTTP_ACCEPT_LANGUAGE="en")
    html = response.content.decode()
    assert f'href="{reverse("directory:profile", args=[city_of_doctors["bianchi"].slug])}"' in html
    assert "Cardiology" in html and "Milano (MI)" in html
    assert 'class="avatar" aria-hidden="true">MB<' in html
    assert "48,00" in html or "48.00" in html  # from: the cheapest paid service, patient's total
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)


def test_doctors_named_by_the_words_come_before_other_matches(doctor_factory):
    structure = Structure.objects.create(
        name="Poliambulatorio Rossi",
        slug="poli-rossi",
        partita_iva="12345670017",
        address="Via Dante 1",
        city="Milano",
        province="MI",
    )
    doctor_factory("Anna", "Abate", verified=True, structure=structure)  # "rossi" only in her structure's name
    doctor_factory("Luca", "Rossi")
    assert names(DoctorSearch(text="rossi")) == ["Luca Rossi", "Anna Abate"]


def test_capped_results_page_the_same_order(doctor_factory, monkeypatch):
    for n in range(30):
        doctor_factory("Medico", f"Numero{n:02d}", verified=n % 3 == 0, fees={"info": "0"})
    full = [result.entry.display_name for page in (1, 2) for result in doctor_search(DoctorSearch(), page).results]
    monkeypatch.setattr(selectors, "MAX_RESULTS", 12)
    monkeypatch.setattr(selectors, "SORT_LIMIT", 20)  # more matches than that: read along the order index
    monkeypatch.setattr(selectors, "PAGE_SIZE", 5)
    pages = [doctor_search(DoctorSearch(), page) for page in (1, 2, 3, 4)]
    assert [(p.count, p.capped, p.num_pages, p.number) for p in pages][-1] == (12, True, 3, 3)
    assert [r.entry.display_name for p in pages[:3] for r in p.results] == full[:12]
    # With words too: a capped first tier (one surname for many doctors) keeps the stable order.
    named = [r.entry.display_name for p in (1, 2, 3) for r in doctor_search(DoctorSearch(text="medico"), p).results]
    assert named == full[:12]


def test_each_result_names_the_doctor_after_the_title_they_chose(client, doctor_factory):
    doctor = doctor_factory("Anna", "Conti", index=False)
    type(doctor).objects.filter(pk=doctor.pk).update(title="dottssa")
    doctor.refresh_from_db()
    services.directory_entry_refresh(doctor=doctor)
    doctor_factory("Marco", "Bianchi")
    assert sorted(result_names(client.get(SEARCH))) == ["Dott. Marco Bianchi", "Dott.ssa Anna Conti"]
    english = client.get(SEARCH, HTTP_ACCEPT_LANGUAGE="en")
    assert sorted(result_names(english)) == ["Dr. Anna Conti", "Dr. Marco Bianchi"]


def test_a_search_asked_again_comes_from_the_cache_until_the_entries_change(doctor_factory):
    doctor = doctor_factory("Marco", "Bianchi")
    doctor_factory("Anna", "Bianchi")
    found = lambda: sorted(names(DoctorSearch(text="bianchi")))  # noqa: E731
    assert found() == ["Anna Bianchi", "Marco Bianchi"]
    with CaptureQueriesContext(connection) as queries:
        assert found() == ["Anna Bianchi", "Marco Bianchi"]
    assert len(queries) == 2  # the entries' last refresh and the live check of the accounts
    doctor.user.first_name = "Mario"
    doctor.user.save(update_fields=["first_name"])
    services.directory_entry_refresh(doctor=doctor)
    assert found() == ["Anna Bianchi", "Mario Bianchi"]
    type(doctor.user).objects.filter(pk=doctor.user.pk).update(is_active=False)  # no refresh yet
    assert found() == ["Anna Bianchi"]
