"""A doctor opens Intramed and finds colleagues without knowing how their names are spelled."""

import re

from telemed.messaging import services
from telemed.messaging.tests.test_colleagues import structure
from tests.browser.conftest import off_the_loop, screenshot
from tests.browser.test_messaging import doctor_with_demo_authenticator, log_in
from tests.browser.test_visit_booking import wait_for_due_tasks


def test_intramed_offers_known_colleagues_and_finds_part_of_a_name(new_page, make_doctor):
    me = doctor_with_demo_authenticator(make_doctor, email="elsa@example.test", first_name="Elsa", last_name="Moro")
    pen_pal = make_doctor(email="bruno@example.test", first_name="Bruno", last_name="Gallo")
    same_place = make_doctor(email="ciro@example.test", first_name="Ciro", last_name="Esposito")
    far = make_doctor(email="mario@example.test", first_name="Mario", last_name="Rossetti")

    def arrange():
        clinic = structure("Poliambulatorio Navigli")
        for doctor in (me, same_place):
            doctor.doctor_profile.structure = clinic
            doctor.doctor_profile.save(update_fields=["structure"])
        services.conversation_start_intramed(actor=pen_pal, doctors=[me], subject="ECG", text="Un parere?")

    off_the_loop(arrange)
    page = new_page()
    log_in(page, me)
    page.goto("/messages/new/intramed/")
    assert page.get_by_label(re.compile("Bruno Gallo")).is_visible()
    assert page.get_by_label(re.compile("Ciro Esposito")).is_visible()
    assert "Colleghi a cui scrivi" in page.content() and "La tua struttura sanitaria" in page.content()
    screenshot(page, "intramed-colleagues")
    page.locator("#colleague-search").fill("dott. ross")
    page.get_by_role("button", name="Cerca").click()
    page.get_by_label(re.compile("Mario Rossetti")).check()
    page.get_by_label(re.compile("Ciro Esposito")).check()
    page.locator("input[name=subject]").fill("Consulto")
    page.locator("textarea[name=text]").fill("Vi chiedo un parere")
    page.locator("form.card button[type=submit]").click()
    page.wait_for_url(re.compile(r"/messages/\d+/$"))
    conversation = off_the_loop(lambda: services.Conversation.objects.get(subject="Consulto"))
    members = off_the_loop(lambda: set(conversation.participants.values_list("user_id", flat=True)))
    assert members == {me.pk, far.pk, same_place.pk}
    wait_for_due_tasks()
