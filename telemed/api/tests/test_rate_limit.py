"""The rate limit counts per token: past it, 429 with Retry-After and a JSON message; another
token of the same person, or an anonymous caller, is not held back by it."""

import pytest
from django.core.cache import cache
from django.test import Client

from telemed.api import throttling
from telemed.api.tests.conftest import bearer

pytestmark = pytest.mark.django_db


def test_a_token_past_its_rate_gets_429_with_retry_after(make_patient, token_for, settings, monkeypatch):
    cache.clear()
    settings.API_RATE_LIMIT = "3/hour"
    monkeypatch.setattr(throttling, "clock", lambda: 1_800_001_200.0)  # one window for every request
    patient = make_patient()
    busy, other = token_for(patient), token_for(patient)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    assert [client.get("/api/v1/me", **bearer(busy)).status_code for _ in range(3)] == [200, 200, 200]
    refused = client.get("/api/v1/me", **bearer(busy))
    assert refused.status_code == 429
    assert refused["Retry-After"] == "2400"  # the window's end: 1_800_001_200 is 20 minutes into an hour
    assert refused.json()["detail"] == "Too many requests: wait a moment and try again."
    assert client.get("/api/v1/me", **bearer(other)).status_code == 200
    assert client.get("/api/v1/directory/doctors").status_code == 200
