"""The agenda's pages: what patients and doctors do, what each may see, and bad input that gets
a clear message and changes nothing."""

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from conftest import verified_client
from telemed.notifications.models import Notification
from telemed.reminders import dispatch, services
from telemed.reminders.models import Delivery, Dose, Reminder
from telemed.reminders.recurrence import Recurrence
from telemed.reminders.schedule import Series, to_local

pytestmark = pytest.mark.django_db


def soon(days: int = 1) -> dt.date:
    return timezone.localdate() + dt.timedelta(days=days)


def form(**overrides) -> dict:
    data = {
        "kind": "therapy",
        "title": "Eutirox 50",
        "notes": "A digiuno",
        "start_date": soon().isoformat(),
        "times": ["08:00", "20:00", ""],
        "frequency": "daily",
        "interval": "1",
        "monthly_mode": "day",
        "end": "until",
        "until": soon(30).isoformat(),
        "count": "",
    }
    data.update(overrides)
    return data


def errors_of(response) -> str:
    html = response.content.decode()
    return " ".join(
        re.sub(r"<[^>]+>", " ", m)
        for m in re.findall(r'class="(?:errorlist|form-errors)[^"]*"[^>]*>(.*?)</(?:ul|div)>', html, re.S)
    )


def test_a_patient_creates_a_twice_a_day_therapy(patient):
    client = verified_client(patient, language="en")
    assert client.get(reverse("reminders:create")).status_code == 200
    response = client.post(reverse("reminders:create"), form())
    reminder = Reminder.objects.get(patient=patient)
    assert response.status_code == 302 and response["Location"] == reverse("reminders:detail", args=[reminder.pk])
    assert reminder.times == ["08:00", "20:00"] and reminder.rrule.startswith("FREQ=DAILY;UNTIL=")
    assert reminder.doctor is None
    page = client.get(response["Location"]).content.decode()
    assert "every day at 08:00 and 20:00 until" in page
    assert page.count('data-testid="delivery-row"') == 0


def test_week_and_month_views_show_the_occurrences(patient):
    services.reminder_create(
        actor=patient, patient=patient, text=services.ReminderText(kind="appointment", title="Dentista"),
        recurrence=Recurrence(start=soon(), times=(dt.time(10, 30),), frequency="weekly", weekdays=(soon().weekday(),)),
    )  # fmt: skip
    client = verified_client(patient, language="en")
    week = client.get(reverse("reminders:agenda"), {"date": soon().isoformat()}).content.decode()
    assert week.count('data-testid="occurrence"') == 1 and "10:30" in week and "Dentista" in week
    next_month = (soon().replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    month = client.get(reverse("reminders:agenda"), {"view": "month", "date": next_month.isoformat()}).content.decode()
    assert 'data-testid="agenda-month"' in month and month.count('<li class="kind-appointment">') >= 4
    for date in ["9999-12-31", "2026-02-30", "<script>", "0001-01-01"]:
        assert client.get(reverse("reminders:agenda"), {"date": date, "view": "month"}).status_code == 200


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"frequency": "secondly"}, "Select a valid choice"),
        (
            {"until": (timezone.localdate() - dt.timedelta(days=3)).isoformat()},
            "The end date is before the start date.",
        ),
        ({"times": [f"{h:02d}:{m:02d}" for h in range(24) for m in range(0, 60, 3)][:500]}, "At most 12 times a day."),
        ({"times": ["25:99"]}, "is not a time of the day"),
        ({"times": ["", ""]}, "Give at least one time of the day."),
        ({"start_date": "2026-02-30"}, "Enter a valid date."),
        ({"until": "2027-02-30"}, "Enter a valid date."),
        ({"end": "count", "count": "0"}, "greater than or equal to 1"),
        ({"end": "count", "count": ""}, "Give the number of times."),
        ({"interval": "100000"}, "less than or equal to 365"),
        ({"frequency": "weekly", "interval": "60"}, "Repeat every 1 to 52."),
        ({"title": "   "}, "This field is required."),
        ({"title": "x" * 500}, "at most 120 characters"),
        ({"start_date": "2020-01-01", "until": "2020-02-01"}, "would never go off"),
        ({"frequency": "once", "start_date": "2020-01-01"}, "would never go off"),
    ],
)
def test_bad_input_gets_a_clear_message_and_stores_nothing(patient, overrides, message):
    response = verified_client(patient, language="en").post(reverse("reminders:create"), form(**overrides))
    assert response.status_code == 200
    assert message in response.content.decode(), errors_of(response)
    assert not Reminder.objects.exists()


