"""A patient sets a monthly reminder on the 31st: told that some months are skipped, they switch
to "the last day of the month" and every month has it."""

import datetime as dt
import re

from django.utils import timezone

from telemed.reminders.models import Reminder
from tests.browser.conftest import off_the_loop, screenshot
from tests.browser.test_messaging import log_in
from tests.browser.test_visit_booking import wait_for_due_tasks


def fill_monthly(page, *, start: dt.date, mode: str) -> None:
    form = page.get_by_test_id("reminder-form")
    form.locator("select[name=kind]").select_option("therapy")
    form.locator("input[name=title]").fill("Iniezione mensile")
    form.locator("input[name=start_date]").fill(start.isoformat())
    form.locator("input[name=times]").nth(0).fill("09:00")
    form.locator("input[name=frequency][value=monthly]").check()
    form.locator(f"input[name=monthly_mode][value={mode}]").check()
    form.get_by_test_id("save-reminder").click()
    page.wait_for_url(re.compile(r"/reminders/\d+/$"))


def test_a_monthly_reminder_on_the_31st_warns_and_the_last_day_reaches_every_month(new_page, make_patient):
    patient = make_patient(email="rosa@example.test", first_name="Rosa", last_name="Villa")
    year = timezone.localdate().year + 1
    page = new_page()
    log_in(page, patient)
    page.goto("/reminders/new/")
    fill_monthly(page, start=dt.date(year, 1, 31), mode="day")
    warning = page.get_by_test_id("recurrence-warning").first
    assert "Alcuni mesi non hanno il giorno 31" in warning.inner_text()
    assert "(non nei mesi senza il giorno 31)" in page.get_by_test_id("description").inner_text()
    screenshot(page, "reminders-31st-warning")

    page.goto("/reminders/new/")
    form = page.get_by_test_id("reminder-form")
    assert form.get_by_label("L'ultimo giorno del mese").count() == 1
    fill_monthly(page, start=dt.date(year, 1, 31), mode="last_day")
    assert page.get_by_test_id("recurrence-warning").count() == 0
    assert "ogni mese l'ultimo giorno" in page.get_by_test_id("description").inner_text()
    screenshot(page, "reminders-last-day")
    reminder = off_the_loop(lambda: Reminder.objects.filter(patient=patient).latest("pk"))
    assert reminder.rrule.startswith("FREQ=MONTHLY;BYMONTHDAY=-1")
    wait_for_due_tasks()
