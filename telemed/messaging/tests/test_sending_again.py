"""Sending a message again is safe: a page (or an API client) that lost its connection before it
saw its message come back sends it again under the same key, and one message is stored."""

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import ValidationError
from django.urls import reverse

from conftest import log_in
from telemed.messaging import services
from telemed.messaging.models import Message
from telemed.messaging.tests.test_live import socket_for


def test_a_key_stores_one_message_per_sender_and_conversation(linked, make_patient):
    doctor, patient = linked
    conversation = services.conversation_start_with_patient(actor=doctor, patient=patient, text="Ciao")
    services.conversation_set_replies(actor=doctor, conversation=conversation, allowed=True)

    first = services.message_send(actor=doctor, conversation=conversation, text="Esiti pronti", client_key="k-1")
    again = services.message_send(actor=doctor, conversation=conversation, text="Esiti pronti", client_key="k-1")
    assert again.pk == first.pk
    # The key names the sending, not the text: a repeat never stores a second, changed copy.
    assert services.message_send(actor=doctor, conversation=conversation, text="Altro", client_key="k-1").pk == first.pk
    # Another sender's key, or no key at all, is another message.
    reply = services.message_send(actor=patient, conversation=conversation, text="Grazie", client_key="k-1")
    assert reply.pk != first.pk
    services.message_send(actor=doctor, conversation=conversation, text="Esiti pronti")
    services.message_send(actor=doctor, conversation=conversation, text="Esiti pronti")
    assert list(conversation.messages.values_list("text", flat=True)) == [
        "Ciao",
        "Esiti pronti",
        "Grazie",
        "Esiti pronti",
        "Esiti pronti",
    ]

    # A message stored before the doctor turned replies off comes back; a new one is refused.
    services.conversation_set_replies(actor=doctor, conversation=conversation, allowed=False)
    assert services.message_send(actor=patient, conversation=conversation, text="Grazie", client_key="k-1") == reply
    with pytest.raises(ValidationError):
        services.message_send(actor=patient, conversation=conversation, text="Ancora", client_key="k-2")


@pytest.mark.parametrize("key", ["con spazi", "x" * 65, "è-accentata", "a/b"])
def test_a_malformed_key_is_refused_and_nothing_is_stored(linked, key):
    doctor, patient = linked
    conversation = services.conversation_start_with_patient(actor=doctor, patient=patient, text="Ciao")
    with pytest.raises(ValidationError) as refusal:
        services.message_send(actor=doctor, conversation=conversation, text="Esiti", client_key=key)
    assert "1 to 64 letters" in " ".join(refusal.value.messages)
    assert conversation.messages.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_page_sending_again_after_a_drop_gets_the_stored_message_told_again(linked):
    """The process that stored the message may have died before telling anyone: the repeat tells
    the conversation again (pages skip an id they show), and a refusal names the key it refuses."""
    doctor, patient = linked
    conversation = services.conversation_start_with_patient(actor=doctor, patient=patient, text="Ciao")

    async def scenario():
        doctor_socket = await socket_for(doctor, conversation.pk)
        patient_socket = await socket_for(patient, conversation.pk)
        assert (await doctor_socket.connect(timeout=10))[0] and (await patient_socket.connect(timeout=10))[0]
        frames = []
        for _repeat in range(2):
            await doctor_socket.send_json_to({"type": "send", "text": "Esiti pronti", "key": "abc123"})
            for socket in (doctor_socket, patient_socket):
                frames.append(await socket.receive_json_from(timeout=5))
        assert {(f["type"], f["id"], f["key"], f["text"]) for f in frames} == {
            ("message", frames[0]["id"], "abc123", "Esiti pronti")
        }
        await patient_socket.send_json_to({"type": "send", "text": "Bene", "key": "def456"})  # replies are off
        refusal = await patient_socket.receive_json_from(timeout=5)
        assert refusal["type"] == "error" and refusal["key"] == "def456"
        for bad in [42, "spazi non ammessi"]:
            await doctor_socket.send_json_to({"type": "send", "text": "Esiti", "key": bad})
            assert (await doctor_socket.receive_json_from(timeout=5))["type"] == "error"
        await doctor_socket.disconnect()
        await patient_socket.disconnect()

    async_to_sync(scenario)()
    assert list(Message.objects.values_list("text", flat=True)) == ["Ciao", "Esiti pronti"]


def test_posting_the_conversation_form_twice_stores_one_message(client, linked):
    doctor, patient = linked
    conversation = services.conversation_start_with_patient(actor=doctor, patient=patient, text="Ciao")
    log_in(client, doctor)
    url = reverse("messaging:conversation", args=[conversation.pk])
    page = client.get(url)
    key = page.context["form"]["key"].value()
    assert len(key) == 64 and f'value="{key}"' in page.content.decode()
    for _double_click in range(2):
        assert client.post(url, {"text": "Esiti pronti", "key": key}).status_code == 302
    assert conversation.messages.filter(text="Esiti pronti").count() == 1
    # The next drawing of the form has a new key.
    assert client.get(url).context["form"]["key"].value() != key
    # A tampered key: the reason is shown, nothing is stored.
    answer = client.post(url, {"text": "Altro", "key": "non valida!"})
    assert answer.status_code == 400 and "La chiave di un messaggio" in answer.content.decode()
    assert not conversation.messages.filter(text="Altro").exists()


def test_messages_are_numbered_without_gaps_in_each_conversation(linked, make_doctor):
    doctor, patient = linked
    colleague = make_doctor()
    first = services.conversation_start_with_patient(actor=doctor, patient=patient, text="Uno", allow_replies=True)
    other = services.conversation_start_intramed(actor=doctor, doctors=[colleague], text="Altro")
    services.message_send(actor=patient, conversation=first, text="Due")
    services.message_send(actor=colleague, conversation=other, text="Altro ancora")
    services.message_send(actor=doctor, conversation=first, text="Tre", client_key="k")
    services.message_send(actor=doctor, conversation=first, text="Tre", client_key="k")  # a repeat: no number
    assert list(first.messages.values_list("seq", "text")) == [(1, "Uno"), (2, "Due"), (3, "Tre")]
    assert list(other.messages.values_list("seq", flat=True)) == [1, 2]
    first.refresh_from_db()
    assert first.last_seq == 3
    assert services.message_payload(first.messages.last())["seq"] == 3
