"""Every object URL of the API, replayed by people who have no business there: another patient,
a doctor the patient never asked, and someone not logged in. Not one read (404, 403 or 401, and
none of the data in the answer), nothing changed, nothing in the patient's access log; the
consult's own patient and doctor read the same URLs."""

import re

import pytest
from django.test import Client

from telemed.api.api import api
from telemed.api.tests.conftest import bearer, object_ids
from telemed.audit.models import AuditEntry

pytestmark = pytest.mark.django_db

BODIES = {
    "/api/v1/consults/{consult_id}/messages": {"text": "Posso vedere?"},
    "/api/v1/consults/{consult_id}/answer": {"diagnosis": "Nulla"},
    "/api/v1/info-requests/{info_id}/answer": {"answer": "Sì, serve."},
    "/api/v1/visit-proposals/{proposal_id}/reply": {"action": "accept"},
    "/api/v1/conversations/{conversation_id}/messages": {"text": "Posso leggere?"},
    "/api/v1/reminders/{reminder_id}": {
        "title": "Altro",
        "start_date": "2030-01-01",
        "times": ["09:00"],
        "frequency": "daily",
    },
}


# Objects of the patient's alone: the doctor of the world is a stranger to them.
PATIENT_ONLY = {"/api/v1/payments/{payment_id}"}


def object_urls(ids: dict) -> list[tuple[str, str, str]]:
    """(method, template, URL) of every operation of the OpenAPI document that names an object."""
    urls = []
    for template, operations in api.get_openapi_schema()["paths"].items():
        names = re.findall(r"{(\w+)}", template)
        if not names:
            continue
        url = template.format(**{name: ids[name] for name in names})
        for method in operations:
            urls.append((method, template, url))
    return urls


def call(client: Client, method: str, template: str, url: str, headers: dict):
    if method == "get":
        return client.get(url, **headers)
    return getattr(client, method)(url, BODIES.get(template, {}), content_type="application/json", **headers)


def test_no_one_else_reads_anything_through_an_object_url(consult_world, make_patient, consult_doctor, token_for):
    consult, document, info = consult_world["consult"], consult_world["document"], consult_world["info"]
    urls = object_urls(object_ids(consult_world))
    # Every object the API names is here: a new one must be added to this test too.
    assert {template for _method, template, _url in urls} == {
        "/api/v1/consults/{consult_id}",
        "/api/v1/consults/{consult_id}/messages",
        "/api/v1/consults/{consult_id}/start",
        "/api/v1/consults/{consult_id}/answer",
        "/api/v1/consults/{consult_id}/attachments/{attachment_id}",
        "/api/v1/documents/{document_id}",
        "/api/v1/documents/{document_id}/download",
        "/api/v1/info-requests/{info_id}",
        "/api/v1/info-requests/{info_id}/answer",
        "/api/v1/info-requests/{info_id}/reject",
        "/api/v1/reminders/{reminder_id}",
        "/api/v1/visits/{visit_id}",
        "/api/v1/visits/{visit_id}/room",
        "/api/v1/visit-proposals/{proposal_id}",
        "/api/v1/visit-proposals/{proposal_id}/reply",
        "/api/v1/conversations/{conversation_id}",
        "/api/v1/conversations/{conversation_id}/messages",
        "/api/v1/conversation-attachments/{message_attachment_id}",
        "/api/v1/studies/{study_id}",
        "/api/v1/series/{series_id}/frames",
        "/api/v1/instances/{instance_id}/frames/{frame}",
        "/api/v1/payments/{payment_id}",
    }
    strangers = {
        "another patient": bearer(token_for(make_patient())),
        "an unlinked doctor": bearer(token_for(consult_doctor())),
        "anonymous": {},
        "a made-up token": bearer("not-a-token"),
    }
    secrets = [
        consult.question,
        "febbre",
        document.name,
        "%PDF",
        "impegnativa",
        "Cardioaspirina",
        "Posso il sabato",
        "/ws/visits/",
    ]
    messages_before, status_before = consult.messages.count(), consult.status
    entries_before = AuditEntry.objects.count()
    reads = []
    for who, headers in strangers.items():
        client = Client(HTTP_ACCEPT_LANGUAGE="en")
        for method, template, url in urls:
            response = call(client, method, template, url, headers)
            body = b"".join(response.streaming_content) if response.streaming else response.content
            if response.status_code not in (401, 403, 404) or any(s.encode() in body for s in secrets):
                reads.append((who, method, url, response.status_code))
    assert reads == []
    consult.refresh_from_db()
    assert (consult.messages.count(), consult.status, consult.report_id) == (messages_before, status_before, None)
    info.refresh_from_db()
    assert (info.status, info.answer) == ("open", "")
    reminder = consult_world["reminder"]
    reminder.refresh_from_db()
    assert (reminder.title, reminder.stopped_at, reminder.continued_by_id) == ("Cardioaspirina 100 mg", None, None)
    proposal = consult_world["proposal"]
    proposal.refresh_from_db()
    assert (proposal.status, proposal.booking_id, proposal.steps.count()) == ("waiting_doctor", None, 1)
    assert consult_world["conversation"].messages.count() == 1
    assert AuditEntry.objects.count() == entries_before

    # The world's own people do read them (what the patient pays, the patient alone).
    for user in (consult_world["patient"], consult_world["doctor"]):
        client = Client(HTTP_ACCEPT_LANGUAGE="en")
        headers = bearer(token_for(user))
        for method, template, url in urls:
            if method != "get":
                continue
            response = call(client, method, template, url, headers)
            expected = 404 if user.is_doctor and template in PATIENT_ONLY else 200
            assert response.status_code == expected, (user.role, url, response.content[:200])


def test_refusals_are_json_in_the_asked_language(make_patient, token_for):
    client = Client(HTTP_ACCEPT_LANGUAGE="it")
    missing = client.get("/api/v1/consults/999999", **bearer(token_for(make_patient())))
    assert missing.status_code == 404 and missing.json()["detail"] == "Non trovato."
    anonymous = client.get("/api/v1/consults")
    assert anonymous.status_code == 401 and anonymous.json()["detail"].startswith("Accedi")
    bad = client.get("/api/v1/consults?closed=forse", **bearer(token_for(make_patient())))
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "closed"


def test_a_body_that_cannot_be_read_or_stored_is_a_400(consult_world, token_for):
    consult, patient = consult_world["consult"], consult_world["patient"]
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    headers = bearer(token_for(patient))
    url = f"/api/v1/consults/{consult.pk}/messages"
    no_boundary = client.post(url, '{"text": "Salve"}', content_type="multipart/form-data", **headers)
    assert no_boundary.status_code == 400
    assert no_boundary.json()["detail"] == "The body of the request cannot be read."
    for text in ("Salve\x00", "   ", "\x1c"):
        refused = client.post(url, {"text": text}, content_type="application/json", **headers)
        assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "text"
    assert consult.messages.count() == 1
