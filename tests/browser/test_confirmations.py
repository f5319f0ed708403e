"""Destructive or binding one-click actions ask first, saying what happens: cancelling a consult and
asking a doctor to be linked (a GET confirmation page that POSTs, so it works without JavaScript);
a refused consult request keeps the file the patient had chosen."""

import uuid
from decimal import Decimal

from telemed.billing import tariffs
from telemed.care.models import CareLink
from telemed.consults import services as consults
from telemed.consults.models import Consult, ConsultAttachment
from telemed.consults.tests.conftest import pdf_bytes
from tests.browser.conftest import off_the_loop, screenshot
from tests.browser.test_messaging import log_in
from tests.browser.test_paying import worker_idle


def _doctor_offering_consults(make_doctor, email):
    doctor = make_doctor(email=email, first_name="Lucia", last_name="Ferri")
    off_the_loop(
        tariffs.tariff_set, actor=doctor, doctor=doctor.doctor_profile, kind="base", fee=Decimal("50.00"),
        response_value=72, response_unit="hours",
    )  # fmt: skip
    return doctor


def test_cancelling_a_consult_asks_first_and_says_nothing_is_charged(new_page, make_doctor, make_patient):
    doctor = _doctor_offering_consults(make_doctor, "dott.ferri@example.test")
    patient = make_patient(email="irene@example.test", first_name="Irene")
    consult, _created = off_the_loop(
        consults.consult_request, actor=patient, doctor=doctor.doctor_profile,
        draft=consults.ConsultDraft(kind="base", question="Mal di testa frequente", accepted_terms=True, idempotency_key=uuid.uuid4()),
    )  # fmt: skip
    page = new_page()
    log_in(page, patient)
    page.goto(f"/consults/{consult.pk}/")
    page.get_by_test_id("cancel-consult").click()
    confirm = page.get_by_test_id("confirm-cancel")
    assert "Non paghi nulla" in confirm.inner_text() and "Non si può annullare" in confirm.inner_text()
    assert off_the_loop(lambda: Consult.objects.get(pk=consult.pk).status) == "requested"  # nothing happened yet
    screenshot(page, "confirm-cancel-consult")
    confirm.get_by_role("link", name="No, mantienilo").click()
    page.wait_for_url(f"**/consults/{consult.pk}/")
    assert off_the_loop(lambda: Consult.objects.get(pk=consult.pk).status) == "requested"
    page.get_by_test_id("cancel-consult").click()
    page.get_by_role("button", name="Sì, annulla il consulto").click()
    page.wait_for_url(f"**/consults/{consult.pk}/")
    assert off_the_loop(lambda: Consult.objects.get(pk=consult.pk).status) == "cancelled"
    worker_idle()


def test_asking_to_be_linked_shows_the_consent_before_sending(new_page, make_doctor, make_patient):
    doctor = make_doctor(email="dott.riva@example.test", first_name="Ugo", last_name="Riva")
    patient = make_patient(email="nadia@example.test", first_name="Nadia")
    page = new_page()
    log_in(page, patient)
    page.goto(f"/medici/{doctor.doctor_profile.slug}/")
    page.get_by_test_id("care-request").click()
    confirm = page.get_by_test_id("confirm-care-request")
    assert "Ugo Riva" in confirm.get_by_test_id("consent-text").inner_text()
    assert not off_the_loop(lambda: CareLink.objects.filter(patient=patient).exists())  # nothing sent yet
    screenshot(page, "confirm-care-request")
    confirm.get_by_label("Messaggio per il medico (facoltativo)").fill("Sono una sua paziente dello studio.")
    confirm.get_by_role("button", name="Invia la richiesta").click()
    page.wait_for_url("**/care/")
    link = off_the_loop(lambda: CareLink.objects.get(patient=patient))
    assert link.status == "requested" and link.message == "Sono una sua paziente dello studio."
    worker_idle()


def test_a_refused_consult_request_keeps_the_chosen_file(new_page, make_doctor, make_patient, tmp_path):
    doctor = _doctor_offering_consults(make_doctor, "dott.ferri2@example.test")
    patient = make_patient(email="ettore@example.test", first_name="Ettore")
    report = tmp_path / "esami-marzo.pdf"
    report.write_bytes(pdf_bytes())
    page = new_page()
    log_in(page, patient)
    page.goto(f"/consults/new/{doctor.doctor_profile.slug}/")
    page.locator("textarea[name=question]").fill("Valori del colesterolo alti: cosa fare?")
    page.locator("input[name=uploads]").set_input_files(str(report))
    page.get_by_test_id("send-consult").click()  # the cost not accepted yet: refused
    kept = page.get_by_test_id("kept-uploads")
    assert "esami-marzo.pdf" in kept.inner_text()
    assert page.get_by_label("esami-marzo.pdf").is_checked()
    screenshot(page, "consult-request-kept-file")
    page.locator("input[name=accept]").check()
    page.get_by_test_id("send-consult").click()
    page.wait_for_url("**/consults/*/")
    consult = off_the_loop(lambda: Consult.objects.get(patient=patient))
    names = off_the_loop(lambda: [a.document.name for a in ConsultAttachment.objects.filter(consult=consult)])
    assert names == ["esami-marzo.pdf"]
    worker_idle()
