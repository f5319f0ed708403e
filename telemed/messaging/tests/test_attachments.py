"""Documents travel with messages: to a patient as a copy in their Welbox, otherwise by reference."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from conftest import verified_client
from telemed.audit.models import AuditEntry
from telemed.boxes import selectors as boxes
from telemed.boxes import services as box_services
from telemed.messaging import services
from telemed.messaging.models import Attachment, Message
from telemed.portal.management.commands.load_demo import demo_pdf

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_in_tmp(files_in_tmp):
    return files_in_tmp


def document_of(user, name="esame.pdf"):
    return box_services.document_store_system(
        box=box_services.box_for(user), category="other", name=name, stream=demo_pdf(name), mime="application/pdf"
    )


def test_a_doctors_attachment_lands_in_the_patients_welbox(linked, make_patient):
    doctor, patient = linked
    report = document_of(doctor, "referto.pdf")
    conversation = services.conversation_start_with_patient(
        actor=doctor, patient=patient, text="In allegato", document_ids=[report.pk]
    )
    attachment = Attachment.objects.get()
    assert attachment.delivered_copy.box.owner == patient and attachment.delivered_copy.digest == report.digest
    assert [d.name for d in boxes.document_list_for_user(patient)] == ["referto.pdf"]
    response = verified_client(patient).get(reverse("messaging:attachment", args=[attachment.pk]))
    assert response.status_code == 200 and b"".join(response.streaming_content).startswith(b"%PDF")
    assert AuditEntry.objects.filter(actor=patient, action="download").exists()
    # The copy stays the patient's even if the doctor deletes the original.
    box_services.document_delete(actor=doctor, document=report)
    assert verified_client(patient).get(reverse("messaging:attachment", args=[attachment.pk])).status_code == 200
    assert verified_client(make_patient()).get(reverse("messaging:attachment", args=[attachment.pk])).status_code == 404
    assert conversation.pk


def test_a_patients_attachment_is_shared_with_the_doctor_by_reference(linked):
    doctor, patient = linked
    conversation = services.conversation_start_with_patient(
        actor=doctor, patient=patient, text="Mi mandi gli esami", allow_replies=True
    )
    exam = document_of(patient, "emocromo.pdf")
    services.message_send(actor=patient, conversation=conversation, text="Eccoli", document_ids=[exam.pk])
    assert list(boxes.documents_shared_with(doctor)) == [exam]
    attachment = Attachment.objects.get()
    assert attachment.delivered_copy is None and attachment.document == exam
    assert verified_client(doctor).get(reverse("messaging:attachment", args=[attachment.pk])).status_code == 200


def test_only_ones_own_documents_can_be_attached(linked, make_doctor):
    doctor, patient = linked
    colleague = make_doctor()
    conversation = services.conversation_start_with_patient(actor=doctor, patient=patient, text="x", allow_replies=True)
    exam = document_of(patient, "emocromo.pdf")
    services.message_send(actor=patient, conversation=conversation, text="Eccoli", document_ids=[exam.pk])
    # The doctor may read the patient's exam, but it is not theirs to forward on Intramed.
    with pytest.raises(ValidationError):
        services.conversation_start_intramed(actor=doctor, doctors=[colleague], text="Parere?", document_ids=[exam.pk])
    with pytest.raises(ValidationError):
        services.message_send(actor=doctor, conversation=conversation, text="x", document_ids=[999999])
    with pytest.raises(ValidationError):
        services.message_send(actor=doctor, conversation=conversation, text="x", document_ids=list(range(1, 13)))
    assert Message.objects.count() == 2


def test_intramed_attachment_is_read_through_the_conversation(make_doctor):
    first, second, outsider = make_doctor(), make_doctor(), make_doctor()
    ecg = document_of(first, "ecg.pdf")
    services.conversation_start_intramed(actor=first, doctors=[second], text="Parere?", document_ids=[ecg.pk])
    attachment = Attachment.objects.get()
    assert attachment.delivered_copy is None
    assert verified_client(second).get(reverse("messaging:attachment", args=[attachment.pk])).status_code == 200
    assert verified_client(outsider).get(reverse("messaging:attachment", args=[attachment.pk])).status_code == 404


def test_attaching_from_the_conversation_page(linked):
    doctor, patient = linked
    report = document_of(doctor, "referto.pdf")
    client = verified_client(doctor)
    response = client.post(
        reverse("messaging:new_to_patient"), {"patient": patient.pk, "text": "Referto", "documents": [report.pk]}
    )
    assert response.status_code == 302
    page = verified_client(patient).get(response["Location"]).content.decode()
    assert "referto.pdf" in page
    bad = client.post(reverse("messaging:new_to_patient"), {"patient": patient.pk, "text": "x", "documents": ["abc"]})
    assert bad.status_code == 400
