import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from telemed.consults import info_requests, services, views
from telemed.consults.models import Consult, ConsultStatus, InfoRequest
from telemed.consults.tests.conftest import login, pdf_bytes, welbox_document, welbox_study

pytestmark = pytest.mark.django_db


def _form(doctor, kind="base", **extra):
    offers = {o.kind: o for o in services.consult_offers(doctor.doctor_profile)}
    data = {
        "kind": kind, "question": "Ho mal di testa da una settimana.", "accept": "on", "key": str(uuid.uuid4()),
        **{f"tariff_{k}": str(o.tariff_id) for k, o in offers.items()},
    }  # fmt: skip
    data.update(extra)
    return data


def test_the_request_page_shows_each_offer_with_its_cost_and_deadline(consult_doctor, make_patient, client):
    doctor, patient = consult_doctor(), make_patient()
    welbox_document(patient, name="analisi.pdf")
    page = login(client, patient).get(reverse("consults:new", args=[doctor.doctor_profile.slug])).content.decode()
    for kind in ("base", "imaging", "priority"):
        assert f'data-testid="deadline-{kind}"' in page and f'value="{kind}"' in page
    assert "analisi.pdf" in page and "Cost of the service" in page


def test_a_consult_sent_through_the_form_twice_is_stored_once(consult_doctor, make_patient, client):
    doctor, patient = consult_doctor(), make_patient()
    login(client, patient)
    data = _form(doctor, uploads=SimpleUploadedFile("esame.pdf", pdf_bytes(), "application/pdf"))
    url = reverse("consults:new", args=[doctor.doctor_profile.slug])
    first = client.post(url, data)
    consult = Consult.objects.get()
    assert first.status_code == 302 and first["Location"] == reverse("consults:detail", args=[consult.pk])
    data["uploads"] = SimpleUploadedFile("esame.pdf", pdf_bytes(), "application/pdf")
    second = client.post(url, data)
    assert second["Location"] == first["Location"] and Consult.objects.count() == 1
    assert consult.attachments.count() == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "video"}, "Select a valid choice"),
        ({"accept": ""}, "Accept the cost"),
        ({"question": ""}, "This field is required"),
        ({"key": "not-a-key"}, "reload the page"),
        ({"documents": "abc"}, "Select a valid choice"),
        ({"documents": "999999"}, "not a document of yours"),
        ({"kind": "imaging", "studies": "999999"}, "not yours"),
        ({"tariff_base": "1"}, "changed the price"),
    ],
)
def test_bad_request_input_gets_a_clear_message_and_stores_nothing(
    consult_doctor, make_patient, client, change, message
):
    doctor, patient = consult_doctor(), make_patient()
    login(client, patient)
    response = client.post(reverse("consults:new", args=[doctor.doctor_profile.slug]), {**_form(doctor), **change})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Consult.objects.exists()


def test_an_unsupported_upload_is_refused_on_the_page(consult_doctor, make_patient, client):
    doctor, patient = consult_doctor(), make_patient()
    login(client, patient)
    upload = SimpleUploadedFile("virus.exe", b"MZ\x90\x00" + b"\x00" * 200, "application/octet-stream")
    response = client.post(
        reverse("consults:new", args=[doctor.doctor_profile.slug]), {**_form(doctor), "uploads": upload}
    )
    assert response.status_code == 400 and "not a file a consult accepts" in response.content.decode()
    assert not Consult.objects.exists()


def test_only_its_patient_and_doctor_see_a_consult(consult_doctor, make_patient, client):
    doctor, patient, other = consult_doctor(), make_patient(), make_patient()
    consult, _ = services.consult_request(
        actor=patient, doctor=doctor.doctor_profile,
        draft=services.ConsultDraft(kind="base", question="Domanda", accepted_terms=True, idempotency_key=uuid.uuid4()),
    )  # fmt: skip
    url = reverse("consults:detail", args=[consult.pk])
    assert login(client, other).get(url).status_code == 404
    assert client.post(reverse("consults:cancel", args=[consult.pk])).status_code == 404
    assert login(client, consult_doctor()).get(url).status_code == 404
    assert login(client, doctor).get(url).status_code == 200
    assert login(client, patient).get(url).status_code == 200