def test_a_doctor_sets_a_follow_up_for_a_linked_patient_only(linked, make_patient):
    doctor, patient = linked
    stranger = make_patient(email="stranger@example.test")
    client = verified_client(doctor, language="en")
    page = client.get(reverse("reminders:create")).content.decode()
    assert patient.get_full_name() in page and stranger.get_full_name() not in page
    refused = client.post(reverse("reminders:create"), form(patient=str(stranger.pk), kind="follow_up"))
    assert refused.status_code == 200 and "Select a valid choice" in refused.content.decode()
    assert not Reminder.objects.exists()
    with pytest.raises(Exception) as denied:
        services.reminder_create(
            actor=doctor, patient=stranger, text=services.ReminderText(kind="follow_up", title="x"),
            recurrence=Recurrence(start=soon(), times=(dt.time(9),), frequency="once"),
        )  # fmt: skip
    assert "linked to you" in str(denied.value)
    assert not Reminder.objects.exists()

    response = client.post(
        reverse("reminders:create"), form(patient=str(patient.pk), kind="follow_up", title="Controllo pressione")
    )
    reminder = Reminder.objects.get()
    assert response.status_code == 302 and reminder.doctor == doctor and reminder.patient == patient
    assert Notification.objects.filter(recipient=patient, kind="reminder").exists()
    listing = client.get(reverse("reminders:patients")).content.decode()
    assert "Controllo pressione" in listing and patient.get_full_name() in listing
    # It appears in the patient's agenda, marked as coming from the doctor.
    agenda = (
        verified_client(patient, language="en")
        .get(reverse("reminders:agenda"), {"date": soon().isoformat()})
        .content.decode()
    )
    assert "from Dr. Marco Bianchi" in agenda


def test_the_patient_mutes_a_doctor_reminder_but_cannot_change_it(linked):
    doctor, patient = linked
    reminder = services.reminder_create(
        actor=doctor, patient=patient, text=services.ReminderText(kind="therapy", title="Ramipril"),
        recurrence=Recurrence(start=soon(), times=(dt.time(8),), frequency="daily"),
    )  # fmt: skip
    client = verified_client(patient, language="en")
    detail = client.get(reverse("reminders:detail", args=[reminder.pk])).content.decode()
    assert 'data-testid="edit-reminder"' not in detail
    response = client.post(reverse("reminders:edit", args=[reminder.pk]), form(title="Hacked"), follow=True)
    assert "you can mute it, not change it" in response.content.decode()
    assert client.post(reverse("reminders:stop", args=[reminder.pk]), follow=True).status_code == 200
    reminder.refresh_from_db()
    assert reminder.title == "Ramipril" and reminder.stopped_at is None
    client.post(reverse("reminders:mute", args=[reminder.pk]), {"muted": "1"})
    reminder.refresh_from_db()
    assert reminder.muted_at is not None
    assert (
        'data-testid="muted"'
        in verified_client(doctor, language="en").get(reverse("reminders:detail", args=[reminder.pk])).content.decode()
    )


def test_nobody_else_sees_a_reminder(linked, make_patient, make_doctor):
    doctor, patient = linked
    reminder = services.reminder_create(
        actor=patient, patient=patient, text=services.ReminderText(kind="therapy", title="Privato"),
        recurrence=Recurrence(start=soon(), times=(dt.time(8),), frequency="daily"),
    )  # fmt: skip
    other_patient, other_doctor = make_patient(email="x@example.test"), make_doctor(email="y@example.test")
    for user in (other_patient, other_doctor, doctor):  # the linked doctor did not set it
        client = verified_client(user, language="en")
        for name in ("detail", "edit", "ics"):
            assert client.get(reverse(f"reminders:{name}", args=[reminder.pk])).status_code == 404
        assert client.post(reverse("reminders:stop", args=[reminder.pk])).status_code == 404
    assert (
        verified_client(other_doctor, language="en")
        .get(reverse("reminders:create") + f"?patient={patient.pk}")
        .status_code
        == 404
    )
    assert verified_client(patient, language="en").get(reverse("reminders:patients")).status_code == 404


def test_editing_from_an_occurrence_onwards_keeps_the_earlier_ones(patient):
    reminder = services.reminder_create(
        actor=patient, patient=patient, text=services.ReminderText(kind="therapy", title="Antibiotico"),
        recurrence=Recurrence(start=soon(), times=(dt.time(8), dt.time(20)), frequency="daily", count=6),
    )  # fmt: skip
    occurrences = Series.of(reminder).between(reminder.starts_at, reminder.ends_before)
    third_day = occurrences[4]
    client = verified_client(patient, language="en")
    url = reverse("reminders:edit", args=[reminder.pk]) + f"?from={int(third_day.timestamp())}"
    page = client.get(url).content.decode()
    assert f'value="{to_local(third_day).date().isoformat()}"' in page  # the new series starts there
    response = client.post(
        url, form(title="Antibiotico (dose ridotta)", times=["09:00"], start_date=to_local(third_day).date().isoformat(),
                  until=to_local(occurrences[-1]).date().isoformat()),
    )  # fmt: skip
    assert response.status_code == 302, errors_of(response)
    reminder.refresh_from_db()
    new = reminder.continued_by
    assert Series.of(reminder).between(reminder.starts_at, reminder.ends_before) == occurrences[:4]
    assert [to_local(o).time() for o in Series.of(new).between(new.starts_at, new.ends_before)] == [dt.time(9)] * 4
    assert new.title == "Antibiotico (dose ridotta)"
    # A bogus occurrence changes nothing.
    bogus = reverse("reminders:edit", args=[new.pk]) + f"?from={int(third_day.timestamp()) + 7}"
    response = client.post(bogus, form(title="Nope"))
    assert "not part of the reminder" in response.content.decode()
    new.refresh_from_db()
    assert new.title == "Antibiotico (dose ridotta)"


