"""Booking a video visit as a patient and answering as a doctor, in Italian: the date negotiation
reads in words, the page's main button is the one the page is for."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from telemed.billing.tariffs import tariff_set
from telemed.visits import availability as visit_availability
from tests.browser.conftest import off_the_loop, screenshot
from tests.browser.test_messaging import doctor_with_demo_authenticator, log_in


def wait_for_due_tasks(timeout: float = 30) -> None:
    """Let the platform's worker finish what is due (the booking e-mails) before the test ends:
    the next test empties the database under a task still running."""
    import time

    from django_tasks_db.models import DBTaskResult

    def busy() -> bool:
        return DBTaskResult.objects.ready().exists() or DBTaskResult.objects.running().exists()

    deadline = time.monotonic() + timeout
    while off_the_loop(busy):
        assert time.monotonic() < deadline, "tasks still pending"
        time.sleep(0.2)


@pytest.fixture
def visit_doctor(make_doctor):
    doctor = doctor_with_demo_authenticator(
        make_doctor, email="dott.ferri@example.test", first_name="Carla", last_name="Ferri"
    )
    off_the_loop(
        tariff_set, actor=doctor, doctor=doctor.doctor_profile, kind="video", fee=Decimal("50.00"), duration_minutes=30
    )
    off_the_loop(
        visit_availability.agenda_update, actor=doctor, slot_minutes=30, horizon_days=30, min_notice_hours=2, cancel_notice_hours=24,
        reschedule_notice_hours=24,
    )  # fmt: skip
    for weekday in range(7):
        off_the_loop(
            visit_availability.availability_rule_add,
            actor=doctor,
            weekday=weekday,
            start=datetime.time(9),
            end=datetime.time(12),
        )
    return doctor


def test_a_date_negotiation_reads_in_italian_and_leads_with_the_answer(new_page, visit_doctor, make_patient):
    patient = make_patient(email="marta@example.test", first_name="Marta", last_name="Riva")
    patient_page, doctor_page = new_page(), new_page()
    log_in(patient_page, patient)
    patient_page.goto(f"/visits/book/{visit_doctor.doctor_profile.slug}/")
    day = timezone.localdate() + datetime.timedelta(days=5)
    form = patient_page.locator('[data-testid="proposal-form"]')
    form.locator('input[name="day"]').fill(day.isoformat())
    form.locator('input[name="time"]').fill("18:30")
    form.locator('textarea[name="message"]').fill("Dopo il lavoro, se possibile")
    form.locator('button[name="propose"]').click()
    patient_page.wait_for_url("**/visits/proposals/*/")
    steps = patient_page.locator('[data-testid="steps"]').inner_text()
    assert "ha proposto" in steps and "propose" not in steps
    # Waiting for the doctor: no message box above a lone "withdraw" button, but what happens next.
    assert patient_page.locator('[data-testid="reply-form"]').count() == 0
    assert "riceverai una notifica" in patient_page.locator('[data-testid="waiting-notice"]').inner_text()
    assert patient_page.locator('[data-testid="withdraw"]').inner_text() == "Ritira la richiesta"
    screenshot(patient_page, "visits-proposal-patient-waiting")

    log_in(doctor_page, visit_doctor)
    doctor_page.goto(patient_page.url)
    reply = doctor_page.locator('[data-testid="reply-form"]')
    # The first (primary) button answers the request.
    assert reply.locator("button.button:not(.secondary)").inner_text() == "Accetta questa data"
    assert reply.locator('button[value="reject"]').inner_text() == "Rifiuta la richiesta"
    assert doctor_page.locator('[data-testid="withdraw-form"]').count() == 0
    reply.locator('input[name="day"]').fill(day.isoformat())
    reply.locator('input[name="time"]').fill("11:00")
    reply.locator('textarea[name="message"]').fill("Alle 11 sono libera")
    reply.locator('button[value="propose"]').click()
    doctor_page.locator('[data-testid="waiting-notice"]').wait_for()
    assert "In attesa del paziente" in doctor_page.locator('[data-testid="proposal-status"]').inner_text()
    screenshot(doctor_page, "visits-proposal-doctor-proposed")

    patient_page.reload()
    patient_page.locator('[data-testid="reply-form"] button[value="accept"]').click()
    patient_page.wait_for_url("**/visits/*/")
    patient_page.goto(doctor_page.url)
    steps = patient_page.locator('[data-testid="steps"]').inner_text()
    assert "ha accettato la data" in steps and "accept" not in steps
    assert "Concordata" in patient_page.locator('[data-testid="proposal-status"]').inner_text()
    screenshot(patient_page, "visits-proposal-agreed")
    wait_for_due_tasks()


def test_holidays_are_not_offered_until_the_doctor_opens_one(new_page, make_doctor, make_patient):
    from django.utils import translation

    from telemed.lib import formatting
    from telemed.lib.italy import public_holidays

    today = timezone.localdate()
    holiday = min(
        day
        for year in (today.year, today.year + 1)
        for day in public_holidays(year)
        if day > today + datetime.timedelta(days=1)
    )
    doctor = doctor_with_demo_authenticator(
        make_doctor, email="dott.gallo@example.test", first_name="Pia", last_name="Gallo"
    )
    off_the_loop(
        tariff_set, actor=doctor, doctor=doctor.doctor_profile, kind="video", fee=Decimal("50.00"), duration_minutes=30
    )
    off_the_loop(
        visit_availability.agenda_update, actor=doctor, slot_minutes=30, horizon_days=(holiday - today).days + 2, min_notice_hours=2,
        cancel_notice_hours=24, reschedule_notice_hours=24,
    )  # fmt: skip
    for weekday in range(7):
        off_the_loop(
            visit_availability.availability_rule_add,
            actor=doctor,
            weekday=weekday,
            start=datetime.time(9),
            end=datetime.time(10),
        )
    patient = make_patient(email="ugo@example.test", first_name="Ugo", last_name="Bassi")
    patient_page, doctor_page = new_page(), new_page()
    log_in(patient_page, patient)
    book = f"/visits/book/{doctor.doctor_profile.slug}/"
    with translation.override("it"):  # the page's Italian dates, as lib.formatting writes them
        label = formatting.long_date(holiday)
        day_before = formatting.long_date(holiday - datetime.timedelta(days=1))
    patient_page.goto(book)
    assert patient_page.locator("fieldset.slot-day legend", has_text=day_before).count() == 1
    assert patient_page.locator("fieldset.slot-day legend", has_text=label).count() == 0

    log_in(doctor_page, doctor)
    doctor_page.goto("/visits/agenda/")
    row = doctor_page.locator(f'[data-testid="holiday"][data-day="{holiday.isoformat()}"]')
    assert "chiuso alle visite" in row.inner_text()
    row.get_by_role("button", name="Apri alle visite").click()
    doctor_page.wait_for_url("**/visits/agenda/")
    row = doctor_page.locator(f'[data-testid="holiday"][data-day="{holiday.isoformat()}"][data-open="1"]')
    assert "aperto alle visite" in row.inner_text()
    screenshot(doctor_page, "visits-agenda-holidays")

    patient_page.goto(book)
    assert patient_page.locator("fieldset.slot-day legend", has_text=label).count() == 1


def test_slot_length_without_a_tariff_warns_and_every_priced_length_is_bookable(new_page, visit_doctor, make_patient):
    off_the_loop(
        tariff_set,
        actor=visit_doctor,
        doctor=visit_doctor.doctor_profile,
        kind="video",
        fee=Decimal("90.00"),
        duration_minutes=60,
    )
    doctor_page, patient_page = new_page(), new_page()
    log_in(doctor_page, visit_doctor)
    doctor_page.goto("/visits/agenda/")
    settings = doctor_page.locator('[data-testid="agenda-settings"]')
    settings.locator('select[name="slot_minutes"]').select_option("15")
    settings.locator('button[name="save_settings"]').click()
    doctor_page.wait_for_url("**/visits/agenda/")
    warning = doctor_page.locator('[data-testid="length-warning"]')
    assert "15 minuti" in warning.inner_text()
    assert "30 minuti, 60 minuti" in doctor_page.locator('[data-testid="priced-lengths"]').inner_text()
    screenshot(doctor_page, "visits-agenda-length-warning")

    patient = make_patient(email="elio@example.test", first_name="Elio", last_name="Costa")
    log_in(patient_page, patient)
    patient_page.goto(f"/visits/book/{visit_doctor.doctor_profile.slug}/")
    assert patient_page.locator('[data-testid="slot"]').count() > 0  # booking still works
    patient_page.locator('[data-testid="length-choice"]', has_text="60 minuti").click()
    patient_page.wait_for_url("**minutes=60")
    assert "60 minuti" in patient_page.locator('[data-testid="length-current"]').inner_text()
    screenshot(patient_page, "visits-book-60-minutes")
    patient_page.locator('[data-testid="slot"]').first.check()
    patient_page.locator('[data-testid="book-form"] button[name="book"]').click()
    patient_page.wait_for_url("**/visits/*/")
    booking = off_the_loop(lambda: patient.visits_as_patient.get())
    assert booking.duration_minutes == 60 and booking.end - booking.start == datetime.timedelta(minutes=60)
    wait_for_due_tasks()
