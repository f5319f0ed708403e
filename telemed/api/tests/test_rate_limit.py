"""The rate limit counts per token: past it, 429 with Retry-After and a JSON message; another
token of the same person, or an anonymous caller, is not held back by it."""

import secrets

import pytest
from django.test import Client

from telemed.api import throttling
from telemed.api.tests.conftest import bearer

pytestmark = pytest.mark.django_db


def test_a_token_past_its_rate_gets_429_with_retry_after(make_patient, token_for, settings, monkeypatch):
    settings.API_RATE_LIMIT = "3/hour"
    # Every request in one window, 20 minutes into an hour; an hour of its own for each run, so
    # that no count left in a shared cache by an earlier run is met again.
    moment = 1_800_001_200.0 + 3600 * secrets.randbelow(10**6)
    monkeypatch.setattr(throttling, "clock", lambda: moment)
    patient = make_patient()
    busy, other = token_for(patient), token_for(patient)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert [client.get("/api/v1/me", **bearer(busy)).status_code for _ in range(3)] == [200, 200, 200]
    refused = client.get("/api/v1/me", **bearer(busy))
    assert refused.status_code == 429
    assert refused["Retry-After"] == "2400"  # to the window's end
    assert refused.json()["detail"] == "Too many requests: wait a moment and try again."
    assert client.get("/api/v1/me", **bearer(other)).status_code == 200
    assert client.get("/api/v1/directory/doctors").status_code == 200
