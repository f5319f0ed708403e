"""Intramed offers colleagues before anything is typed, and finds them by part of the name."""

import pytest
from django.urls import reverse

from conftest import verified_client
from telemed.accounts.models import Structure
from telemed.messaging import selectors, services

pytestmark = pytest.mark.django_db


def structure(name: str) -> Structure:
    from telemed.portal.management.commands.load_demo import demo_partita_iva

    return Structure.objects.create(
        name=name, slug=name.lower().replace(" ", "-"), partita_iva=demo_partita_iva(812345),
        address="Via Roma 1", city="Milano", province="MI",
    )  # fmt: skip


def test_colleagues_one_writes_to_and_of_the_same_structure_are_offered_without_typing(make_doctor):
    me = make_doctor(email="me@example.test", first_name="Aldo", last_name="Neri")
    pen_pal = make_doctor(email="pal@example.test", first_name="Bice", last_name="Gallo")
    same_place = make_doctor(email="same@example.test", first_name="Ciro", last_name="Esposito")
    stranger = make_doctor(email="far@example.test", first_name="Dina", last_name="Russo")
    clinic = structure("Poliambulatorio Brera")
    for doctor in (me, same_place):
        doctor.doctor_profile.structure = clinic
        doctor.doctor_profile.save(update_fields=["structure"])
    services.conversation_start_intramed(actor=pen_pal, doctors=[me], subject="ECG", text="Un parere?")
    assert selectors.colleagues_written_to(me) == [pen_pal]
    assert selectors.colleagues_of_structure(me) == [same_place]
    page = verified_client(me, language="en").get(reverse("messaging:new_intramed")).content.decode()
    assert "Bice Gallo" in page and "Ciro Esposito" in page and "Dina Russo" not in page
    assert "Colleagues you write to" in page and "Your health structure" in page
    assert stranger not in selectors.colleagues_written_to(me)


def test_the_search_takes_parts_of_names_titles_and_initials(make_doctor):
    me = make_doctor(email="me@example.test", first_name="Aldo", last_name="Neri")
    rossi = make_doctor(email="rossi@example.test", first_name="Mario", last_name="Rossi")
    for query in ("ross", "Ros Mar", "dott. Rossi", "Rossi M.", "Dr Mario"):
        assert selectors.colleague_search(me, query) == [rossi], query
    assert selectors.colleague_search(me, "dott.") == []
    assert selectors.colleague_search(me, "neri") == []  # not oneself
    page = verified_client(me, language="en").get(reverse("messaging:new_intramed") + "?q=Zzz").content.decode()
    assert 'data-testid="no-colleague-found"' in page
