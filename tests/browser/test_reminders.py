"""The health agenda in the browser: a patient sets a twice-a-day therapy, a linked doctor sets a
follow-up memo for that patient, and the patient finds both in the agenda."""

import datetime as dt
import re

from django.utils import timezone
from playwright.sync_api import expect

from telemed.care import services as care
from telemed.reminders.models import Reminder
from tests.browser.conftest import off_the_loop, screenshot
from tests.browser.test_messaging import doctor_with_demo_authenticator, log_in


def test_patient_sets_a_therapy_and_the_doctor_a_follow_up(new_page, make_doctor, make_patient):
    doctor = doctor_with_demo_authenticator(
        make_doctor, email="dott.rossi@example.test", first_name="Paolo", last_name="Rossi"
    )
    patient = make_patient(email="giulia@example.test", first_name="Giulia", last_name="Ferri")
    off_the_loop(lambda: care.care_accept(actor=doctor, link=care.care_request(actor=patient, doctor=doctor)))
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    in_a_week = tomorrow + dt.timedelta(days=6)

    # The patient: a therapy at 08:00 and 20:00 every day for a month.
    patient_page = new_page()
    log_in(patient_page, patient)
    patient_page.locator("nav.main-nav a[href='/reminders/']").click()
    patient_page.get_by_test_id("new-reminder").click()
    form = patient_page.get_by_test_id("reminder-form")
    form.locator("select[name=kind]").select_option("therapy")
    form.locator("input[name=title]").fill("Eutirox 50 mcg")
    form.locator("input[name=start_date]").fill(tomorrow.isoformat())
    times = form.locator("input[name=times]")
    times.nth(0).fill("08:00")
    times.nth(1).fill("20:00")
    form.locator("input[name=frequency][value=daily]").check()
    # Only the choices that go with "every day" are shown (once the form's module has run: it may
    # load after the click on a busy machine, and then applies the checked frequency).
    expect(form.locator("input[name=weekdays]").first).to_be_hidden()
    form.locator("input[name=end][value=until]").check()
    form.locator("input[name=until]").fill((tomorrow + dt.timedelta(days=30)).isoformat())
    screenshot(patient_page, "reminders-patient-form")
    form.get_by_test_id("save-reminder").click()
    patient_page.wait_for_url(re.compile(r"/reminders/\d+/$"))
    description = patient_page.get_by_test_id("description").inner_text()
    assert "08:00" in description and "20:00" in description
    therapy = off_the_loop(lambda: Reminder.objects.get(patient=patient, doctor__isnull=True))
    assert therapy.times == ["08:00", "20:00"] and therapy.frequency == "daily"

    # The doctor: a follow-up memo for this patient, in a week.
    doctor_page = new_page()
    log_in(doctor_page, doctor)
    doctor_page.locator("nav.main-nav a[href='/reminders/patients/']").click()
    doctor_page.locator(f"a[href='/reminders/new/?patient={patient.pk}']").first.click()
    form = doctor_page.get_by_test_id("reminder-form")
    assert form.locator("select[name=patient]").input_value() == str(patient.pk)
    form.locator("select[name=kind]").select_option("follow_up")
    form.locator("input[name=title]").fill("Controllo della pressione")
    form.locator("textarea[name=notes]").fill("Misurare la pressione a riposo e portare i valori.")
    form.locator("input[name=start_date]").fill(in_a_week.isoformat())
    form.locator("input[name=times]").nth(0).fill("10:30")
    form.locator("input[name=frequency][value=once]").check()
    form.get_by_test_id("save-reminder").click()
    doctor_page.wait_for_url(re.compile(r"/reminders/\d+/$"))
    doctor_page.goto("/reminders/patients/")
    row = doctor_page.get_by_test_id("doctor-reminder").filter(has_text="Controllo della pressione")
    assert row.get_by_test_id("delivered-count").inner_text().strip().startswith("0")
    screenshot(doctor_page, "reminders-doctor-list")

    # The patient's agenda: the therapy twice a day, and the doctor's memo marked as theirs.
    patient_page.goto(f"/reminders/?date={tomorrow.isoformat()}")
    day = patient_page.locator(f"li.agenda-day[data-date='{tomorrow.isoformat()}']")
    assert day.get_by_test_id("occurrence").count() == 2
    patient_page.goto(f"/reminders/?date={in_a_week.isoformat()}")
    memo = patient_page.get_by_test_id("occurrence").filter(has_text="Controllo della pressione")
    memo.wait_for()
    assert "Paolo Rossi" in memo.get_by_test_id("from-doctor").inner_text()
    screenshot(patient_page, "reminders-patient-week")
    patient_page.goto(f"/reminders/?view=month&date={in_a_week.isoformat()}")
    assert patient_page.get_by_test_id("agenda-month").locator("li.kind-follow_up").count() == 1
    screenshot(patient_page, "reminders-patient-month")

    # The doctor's memo can be muted by the patient, not changed.
    memo_id = off_the_loop(lambda: Reminder.objects.get(patient=patient, doctor=doctor).pk)
    patient_page.goto(f"/reminders/{memo_id}/")
    assert patient_page.get_by_test_id("edit-reminder").count() == 0
    patient_page.locator("button[name=mute]").click()
    patient_page.get_by_test_id("muted").wait_for()
    screenshot(patient_page, "reminders-doctor-memo-muted")
    with patient_page.expect_download() as download:
        patient_page.get_by_test_id("download-ics").click()
    assert download.value.suggested_filename == f"reminder-{memo_id}.ics"

    # The agenda in the phone's calendar: a secret address that serves iCalendar.
    patient_page.goto("/reminders/settings/")
    patient_page.locator("button[name=create]").click()
    feed_url = patient_page.get_by_test_id("feed-url").input_value()
    screenshot(patient_page, "reminders-settings")
    feed = patient_page.request.get(feed_url)
    assert feed.status == 200 and feed.text().startswith("BEGIN:VCALENDAR")
    assert feed.text().count("BEGIN:VEVENT") == 3  # 08:00, 20:00 and the memo
    patient_page.locator("button[name=revoke]").click()
    patient_page.locator("button[name=create]").wait_for()
    assert patient_page.request.get(feed_url).status == 404
