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
    doctor = doctor_with_demo_authenticator(
        make_doctor, email="dott.lavoro@example.test", first_name="Carla", last_name="Riva"
    )
    patient = make_patient(email="piero.lavoro@example.test", first_name="Piero", last_name="Longo")
    other = make_patient(email="marta.lavoro@example.test", first_name="Marta", last_name="Fonti")
    off_the_loop(offer_consults, doctor)
    now = timezone.now()
    later = off_the_loop(_consult, doctor, patient)
    overdue = off_the_loop(_consult, doctor, other)
    Consult.objects.filter(pk=overdue.pk).update(deadline=now - datetime.timedelta(hours=3))
    upcoming = off_the_loop(_visit, doctor, patient, now + datetime.timedelta(minutes=5))
    owed = off_the_loop(
        _visit,
        doctor,
        other,
        now - datetime.timedelta(days=1),
        admitted_at=now - datetime.timedelta(days=1),
        status="ended",
    )
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


def test_a_new_doctor_is_guided_through_the_first_steps_and_the_profile_stays_honest(
    new_page, make_doctor, make_patient
):
    from decimal import Decimal

    from telemed.accounts.models import Certification
    from telemed.billing import donations, tariffs
    from telemed.signatures import services as signing
    from telemed.signatures.tests.conftest import code_for
    from telemed.visits import availability as visit_availability

    doctor = doctor_with_demo_authenticator(
        make_doctor, email="dott.nuova@example.test", first_name="Nadia", last_name="Nuovi"
    )
    patient = make_patient(email="ugo.nuova@example.test", first_name="Ugo", last_name="Bassi")
    doctor_page = new_page()
    log_in(doctor_page, doctor)
    doctor_page.goto("/dashboard/")
    steps = doctor_page.get_by_test_id("first-steps")
    keys = ["tariffs", "agenda", "signing", "donation", "certifications"]
    assert [steps.get_by_test_id(f"step-{key}").get_attribute("data-done") for key in keys] == ["false"] * 5
    screenshot(doctor_page, "dashboard-doctor-first-steps")

    # The public profile offers nothing that cannot be booked.
    patient_page = new_page()
    log_in(patient_page, patient)
    patient_page.goto(f"/medici/{doctor.doctor_profile.slug}/")
    patient_page.get_by_test_id("doctor-profile").wait_for()
    assert patient_page.get_by_test_id("book-video-visit").count() == 0

    # Each step leads to its page; the doctor does them one by one.
    for key, url in (("tariffs", "**/billing/tariffs/"), ("agenda", "**/visits/agenda/"), ("signing", "**/signatures/device/"),
                     ("donation", "**/billing/tariffs/#donation")):  # fmt: skip
        doctor_page.goto("/dashboard/")
        doctor_page.get_by_test_id(f"step-{key}").get_by_role("link").click()
        doctor_page.wait_for_url(url)
    off_the_loop(
        tariffs.tariff_set,
        actor=doctor,
        doctor=doctor.doctor_profile,
        kind="video",
        fee=Decimal("40.00"),
        duration_minutes=30,
    )
    import datetime

    off_the_loop(
        visit_availability.availability_rule_add, actor=doctor, weekday=0, start=datetime.time(9), end=datetime.time(12)
    )
    doctor_page.goto("/dashboard/")
    assert doctor_page.get_by_test_id("step-tariffs").get_attribute("data-done") == "true"
    assert doctor_page.get_by_test_id("step-agenda").get_attribute("data-done") == "true"
    assert doctor_page.get_by_test_id("step-signing").get_attribute("data-done") == "false"
    patient_page.reload()
    assert patient_page.get_by_test_id("book-video-visit").is_visible()

    off_the_loop(signing.certificate_authority_create, name="telemed First Steps Test CA")
    device = off_the_loop(signing.signing_device_enrol_start, actor=doctor)
    off_the_loop(signing.signing_device_confirm, actor=doctor, code=code_for(device, __import__("time").time()))
    off_the_loop(donations.donation_set, actor=doctor, percent=Decimal("0"), charity=None)
    Certification.objects.filter(doctor=doctor.doctor_profile).update(status="verified")
    doctor_page.goto("/dashboard/")
    doctor_page.get_by_test_id("doctor-work").wait_for()
    assert doctor_page.get_by_test_id("first-steps").count() == 0  # all done: the list is gone
