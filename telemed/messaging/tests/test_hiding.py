"""Oscuramento in a doctor–patient conversation: a Welbox document the patient sent and later hid
from doctors is neither listed to the doctor nor opened by them, and cannot be sent while hidden."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from conftest import verified_client
from telemed.boxes import hiding
from telemed.consults.tests.conftest import welbox_document
from telemed.messaging import selectors, services

pytestmark = pytest.mark.django_db


def test_a_document_the_patient_hid_leaves_the_doctors_conversation(linked, files_in_tmp):
    doctor, patient = linked
    conversation = services.conversation_start_with_patient(
        actor=doctor, patient=patient, text="Mi mandi l'esame", allow_replies=True
    )
    document = welbox_document(patient, name="Esame sangue.pdf")
    message = services.message_send(actor=patient, conversation=conversation, text="Eccolo", document_ids=[document.pk])
    [attachment] = message.attachments.all()
    url = reverse("messaging:attachment", args=[attachment.pk])
    doctor_client = verified_client(doctor, language="en")
    assert doctor_client.get(url).status_code == 200

    hiding.record_hide_from_doctors(actor=patient, record=document)
    assert doctor_client.get(url).status_code == 404
    [seen_by_doctor] = [m for m in selectors.messages_page(conversation, viewer=doctor) if m.pk == message.pk]
    assert list(seen_by_doctor.attachments.all()) == []
    assert (
        "Esame sangue.pdf"
        not in doctor_client.get(reverse("messaging:conversation", args=[conversation.pk])).content.decode()
    )
    [seen_by_patient] = [m for m in selectors.messages_page(conversation, viewer=patient) if m.pk == message.pk]
    assert [a.name for a in seen_by_patient.attachments.all()] == ["Esame sangue.pdf"]
    with pytest.raises(ValidationError, match="hidden from doctors"):
        services.message_send(actor=patient, conversation=conversation, text="Di nuovo", document_ids=[document.pk])

    hiding.record_show_to_doctors(actor=patient, record=document)
    assert doctor_client.get(url).status_code == 200
