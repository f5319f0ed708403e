"""Oscuramento through a consult: what the patient sent with a consult and later hid from doctors
is not listed on the doctor's consult page nor opened from it; the patient still sees it."""

import uuid

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from conftest import verified_client
from telemed.boxes import hiding
from telemed.consults import selectors, services
from telemed.consults.tests.conftest import welbox_document, welbox_study

pytestmark = pytest.mark.django_db


def ask(patient, doctor, **fields):
    draft = services.ConsultDraft(
        kind="priority",
        question="Ho dolore al petto da due giorni.",
        accepted_terms=True,
        idempotency_key=uuid.uuid4(),
        **fields,
    )
    consult, _created = services.consult_request(actor=patient, doctor=doctor.doctor_profile, draft=draft)
    return consult


def test_what_the_patient_hid_leaves_the_doctors_consult_page(consult_doctor, make_patient):
    doctor, patient = consult_doctor(), make_patient()
    document, study = welbox_document(patient, name="Esame sangue.pdf"), welbox_study(patient, description="TC torace")
    consult = ask(patient, doctor, document_ids=(document.pk,), study_ids=(study.pk,))
    [attachment] = selectors.consult_request_attachments(consult, viewer=doctor)
    attachment_url = reverse("consults:attachment", args=[consult.pk, attachment.pk])
    doctor_client, patient_client = verified_client(doctor, language="en"), verified_client(patient, language="en")
    page = doctor_client.get(reverse("consults:detail", args=[consult.pk])).content.decode()
    assert "Esame sangue.pdf" in page and "TC torace" in page

    hiding.record_hide_from_doctors(actor=patient, record=document)
    hiding.record_hide_from_doctors(actor=patient, record=study)
    page = doctor_client.get(reverse("consults:detail", args=[consult.pk])).content.decode()
    assert "Esame sangue.pdf" not in page and "TC torace" not in page
    assert doctor_client.get(attachment_url).status_code == 404
    page = patient_client.get(reverse("consults:detail", args=[consult.pk])).content.decode()
    assert "Esame sangue.pdf" in page and "TC torace" in page

    hiding.record_show_to_doctors(actor=patient, record=document)
    assert doctor_client.get(attachment_url).status_code == 200


def test_a_hidden_document_cannot_be_sent_with_a_new_consult(consult_doctor, make_patient):
    doctor, patient = consult_doctor(), make_patient()
    document = welbox_document(patient)
    hiding.record_hide_from_doctors(actor=patient, record=document)
    with pytest.raises(ValidationError, match="hidden from doctors"):
        ask(patient, doctor, document_ids=(document.pk,))