def due_a_minute_ago(actor, patient, title: str) -> tuple[Reminder, dt.datetime]:
    """A daily therapy whose dose of today came a minute or two ago (and was not delivered yet)."""
    recent = (timezone.localtime() - dt.timedelta(minutes=2)).replace(second=0, microsecond=0)
    reminder = services.reminder_create(
        actor=actor, patient=patient, text=services.ReminderText(kind="therapy", title=title),
        recurrence=Recurrence(start=recent.date(), times=(recent.time(),), frequency="daily"),
    )  # fmt: skip
    (due,) = Series.of(reminder).between(reminder.starts_at, timezone.now())
    Reminder.objects.filter(pk=reminder.pk).update(next_fire_at=due)
    return reminder, due


def test_a_dose_marked_as_taken_shows_for_the_patient_and_the_doctor(linked):
    doctor, patient = linked
    reminder, due = due_a_minute_ago(doctor, patient, "Bisoprololo")
    dispatch.record_due()
    dispatch.send_pending()
    client = verified_client(patient, language="en")
    agenda_url = reverse("reminders:agenda") + f"?date={to_local(due).date().isoformat()}"
    page = client.get(agenda_url).content.decode()
    assert 'data-testid="delivered"' in page
    response = client.post(
        reverse("reminders:take", args=[reminder.pk]), {"occurrence": str(int(due.timestamp())), "next": agenda_url}
    )
    assert response.status_code == 302 and response["Location"] == agenda_url
    assert Dose.objects.filter(reminder=reminder, occurrence=due).exists()
    assert 'data-testid="taken"' in client.get(agenda_url).content.decode()
    doctor_page = verified_client(doctor, language="en").get(reverse("reminders:patients")).content.decode()
    assert re.search(r'data-testid="taken-count">\s*1\s*<', doctor_page)
    assert re.search(r'data-testid="delivered-count">\s*1\b', doctor_page)
    detail = (
        verified_client(doctor, language="en").get(reverse("reminders:detail", args=[reminder.pk])).content.decode()
    )
    assert 'data-status="sent"' in detail and 'data-taken="1"' in detail
    # Nonsense and far-future doses are refused without a trace.
    for occurrence in ["abc", "", "99999999999", str(int(due.timestamp()) + 1)]:
        response = client.post(reverse("reminders:take", args=[reminder.pk]), {"occurrence": occurrence}, follow=True)
        assert response.status_code == 200 and "not part of the therapy" in response.content.decode()
    next_week = Series.of(reminder).after(timezone.now() + dt.timedelta(days=7))
    response = client.post(
        reverse("reminders:take", args=[reminder.pk]), {"occurrence": str(int(next_week.timestamp()))}, follow=True
    )
    assert "two hours before" in response.content.decode()
    assert Dose.objects.count() == 1
    assert Delivery.objects.count() == 1


def test_opening_the_agenda_reads_the_reminder_notifications(patient):
    due_a_minute_ago(patient, patient, "Vitamina D")
    dispatch.record_due()
    dispatch.send_pending()
    notification = Notification.objects.get(recipient=patient, kind="reminder")
    assert notification.read_at is None
    verified_client(patient, language="en").get(notification.url)
    notification.refresh_from_db()
    assert notification.read_at is not None


def test_settings_feed_and_email_choice(patient):
    client = verified_client(patient, language="en")
    assert "Create my calendar address" in client.get(reverse("reminders:settings")).content.decode()
    client.post(reverse("reminders:feed_create"))
    page = client.get(reverse("reminders:settings")).content.decode()
    token = patient.agenda_settings.feed_token
    assert token and reverse("reminders:feed", args=[token]) in page
    client.post(reverse("reminders:settings_email"), {"email": "details"})
    assert services.agenda_email_choice(patient) == services.EmailChoice.DETAILS
    response = client.post(reverse("reminders:settings_email"), {"email": "everything"}, follow=True)
    assert "Choose one of the options." in response.content.decode()
    assert services.agenda_email_choice(patient) == services.EmailChoice.DETAILS
    client.post(reverse("reminders:feed_revoke"))
    patient.agenda_settings.refresh_from_db()
    assert patient.agenda_settings.feed_token is None


def test_the_patient_dashboard_shows_what_comes_next(patient):
    recent = (timezone.localtime() + dt.timedelta(hours=2)).replace(second=0, microsecond=0)
    services.reminder_create(
        actor=patient, patient=patient, text=services.ReminderText(kind="therapy", title="Omeprazolo"),
        recurrence=Recurrence(start=recent.date(), times=(recent.time(),), frequency="once"),
    )  # fmt: skip
    page = verified_client(patient, language="en").get(reverse("portal:dashboard")).content.decode()
    assert 'data-testid="upcoming-reminders"' in page and "Omeprazolo" in page
    assert reverse("reminders:agenda") in page
