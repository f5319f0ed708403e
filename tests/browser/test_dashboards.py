"""The dashboards show the work: a doctor finds the overdue consult first, today's visit, the visit
whose report is owed and the proformas to validate; a patient finds the next visit with its
waiting-room button and what there is to pay."""

import datetime

from django.utils import timezone

from telemed.consults.models import Consult
from telemed.consults.tests.conftest import offer_consults
from telemed.portal.tests.test_dashboards import _bill, _consult, _visit
from tests.browser.conftest import off_the_loop, screenshot
from tests.browser.test_messaging import doctor_with_demo_authenticator, log_in


def test_the_dashboards_show_the_work_of_the_day(new_page, make_doctor, make_patient):
    doctor = doctor_with_demo_authenticator(make_doctor, email="dott.lavoro@example.test", first_name="Carla", last_name="Riva")
    patient = make_patient(email="piero.lavoro@example.test", first_name="Piero", last_name="Longo")
    other = make_patient(email="marta.lavoro@example.test", first_name="Marta", last_name="Fonti")
    off_the_loop(offer_consults, doctor)
    now = timezone.now()
    later = off_the_loop(_consult, doctor, patient)
    overdue = off_the_loop(_consult, doctor, other)
    Consult.objects.filter(pk=overdue.pk).update(deadline=now - datetime.timedelta(hours=3))
    upcoming = off_the_loop(_visit, doctor, patient, now + datetime.timedelta(minutes=5))
    owed = off_the_loop(_visit, doctor, other, now - datetime.timedelta(days=1), admitted_at=now - datetime.timedelta(days=1), status="ended")
    off_the_loop(_bill, doctor, other, validate=False)
    off_the_loop(_bill, doctor, patient, validate=True)

    doctor_page = new_page()
    log_in(doctor_page, doctor)
    doctor_page.goto("/dashboard/")
    work = doctor_page.get_by_test_id("doctor-work")
    consults = work.get_by_test_id("work-consults").locator("li")
    assert consults.count() == 2
    assert "Marta Fonti" in consults.nth(0).inner_text() and consults.nth(0).get_by_test_id("overdue").is_visible()
    assert "Piero Longo" in consults.nth(1).inner_text()
    assert "Piero Longo" in work.get_by_test_id("work-today").inner_text()
    assert work.get_by_test_id("work-proformas").get_by_role("link").is_visible()
    screenshot(doctor_page, "dashboard-doctor-work")
    work.get_by_test_id(f"work-report-visit-{owed.pk}").get_by_role("link").click()
    doctor_page.wait_for_url(f"**/visits/{owed.pk}/report/")
    doctor_page.goto("/dashboard/")
    doctor_page.get_by_test_id(f"work-consult-{overdue.pk}").get_by_role("link").click()
    doctor_page.wait_for_url(f"**/consults/{overdue.pk}/")
    assert later.pk != overdue.pk

    patient_page = new_page()
    log_in(patient_page, patient)
    patient_page.goto("/dashboard/")
    assert patient_page.get_by_test_id("to-pay").locator("li").count() == 1
    screenshot(patient_page, "dashboard-patient-overview")
    patient_page.get_by_test_id("enter-waiting-room").click()
    patient_page.wait_for_url(f"**/visits/{upcoming.pk}/room/")
    patient_page.goto("/dashboard/")
    patient_page.get_by_test_id("to-pay").get_by_role("link").click()
    patient_page.wait_for_url("**/billing/payments/*/")
