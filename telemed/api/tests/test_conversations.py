"""Conversations through the API: the list with its unread count, reading (which marks read, as
the page does), sending as the page allows, and an attachment's download in the access log."""

import pytest
from django.test import Client

from telemed.api.tests.conftest import bearer
from telemed.audit.models import AuditEntry
from telemed.messaging import services as messaging

pytestmark = pytest.mark.django_db


def test_a_patient_reads_and_answers_the_doctor(consult_world, token_for):
    doctor, patient, conversation = consult_world["doctor"], consult_world["patient"], consult_world["conversation"]
    app = Client(HTTP_ACCEPT_LANGUAGE="en")
    as_patient = bearer(token_for(patient))

    listed = app.get("/api/v1/conversations", **as_patient).json()["items"]
    assert [(item["id"], item["subject"], item["unread"]) for item in listed] == [(conversation.pk, "ECG", 1)]
    messages = app.get(f"/api/v1/conversations/{conversation.pk}/messages", **as_patient).json()
    assert [m["text"] for m in messages["items"]] == ["Le allego il referto dell'ECG."]
    assert messages["older"] is None and messages["read_up_to"] == {str(doctor.pk): messages["items"][0]["id"]}
    # Read, as on the conversation page.
    assert app.get("/api/v1/conversations", **as_patient).json()["items"][0]["unread"] == 0

    attachment = messages["items"][0]["attachments"][0]
    assert attachment["name"] == "referto-ecg.pdf" and attachment["study"] is False
    downloaded = app.get(attachment["url"], **as_patient)
    assert downloaded.status_code == 200 and b"".join(downloaded.streaming_content).startswith(b"%PDF")
    assert AuditEntry.objects.filter(actor=patient, action="download").exists()

    sent = app.post(
        f"/api/v1/conversations/{conversation.pk}/messages", {"text": "Grazie, dottore."},
        content_type="application/json", **as_patient,
    )  # fmt: skip
    assert sent.status_code == 201 and sent.json()["sender"]["id"] == patient.pk
    assert app.get("/api/v1/conversations", **bearer(token_for(doctor))).json()["items"][0]["unread"] == 1


def test_what_the_page_refuses_is_refused(consult_world, token_for):
    doctor, patient, conversation = consult_world["doctor"], consult_world["patient"], consult_world["conversation"]
    messaging.conversation_set_replies(actor=doctor, conversation=conversation, allowed=False)
    app = Client(HTTP_ACCEPT_LANGUAGE="en")
    url = f"/api/v1/conversations/{conversation.pk}/messages"
    refused = app.post(url, {"text": "Posso?"}, content_type="application/json", **bearer(token_for(patient)))
    assert refused.status_code == 409
    assert refused.json()["detail"].startswith("The doctor has not enabled replies here.")
    blank = app.post(url, {"text": " "}, content_type="application/json", **bearer(token_for(doctor)))
    assert blank.status_code == 400 and blank.json()["errors"][0]["field"] == "text"
    not_hers = app.post(
        url, {"text": "Ecco", "document_ids": [consult_world["document"].pk]}, content_type="application/json",
        **bearer(token_for(doctor)),
    )  # fmt: skip
    assert not_hers.status_code in (400, 409)
    assert conversation.messages.count() == 1
