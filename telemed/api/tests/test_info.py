"""Info requests through the API: a patient asks, lists and reads; the office (a secretary here)
lists its inbox, answers and rejects, with the effects of the inbox page's buttons."""

import uuid

import pytest
from django.core import mail
from django.test import Client

from telemed.api.tests.conftest import bearer
from telemed.consults.models import InfoRequest
from telemed.notifications.models import Notification

pytestmark = pytest.mark.django_db


def test_a_patient_asks_and_a_secretary_rejects_it_as_the_inbox_does(
    consult_doctor,
    make_patient,
    make_secretary,
    token_for,
    run_tasks,
):
    doctor, patient = consult_doctor(), make_patient()
    secretary = make_secretary(doctor)
    app = Client(HTTP_ACCEPT_LANGUAGE="en")
    as_patient, as_secretary = bearer(token_for(patient)), bearer(token_for(secretary))
    body = {"doctor": doctor.doctor_profile.slug, "text": "Lo studio ha un ascensore?", "key": str(uuid.uuid4())}

    sent = app.post("/api/v1/info-requests", body, content_type="application/json", **as_patient)
    assert sent.status_code == 201, sent.content
    info_id = sent.json()["id"]
    assert sent.json()["status"] == "open" and sent.json()["doctor"]["slug"] == doctor.doctor_profile.slug
    # The same request again (an app's retry): the first one, nothing stored twice.
    again = app.post("/api/v1/info-requests", body, content_type="application/json", **as_patient)
    assert again.status_code == 200 and again.json()["id"] == info_id
    assert InfoRequest.objects.count() == 1
    # The office is told, as from the page (the secretary, the doctor having one).
    assert Notification.objects.filter(recipient=secretary, title="A new Info request").count() == 1

    mine = app.get("/api/v1/info-requests", **as_patient).json()
    assert [item["id"] for item in mine["items"]] == [info_id] and mine["doctors"] == []
    assert app.get(f"/api/v1/info-requests/{info_id}", **as_patient).json()["text"] == body["text"]

    inbox = app.get("/api/v1/info-requests", **as_secretary).json()
    assert inbox["doctor_id"] == doctor.doctor_profile.pk
    assert [item["id"] for item in inbox["items"]] == [info_id]
    # The doctor reads his own inbox too, as on the page.
    assert app.get("/api/v1/info-requests", **bearer(token_for(doctor))).json()["items"][0]["id"] == info_id

    run_tasks()
    mail.outbox.clear()
    rejected = app.post(f"/api/v1/info-requests/{info_id}/reject", **as_secretary)
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    run_tasks()
    # The e-mail with the link that turns the question into a consult, as from the inbox page.
    assert [m.to for m in mail.outbox if "/consults/new/" in m.body] == [[patient.email]]
    assert Notification.objects.filter(recipient=patient, title="Your Info request needs to be a consult").exists()
    assert app.get("/api/v1/info-requests?status=rejected", **as_secretary).json()["items"][0]["id"] == info_id
    assert app.get("/api/v1/info-requests", **as_secretary).json()["items"] == []

    twice = app.post(f"/api/v1/info-requests/{info_id}/reject", **as_secretary)
    assert twice.status_code == 409 and twice.json()["detail"] == "This Info request has already been handled."
    answered = app.post(
        f"/api/v1/info-requests/{info_id}/answer", {"answer": "Sì"}, content_type="application/json", **as_secretary
    )
    assert answered.status_code == 409


def test_the_office_answers_and_the_patient_reads_it(consult_world, token_for):
    info, patient, doctor = consult_world["info"], consult_world["patient"], consult_world["doctor"]
    app = Client(HTTP_ACCEPT_LANGUAGE="en")
    url = f"/api/v1/info-requests/{info.pk}/answer"
    empty = app.post(url, {"answer": "  "}, content_type="application/json", **bearer(token_for(doctor)))
    assert empty.status_code == 400 and empty.json()["errors"][0]["field"] == "answer"
    answered = app.post(url, {"answer": "No, non serve."}, content_type="application/json", **bearer(token_for(doctor)))
    assert answered.status_code == 200 and answered.json()["status"] == "answered"
    read = app.get(f"/api/v1/info-requests/{info.pk}", **bearer(token_for(patient))).json()
    assert (read["status"], read["answer"]) == ("answered", "No, non serve.")


def test_what_the_service_refuses_is_a_translated_refusal(consult_doctor, make_patient, token_for):
    closed, patient = consult_doctor(info=False), make_patient()
    app = Client(HTTP_ACCEPT_LANGUAGE="it")
    headers = bearer(token_for(patient))

    def send(**fields):
        body = {"doctor": closed.doctor_profile.slug, "text": "Orari?", "key": str(uuid.uuid4()), **fields}
        return app.post("/api/v1/info-requests", body, content_type="application/json", **headers)

    refused = send()
    assert refused.status_code == 409 and "non accetta richieste Info" in refused.json()["detail"]
    assert send(doctor="nessuno").status_code == 404
    bad = send(key="not-a-uuid")
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "key"
    assert send(text="x" * 4001).json()["errors"][0]["field"] == "text"
    # Only a patient asks.
    doctor_asks = app.post(
        "/api/v1/info-requests",
        {"doctor": closed.doctor_profile.slug, "text": "Orari?", "key": str(uuid.uuid4())},
        content_type="application/json",
        **bearer(token_for(closed)),
    )
    assert doctor_asks.status_code == 403
    assert InfoRequest.objects.count() == 0