def test_the_doctors_queue_shows_a_page_at_a_time_priority_first(consult_doctor, make_patient, client):
    doctor, patient = consult_doctor(), make_patient()

    def ask(kind):
        draft = services.ConsultDraft(kind=kind, question="Domanda", accepted_terms=True, idempotency_key=uuid.uuid4())
        return services.consult_request(actor=patient, doctor=doctor.doctor_profile, draft=draft)[0]

    consults = [ask("base") for _ in range(views.PAGE_SIZE)] + [ask("priority")]
    login(client, doctor)
    first = client.get(reverse("consults:queue")).content.decode()
    second = client.get(reverse("consults:queue"), {"page": 2}).content.decode()
    assert f'data-testid="queue-{consults[-1].pk}"' in first and "?page=2" in first
    assert first.count('data-testid="queue-') == views.PAGE_SIZE
    assert second.count('data-testid="queue-') == 1 and f'data-testid="queue-{consults[-2].pk}"' in second


def test_the_pages_of_each_role(consult_doctor, make_patient, make_secretary, client, admin_user):
    doctor, patient = consult_doctor(), make_patient()
    secretary = make_secretary(doctor)
    consult, _ = services.consult_request(
        actor=patient, doctor=doctor.doctor_profile,
        draft=services.ConsultDraft(kind="priority", question="Domanda", accepted_terms=True, idempotency_key=uuid.uuid4()),
    )  # fmt: skip
    info_requests.info_request_send(
        actor=patient, doctor=doctor.doctor_profile, text="Orari?", idempotency_key=uuid.uuid4()
    )
    mine = login(client, patient).get(reverse("consults:mine")).content.decode()
    assert f'data-testid="consult-{consult.pk}"' in mine and "countdown" in mine and str(consult.patient_total) in mine
    queue = login(client, doctor).get(reverse("consults:queue")).content.decode()
    assert f'data-testid="queue-{consult.pk}"' in queue and 'data-testid="priority"' in queue
    inbox = login(client, secretary).get(reverse("consults:info_inbox")).content.decode()
    assert "Orari?" in inbox
    assert login(client, admin_user).get(reverse("consults:overdue")).status_code == 200
    assert login(client, patient).get(reverse("consults:overdue")).status_code == 404
    assert login(client, patient).get(reverse("consults:info_inbox")).status_code == 403


def test_doctor_actions_with_bad_input_answer_400_or_a_message(consult_doctor, make_patient, client):
    doctor, patient = consult_doctor(), make_patient()
    consult, _ = services.consult_request(
        actor=patient, doctor=doctor.doctor_profile,
        draft=services.ConsultDraft(kind="base", question="Domanda", accepted_terms=True, idempotency_key=uuid.uuid4()),
    )  # fmt: skip
    login(client, doctor)
    assert client.post(reverse("consults:decline", args=[consult.pk]), {"reason": ""}).status_code == 400
    response = client.post(reverse("consults:answer", args=[consult.pk]), {"code": "123456"})
    assert response.status_code == 400 and "cannot become" in response.content.decode()
    response = client.post(reverse("consults:close", args=[consult.pk]), follow=True)
    assert "cannot become" in response.content.decode()
    assert (
        client.post(reverse("consults:message", args=[consult.pk]), {"text": "", "documents": "x"}).status_code == 400
    )
    assert client.post(reverse("consults:start", args=[consult.pk])).status_code == 302
    consult.refresh_from_db()
    assert consult.status == ConsultStatus.IN_PROGRESS


def test_a_secretary_of_another_doctor_gets_404_and_nothing_changes(
    consult_doctor, make_patient, make_secretary, client
):
    doctor, other, patient = consult_doctor(), consult_doctor(), make_patient()
    info = info_requests.info_request_send(
        actor=patient, doctor=doctor.doctor_profile, text="Orari?", idempotency_key=uuid.uuid4()
    )
    login(client, make_secretary(other))
    assert client.post(reverse("consults:info_reject", args=[info.pk])).status_code == 404
    assert client.post(reverse("consults:info_answer", args=[info.pk]), {"answer": "9-13"}).status_code == 404
    assert (
        client.get(reverse("consults:info_inbox") + f"?doctor={doctor.doctor_profile.pk}").status_code == 200
    )  # shows their own
    info.refresh_from_db()
    assert info.status == "open"


