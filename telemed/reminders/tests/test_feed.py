"""The personal calendar feed and the single-reminder downloads, parsed back with the
`icalendar` library and expanded with `recurring_ical_events`: a phone calendar reading them
must find exactly the occurrences telemed delivers."""

import datetime as dt

import pytest
import recurring_ical_events
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar

from conftest import verified_client
from telemed.reminders import services
from telemed.reminders.recurrence import Recurrence
from telemed.reminders.schedule import ROME, Series, to_local

pytestmark = pytest.mark.django_db

WINDOW = (dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2031, 1, 1, tzinfo=dt.UTC))


def t(text: str) -> dt.time:
    return dt.time.fromisoformat(text)


def soon(days: int = 1) -> dt.date:
    return timezone.localdate() + dt.timedelta(days=days)


def add(actor, patient, recurrence: Recurrence, title: str, kind: str = "therapy", notes: str = ""):
    return services.reminder_create(
        actor=actor,
        patient=patient,
        text=services.ReminderText(kind=kind, title=title, notes=notes),
        recurrence=recurrence,
    )


def spring_forward_after(day: dt.date) -> dt.date:
    """The next last Sunday of March, so that every run crosses a daylight-saving change."""
    year = day.year if day < dt.date(day.year, 3, 25) else day.year + 1
    last = dt.date(year, 3, 31)
    return last - dt.timedelta(days=(last.weekday() + 1) % 7)


@pytest.fixture
def agenda(linked):
    doctor, patient = linked
    dst = spring_forward_after(soon())
    reminders = [
        add(patient, patient, Recurrence(start=soon(), times=(t("08:00"), t("20:30")), frequency="daily", count=40), "Eutirox"),
        add(patient, patient, Recurrence(start=dst - dt.timedelta(days=3), times=(t("09:15"),), frequency="weekly",
                                         interval=2, weekdays=(0, 3, 6), until=dst + dt.timedelta(days=60)), "Fisioterapia"),
        add(patient, patient, Recurrence(start=dst - dt.timedelta(days=40), times=(t("07:00"),), frequency="monthly",
                                         monthly_mode="weekday", count=6), "Esami del sangue", kind="appointment"),
        add(patient, patient, Recurrence(start=soon(3), times=(t("11:00"), t("16:00")), frequency="once"), "Visita", kind="appointment"),
        add(doctor, patient, Recurrence(start=soon(2), times=(t("10:00"),), frequency="monthly", interval=3), "Holter cardiaco",
            kind="follow_up", notes="Portare gli esami"),
    ]  # fmt: skip
    return patient, reminders


def expanded(calendar: Calendar, reminder_id: int) -> list[dt.datetime]:
    events = recurring_ical_events.of(calendar).between(*WINDOW)
    mine = [e for e in events if str(e["UID"]).startswith(f"reminder-{reminder_id}-")]
    return sorted(e["DTSTART"].dt.astimezone(dt.UTC) for e in mine)


