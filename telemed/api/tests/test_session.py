"""The browsable docs call the API with the person's own session: a write needs the CSRF token
the docs page carries, and a doctor who has given only the password reaches nothing."""

import re

import pytest
from django.test import Client

from conftest import log_in
from telemed.notifications.services import notify

pytestmark = pytest.mark.django_db


def test_a_session_write_needs_the_csrf_token_of_the_docs_page(make_patient):
    patient = make_patient()
    notify(recipient=patient, kind="consult", title="Il medico ha risposto", url="/consults/1/")
    client = log_in(Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en"), patient)
    listed = client.get("/api/v1/notifications")
    assert listed.status_code == 200 and listed.json()["unread"] == 1
    forged = client.post("/api/v1/notifications/read", {}, content_type="application/json")
    assert forged.status_code == 403
    assert forged.json()["detail"] == "The page is out of date (CSRF check): reload it and try again."
    assert client.get("/api/v1/notifications").json()["unread"] == 1
    docs = client.get("/api/v1/docs")
    token = re.search(r'data-csrf-token="([^"]+)"', docs.content.decode()).group(1)
    marked = client.post("/api/v1/notifications/read", {}, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert marked.status_code == 200 and marked.json() == {"marked": 1}


def test_a_doctor_past_the_password_only_reaches_no_api_data(make_doctor):
    doctor = make_doctor()
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(doctor)  # no second factor in this session
    response = client.get("/api/v1/consults")
    assert response.status_code == 302 and "/two-factor/verify/" in response["Location"]
