"""Who may write to whom, and what a conversation keeps."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from conftest import verified_client
from telemed.care import services as care
from telemed.messaging import selectors, services
from telemed.messaging.models import Message
from telemed.notifications.models import Notification

pytestmark = pytest.mark.django_db


def test_doctor_writes_to_a_linked_patient_for_free(linked):
    doctor, patient = linked
    conversation = services.conversation_start_with_patient(
        actor=doctor, patient=patient, text="Ecco il referto", subject="Esami"
    )
    assert [m.text for m in selectors.messages_page(conversation, viewer=patient)] == ["Ecco il referto"]
    assert selectors.conversations_for(patient).get().unread == 1
    notification = Notification.objects.get(recipient=patient, kind="message")
    assert "referto" not in notification.title  # the title names the sender only


def test_patient_replies_only_when_the_doctor_allows_it(linked):
    doctor, patient = linked
    conversation = services.conversation_start_with_patient(actor=doctor, patient=patient, text="Buongiorno")
    with pytest.raises(ValidationError, match="consult|consulto"):
        services.message_send(actor=patient, conversation=conversation, text="Grazie")
    services.conversation_set_replies(actor=doctor, conversation=conversation, allowed=True)
    services.message_send(actor=patient, conversation=conversation, text="Grazie")
    with pytest.raises(PermissionDenied):
        services.conversation_set_replies(actor=patient, conversation=conversation, allowed=True)


def test_unlinked_patients_cannot_be_written_to_and_revocation_stops_new_messages(linked, make_patient):
    doctor, patient = linked
    stranger = make_patient()
    with pytest.raises(ValidationError):
        services.conversation_start_with_patient(actor=doctor, patient=stranger, text="Salve")
    conversation = services.conversation_start_with_patient(actor=doctor, patient=patient, text="Primo")
    link = care.care_revoke(actor=patient, link=patient.care_links_as_patient.get())
    assert link.status == "revoked"
    with pytest.raises(ValidationError):
        services.message_send(actor=doctor, conversation=conversation, text="Secondo")
    # What was delivered stays.
    assert [m.text for m in selectors.messages_page(conversation, viewer=patient)] == ["Primo"]


def test_intramed_between_any_registered_doctors(make_doctor, make_patient):
    a, b, c = make_doctor(), make_doctor(), make_doctor()
    patient = make_patient()
    conversation = services.conversation_start_intramed(actor=a, doctors=[b, c], text="Parere su ECG", subject="ECG")
    services.message_send(actor=c, conversation=conversation, text="Concordo")
    assert selectors.conversations_for(b).get().unread == 2
    with pytest.raises(ValidationError):
        services.conversation_start_intramed(actor=a, doctors=[patient], text="x")
    with pytest.raises(ValidationError):
        services.conversation_start_intramed(actor=a, doctors=[a], text="x")
    with pytest.raises(PermissionDenied):
        services.conversation_start_intramed(actor=patient, doctors=[a], text="x")
    with pytest.raises(PermissionDenied):
        services.message_send(actor=make_doctor(), conversation=conversation, text="intruder")


@pytest.mark.parametrize("text", ["", "   ", "x" * 20_001, "\x00"])
def test_bad_text_is_refused_and_nothing_is_stored(linked, text):
    doctor, patient = linked
    with pytest.raises(ValidationError):
        services.conversation_start_with_patient(actor=doctor, patient=patient, text=text)
    assert Message.objects.count() == 0


def test_read_receipts_unread_counts_search_and_sent(linked):
    doctor, patient = linked
    conversation = services.conversation_start_with_patient(
        actor=doctor, patient=patient, text="Uno", allow_replies=True
    )
    second = services.message_send(actor=doctor, conversation=conversation, text="Due, vedi https://example.org/x")
    assert selectors.read_positions(conversation)[patient.pk] == 0
    services.conversation_mark_read(actor=patient, conversation=conversation, up_to_message_id=second.pk + 1000)
    assert selectors.read_positions(conversation)[patient.pk] == second.pk  # never past the newest
    services.conversation_mark_read(actor=patient, conversation=conversation, up_to_message_id=1)
    assert selectors.read_positions(conversation)[patient.pk] == second.pk  # never backwards
    assert selectors.conversations_for(patient).get().unread == 0
    assert [m.text for m in selectors.message_search(patient, "vedi")] == [second.text]
    assert list(selectors.message_search(patient, "")) == []
    assert [m.text for m in selectors.messages_sent_by(doctor)] == [second.text, "Uno"]


def test_pages(linked, make_doctor):
    doctor, patient = linked
    doctor_client, patient_client = verified_client(doctor), verified_client(patient)
    response = doctor_client.post(
        reverse("messaging:new_to_patient"),
        {"patient": patient.pk, "subject": "Esito", "text": "<b>ciao</b> https://example.org"},
    )
    assert response.status_code == 302
    conversation = selectors.conversations_for(doctor).get()
    page = patient_client.get(reverse("messaging:conversation", args=[conversation.pk])).content.decode()
    assert "&lt;b&gt;ciao&lt;/b&gt;" in page and '<a href="https://example.org"' in page
    assert selectors.conversations_for(patient).get().unread == 0  # opening it read it
    assert not patient.notifications.filter(kind="message", read_at__isnull=True).exists()  # and its notification
    refused = patient_client.post(reverse("messaging:conversation", args=[conversation.pk]), {"text": "posso?"})
    assert refused.status_code == 400 and Message.objects.count() == 1
    outsider = verified_client(make_doctor())
    assert outsider.get(reverse("messaging:conversation", args=[conversation.pk])).status_code == 404
    assert outsider.post(reverse("messaging:new_to_patient"), {"patient": patient.pk, "text": "x"}).status_code == 400
    assert patient_client.get(reverse("messaging:new_intramed")).status_code == 403
    assert patient_client.get(reverse("messaging:inbox") + "?q=ciao").status_code == 200
    assert doctor_client.get(reverse("messaging:sent")).status_code == 200
    huge = doctor_client.post(reverse("messaging:conversation", args=[conversation.pk]), {"text": "x" * 20_001})
    assert huge.status_code == 400 and Message.objects.count() == 1