def test_the_feed_parses_back_and_repeats_exactly_like_telemed(agenda):
    patient, reminders = agenda
    token = services.feed_token_create(actor=patient)
    response = Client().get(reverse("reminders:feed", args=[token]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.content)
    assert [tz["TZID"] for tz in calendar.walk("VTIMEZONE")] == ["Europe/Rome"]
    events = calendar.walk("VEVENT")
    assert len(events) == 2 + 1 + 1 + 2 + 1  # one per time of the day
    for reminder in reminders:
        assert expanded(calendar, reminder.pk) == Series.of(reminder).between(*WINDOW), reminder.title
    by_uid = {str(e["UID"]): e for e in events}
    therapy = by_uid[f"reminder-{reminders[0].pk}-0800@telemed"]
    assert therapy["RRULE"]["FREQ"] == ["DAILY"] and therapy["RRULE"]["COUNT"] == [40]
    assert therapy["DTSTART"].dt.tzinfo is not None and str(therapy["DTSTART"].params["TZID"]) == "Europe/Rome"
    assert therapy["DTSTART"].dt.replace(tzinfo=None).time() == t("08:00")
    physio = by_uid[f"reminder-{reminders[1].pk}-0915@telemed"]
    assert physio["RRULE"]["UNTIL"][0].tzinfo is not None  # UTC, as RFC 5545 wants with a TZID start
    assert "RRULE" not in by_uid[f"reminder-{reminders[3].pk}-1100@telemed"]
    # Without the patient's consent the feed says nothing of what the reminders are about.
    text = response.content.decode()
    assert "Eutirox" not in text and "Portare gli esami" not in text and "Holter" not in text
    assert "telemed reminder: Follow-up" in text  # in the patient's language (English here)


def test_titles_and_notes_only_when_the_patient_chose_so(agenda):
    patient, reminders = agenda
    token = services.feed_token_create(actor=patient)
    services.feed_details_set(actor=patient, details=True)
    calendar = Calendar.from_ical(Client().get(reverse("reminders:feed", args=[token])).content)
    summaries = {str(e["SUMMARY"]) for e in calendar.walk("VEVENT")}
    assert {"Eutirox", "Fisioterapia", "Holter cardiaco"} <= summaries
    follow_up = next(e for e in calendar.walk("VEVENT") if str(e["SUMMARY"]) == "Holter cardiaco")
    assert "Portare gli esami" in str(follow_up["DESCRIPTION"]) and "Marco Bianchi" in str(follow_up["DESCRIPTION"])


def test_a_wrong_or_revoked_address_is_a_404(agenda):
    patient, _ = agenda
    client = Client()
    assert client.get(reverse("reminders:feed", args=["not-a-token"])).status_code == 404
    first = services.feed_token_create(actor=patient)
    assert client.get(reverse("reminders:feed", args=[first])).status_code == 200
    second = services.feed_token_create(actor=patient)
    assert client.get(reverse("reminders:feed", args=[first])).status_code == 404
    assert client.get(reverse("reminders:feed", args=[second])).status_code == 200
    services.feed_token_revoke(actor=patient)
    assert client.get(reverse("reminders:feed", args=[second])).status_code == 404
    assert client.get("/reminders/feed/" + "x" * 200 + ".ics").status_code == 404


def test_a_series_changed_from_an_occurrence_onwards_exports_both_halves(patient):
    reminder = add(
        patient,
        patient,
        Recurrence(start=soon(), times=(t("08:00"), t("20:00")), frequency="daily", count=10),
        "Antibiotico",
    )
    occurrences = Series.of(reminder).between(*WINDOW)
    evening_of_day_3 = occurrences[5]
    assert to_local(evening_of_day_3).time() == t("20:00")
    continuation = services.reminder_edit_from(
        actor=patient,
        reminder=reminder,
        occurrence=evening_of_day_3,
        text=services.ReminderText(kind="therapy", title="Antibiotico"),
        recurrence=Recurrence(
            start=to_local(evening_of_day_3).date(), times=(t("09:00"), t("21:00")), frequency="daily", count=8
        ),
    )
    reminder.refresh_from_db()
    kept = Series.of(reminder).between(*WINDOW)
    assert kept == occurrences[:5]
    new = Series.of(continuation).between(*WINDOW)
    assert to_local(new[0]) == dt.datetime.combine(to_local(evening_of_day_3).date(), t("21:00"))
    assert len(new) == 15  # day 3 at 21:00 only, then 7 days twice

    token = services.feed_token_create(actor=patient)
    calendar = Calendar.from_ical(Client().get(reverse("reminders:feed", args=[token])).content)
    assert expanded(calendar, reminder.pk) == kept
    assert expanded(calendar, continuation.pk) == new


def test_one_reminder_downloads_as_ics_with_its_details(agenda, make_patient):
    patient, reminders = agenda
    response = verified_client(patient, language="en").get(reverse("reminders:ics", args=[reminders[0].pk]))
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    calendar = Calendar.from_ical(response.content)
    assert {str(e["SUMMARY"]) for e in calendar.walk("VEVENT")} == {"Eutirox"}
    assert expanded(calendar, reminders[0].pk) == Series.of(reminders[0]).between(*WINDOW)
    stranger = make_patient(email="other@example.test")
    assert (
        verified_client(stranger, language="en").get(reverse("reminders:ics", args=[reminders[0].pk])).status_code
        == 404
    )
    assert ROME.key == "Europe/Rome"
