"""The browsable docs call the API with the person's own session: a write needs the CSRF token
the docs page carries, and a doctor who has given only the password reaches nothing."""

import re

import pytest
from django.test import Client

from conftest import log_in
from telemed.api.tests.conftest import bearer
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


def test_a_doctor_past_the_password_only_gets_a_json_401_from_the_api(make_doctor, token_for):
    doctor = make_doctor()
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(doctor)  # no second factor in this session
    response = client.get("/api/v1/consults")
    assert response.status_code == 401
    assert response.json()["detail"].startswith("Enter the code of your authenticator app on the website first")
    assert response["WWW-Authenticate"] == 'Bearer realm="telemed"'
    # The pages, the docs page included, still send the browser to the code page.
    for page in ("/consults/queue/", "/api/v1/docs"):
        redirected = client.get(page)
        assert redirected.status_code == 302 and "/two-factor/verify/" in redirected["Location"]
    # The doctor's app, holding its own token, is not held back by the half-done browser session.
    assert client.get("/api/v1/me", **bearer(token_for(doctor))).status_code == 200


def test_a_session_owing_the_consents_gets_a_json_403(make_patient, monkeypatch):
    patient = make_patient()
    client = log_in(Client(HTTP_ACCEPT_LANGUAGE="en"), patient)
    monkeypatch.setattr("telemed.api.auth.consents_missing", lambda user: True)
    response = client.get("/api/v1/notifications")
    assert response.status_code == 403
    assert response.json()["detail"].startswith("Accept the updated privacy notice")


def test_a_token_without_the_scope_gets_403_insufficient_scope(make_patient, token_for):
    patient = make_patient()
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    reader = bearer(token_for(patient, "notifications:read"))
    assert client.get("/api/v1/notifications", **reader).status_code == 200
    refused = client.get("/api/v1/consults", **reader)
    assert refused.status_code == 403
    assert refused["WWW-Authenticate"] == 'Bearer realm="telemed", error="insufficient_scope", scope="consults:read"'
    assert refused.json()["detail"] == (
        "This app has no permission for this (consults:read): it must ask you for it again."
    )
    write = client.post("/api/v1/notifications/read", {}, content_type="application/json", **reader)
    assert write.status_code == 403 and 'scope="notifications:write"' in write["WWW-Authenticate"]
    # A token that is not valid at all is still a 401, and says so.
    unknown = client.get("/api/v1/consults", **bearer("not-a-token"))
    assert unknown.status_code == 401
    assert unknown["WWW-Authenticate"] == 'Bearer realm="telemed", error="invalid_token"'
