"""The health agenda through the API: reminders set, changed from an occurrence onwards and
stopped as the agenda pages allow (read by the page's own form, so refused with its messages),
and the occurrences of a range of days."""

import datetime

import pytest
from django.test import Client
from django.utils import timezone

from telemed.api.tests.conftest import bearer
from telemed.notifications.models import Notification
from telemed.reminders.models import Reminder

pytestmark = pytest.mark.django_db


def memo(**fields) -> dict:
    return {
        "kind": "therapy",
        "title": "Vitamina D",
        "start_date": timezone.localdate().isoformat(),
        "times": ["08:00", "20:00"],
        "frequency": "daily",
        **fields,
    }


def test_a_patient_sets_changes_and_stops_a_memo(make_patient, token_for):
    patient = make_patient()
    app = Client(HTTP_ACCEPT_LANGUAGE="en")
    headers = bearer(token_for(patient))
    created = app.post("/api/v1/reminders", memo(), content_type="application/json", **headers)
    assert created.status_code == 201, created.content
    reminder_id = created.json()["id"]
    assert created.json()["description"].startswith("every day at 08:00 and 20:00")
    assert created.json()["set_by"] is None and created.json()["can_edit"] is True

    today = timezone.localdate()
    week = app.get(
        f"/api/v1/agenda/occurrences?start={today}&end={today + datetime.timedelta(days=6)}", **headers
    ).json()
    assert len(week) == 14 and {item["reminder_id"] for item in week} == {reminder_id}
    assert [item["title"] for item in week] == ["Vitamina D"] * 14

    # Changed from tomorrow's first occurrence: the one series becomes two, as on the page.
    tomorrow_eight = next(item["at"] for item in week if item["at"].startswith(str(today + datetime.timedelta(days=1))))
    changed = app.put(
        f"/api/v1/reminders/{reminder_id}",
        memo(title="Vitamina D3", times=["09:00"], start_date=str(today + datetime.timedelta(days=1)),
             from_occurrence=tomorrow_eight),
        content_type="application/json", **headers,
    )  # fmt: skip
    assert changed.status_code == 200, changed.content
    continuation = Reminder.objects.get(pk=changed.json()["id"])
    assert continuation.pk != reminder_id and Reminder.objects.get(pk=reminder_id).continued_by == continuation
    assert app.get("/api/v1/reminders", **headers).json()["items"][0]["title"] == "Vitamina D3"

    stopped = app.delete(f"/api/v1/reminders/{continuation.pk}", **headers)
    assert stopped.status_code == 200 and stopped.json()["active"] is False
    assert app.get("/api/v1/reminders", **headers).json()["items"] == []
    again = app.delete(f"/api/v1/reminders/{continuation.pk}", **headers)
    assert again.status_code == 409 and again.json()["detail"] == "This reminder has ended and cannot be changed."


def test_a_doctor_sets_a_reminder_for_a_linked_patient_only(consult_world, make_patient, token_for):
    doctor, patient = consult_world["doctor"], consult_world["patient"]
    app = Client(HTTP_ACCEPT_LANGUAGE="en")
    headers = bearer(token_for(doctor))
    set_for = app.post(
        "/api/v1/reminders", memo(patient_id=patient.pk, title="Controllo pressione"), content_type="application/json",
        **headers,
    )  # fmt: skip
    assert set_for.status_code == 201, set_for.content
    assert set_for.json()["set_by"]["id"] == doctor.pk
    assert Notification.objects.filter(recipient=patient, url=f"/reminders/{set_for.json()['id']}/").exists()
    listed = app.get("/api/v1/reminders", **headers).json()["items"]
    assert {item["title"] for item in listed} == {"Cardioaspirina 100 mg", "Controllo pressione"}

    stranger = make_patient()
    refused = app.post("/api/v1/reminders", memo(patient_id=stranger.pk), content_type="application/json", **headers)
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "patient_id"
    assert not Reminder.objects.filter(patient=stranger).exists()

    # The patient may not change what the doctor set, as the page says.
    reminder = consult_world["reminder"]
    own = app.put(
        f"/api/v1/reminders/{reminder.pk}", memo(title="Niente"), content_type="application/json",
        **bearer(token_for(patient)),
    )  # fmt: skip
    assert own.status_code == 409
    assert own.json()["detail"] == "This reminder was set by your doctor: you can mute it, not change it."


def test_what_the_form_refuses_comes_back_on_its_field(make_patient, token_for):
    patient = make_patient()
    app = Client(HTTP_ACCEPT_LANGUAGE="en")
    headers = bearer(token_for(patient))

    def errors(**fields):
        answer = app.post("/api/v1/reminders", memo(**fields), content_type="application/json", **headers)
        assert answer.status_code == 400, answer.content
        return {item["field"]: item["message"] for item in answer.json()["errors"]}

    assert errors(end="until") == {"until": "Give the last day."}
    assert "times.0" in errors(times=["25:00"])
    # A date is ISO text, as the document says, never a number of seconds.
    assert "until" in errors(end="until", until=0)
    assert "title" in errors(title="   ")
    # A date the form parses but no series can start on: refused by the rule, for the page too.
    assert errors(start_date="0001-01-01") == {"start_date": "Choose a start date between the years 2000 and 2100."}
    assert "start_date" in errors(start_date="9999-12-30", frequency="weekly", weekdays=[0, 6])
    past = app.post(
        "/api/v1/reminders", memo(start_date="2001-01-01", frequency="once"), content_type="application/json", **headers
    )
    assert past.status_code == 409
    assert past.json()["detail"] == "This reminder would never go off: all of its times are in the past."
    assert not Reminder.objects.exists()
    too_long = app.get("/api/v1/agenda/occurrences?start=2030-01-01&end=2030-12-31", **headers)
    assert too_long.status_code == 400 and too_long.json()["errors"][0]["field"] == "end"
    assert app.get("/api/v1/agenda/occurrences?start=0001-01-01&end=0001-01-02", **headers).status_code == 400