def test_an_info_request_through_the_form_twice_is_stored_once(consult_doctor, make_patient, client):
    doctor, patient = consult_doctor(), make_patient()
    login(client, patient)
    url = reverse("consults:info_new", args=[doctor.doctor_profile.slug])
    data = {"text": "Dove si trova lo studio?", "key": str(uuid.uuid4())}
    assert client.post(url, data).status_code == 302
    assert client.post(url, data).status_code == 302
    assert InfoRequest.objects.count() == 1
    assert client.post(url, {"text": "", "key": str(uuid.uuid4())}).status_code == 400


def test_an_imaging_consult_page_links_the_study_viewer_for_the_doctor(consult_doctor, make_patient, client):
    doctor, patient = consult_doctor(), make_patient()
    study = welbox_study(patient)
    consult, _ = services.consult_request(
        actor=patient, doctor=doctor.doctor_profile,
        draft=services.ConsultDraft(kind="imaging", question="TC", study_ids=(study.pk,), accepted_terms=True, idempotency_key=uuid.uuid4()),
    )  # fmt: skip
    page = login(client, doctor).get(reverse("consults:detail", args=[consult.pk])).content.decode()
    assert reverse("dicom:study", args=[study.pk]) in page
    assert client.get(reverse("dicom:study", args=[study.pk])).status_code == 200


def test_the_doctors_profile_leads_a_patient_to_the_request_pages(consult_doctor, make_patient, client):
    doctor, patient = consult_doctor(), make_patient()
    slug = doctor.doctor_profile.slug
    page = login(client, patient).get(reverse("directory:profile", args=[slug])).content.decode()
    assert reverse("consults:info_new", args=[slug]) in page
    for kind in ("base", "imaging", "priority"):
        assert f"{reverse('consults:new', args=[slug])}?kind={kind}" in page
    form = client.get(reverse("consults:new", args=[slug]) + "?kind=priority").content.decode()
    assert 'value="priority" checked' in form


def test_a_refused_request_keeps_the_chosen_file_selected_in_the_welbox(consult_doctor, make_patient, client):
    from telemed.boxes.models import Document

    doctor, patient = consult_doctor(), make_patient()
    login(client, patient)
    url = reverse("consults:new", args=[doctor.doctor_profile.slug])
    data = _form(doctor, accept="", uploads=SimpleUploadedFile("esame.pdf", pdf_bytes(), "application/pdf"))
    page = client.post(url, data)
    assert page.status_code == 400 and not Consult.objects.exists()
    kept = Document.objects.get(box__owner=patient, name="esame.pdf")
    content = page.content.decode()
    assert 'data-testid="kept-uploads"' in content and f'value="{kept.pk}"' in content
    assert (
        f'value="{kept.pk}" id="id_documents_0" checked' in content
        or "checked" in content.split(f'value="{kept.pk}"')[1][:80]
    )
    # A file that is itself refused is not kept, and the page says why.
    data = _form(doctor, accept="", uploads=SimpleUploadedFile("vuoto.pdf", b"", "application/pdf"))
    assert (
        "is empty" in client.post(url, data).content.decode() and not Document.objects.filter(name="vuoto.pdf").exists()
    )
    # A refusal about the attachments themselves keeps nothing.
    data = _form(doctor, documents="999999", uploads=SimpleUploadedFile("altro.pdf", pdf_bytes(), "application/pdf"))
    assert client.post(url, data).status_code == 400 and not Document.objects.filter(name="altro.pdf").exists()
    # Sent again with the kept document ticked: one consult, with the file, and the file stored once.
    sent = client.post(url, _form(doctor, documents=str(kept.pk)))
    consult = Consult.objects.get()
    assert sent.status_code == 302 and [a.document for a in consult.attachments.all()] == [kept]
    assert Document.objects.filter(box__owner=patient, name="esame.pdf").count() == 1
