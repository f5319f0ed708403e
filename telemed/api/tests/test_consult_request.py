"""A consult asked through the API: the quote gives every cost line the request page shows, and
the request accepts one quote; the request page's checks refuse what they refuse there, and a
price changed since the quote is refused, nothing sent."""

import uuid
from decimal import Decimal

import pytest
from django.test import Client

from telemed.api.tests.conftest import bearer
from telemed.billing import tariffs
from telemed.billing.models import ServiceKind
from telemed.consults import services
from telemed.consults.models import Consult
from telemed.consults.tests.conftest import welbox_document

pytestmark = pytest.mark.django_db


def request_body(quote: dict, offer: dict, **fields) -> dict:
    return {
        "doctor": quote["doctor"],
        "kind": offer["kind"],
        "tariff_id": offer["tariff_id"],
        "patient_total": offer["cost"]["patient_total"],
        "accept_terms": True,
        "question": "Ho la pressione alta al mattino: devo preoccuparmi?",
        "key": str(uuid.uuid4()),
        **fields,
    }


def test_a_patient_accepts_a_quote_and_the_consult_is_priced_as_quoted(consult_doctor, make_patient, token_for):
    doctor, patient = consult_doctor(), make_patient()
    app = Client(HTTP_ACCEPT_LANGUAGE="en")
    headers = bearer(token_for(patient))
    slug = doctor.doctor_profile.slug

    answer = app.get(f"/api/v1/consult-quote?doctor={slug}", **headers)
    assert answer.status_code == 200, answer.content
    quote = answer.json()
    offers = {offer.kind: offer for offer in services.consult_offers(doctor.doctor_profile)}
    assert [offer["kind"] for offer in quote["offers"]] == list(offers)
    base = next(offer for offer in quote["offers"] if offer["kind"] == "base")
    breakdown = offers["base"].breakdown
    # Every line the patient pays, as the page's table lists them, and the total under it.
    assert [(line["label"], line["total"]) for line in base["cost"]["lines"]] == [
        (line.label, str(line.total)) for line in breakdown.patient_lines
    ]
    assert base["cost"]["lines"][0]["label"] == "Doctor's fee" and base["cost"]["lines"][0]["amount"] == "50.00"
    assert base["cost"]["patient_total"] == str(breakdown.patient_total)
    assert base["cost"]["notes"][0] == breakdown.vat_exemption_note
    page = Client(HTTP_ACCEPT_LANGUAGE="en")
    page.force_login(patient)
    shown = page.get(f"/consults/new/{slug}/").content.decode()
    assert all(line["label"].replace("'", "&#x27;") in shown for line in base["cost"]["lines"])
    assert f'name="tariff_base" value="{base["tariff_id"]}"' in shown

    body = request_body(quote, base)
    sent = app.post("/api/v1/consults", body, content_type="application/json", **headers)
    assert sent.status_code == 201, sent.content
    consult = Consult.objects.get(pk=sent.json()["id"])
    assert (consult.patient, consult.service_kind, consult.patient_total) == (patient, "base", breakdown.patient_total)
    assert sent.json()["patient_total"] == base["cost"]["patient_total"]
    # The same request again (an app's retry): the first consult, nothing sent twice.
    again = app.post("/api/v1/consults", body, content_type="application/json", **headers)
    assert again.status_code == 200 and again.json()["id"] == consult.pk
    assert Consult.objects.count() == 1


def test_a_price_changed_since_the_quote_is_refused(consult_doctor, make_patient, token_for):
    doctor, patient = consult_doctor(), make_patient()
    app = Client(HTTP_ACCEPT_LANGUAGE="it")
    headers = bearer(token_for(patient))
    quote = app.get(f"/api/v1/consult-quote?doctor={doctor.doctor_profile.slug}", **headers).json()
    base = next(offer for offer in quote["offers"] if offer["kind"] == "base")
    tariffs.tariff_set(
        actor=doctor, doctor=doctor.doctor_profile, kind=ServiceKind.BASE, fee=Decimal("65.00"),
        response_value=2, response_unit="working_days",
    )  # fmt: skip
    refused = app.post("/api/v1/consults", request_body(quote, base), content_type="application/json", **headers)
    assert refused.status_code == 409
    assert refused.json()["detail"].startswith("Nel frattempo il medico ha cambiato il prezzo")
    # A total other than the one quoted (the tariff being the current one) is refused alike.
    fresh = next(
        offer
        for offer in app.get(f"/api/v1/consult-quote?doctor={doctor.doctor_profile.slug}", **headers).json()["offers"]
        if offer["kind"] == "base"
    )
    assert fresh["tariff_id"] != base["tariff_id"]
    cheaper = request_body(quote, fresh, patient_total=base["cost"]["patient_total"])
    assert app.post("/api/v1/consults", cheaper, content_type="application/json", **headers).status_code == 409
    assert Consult.objects.count() == 0


def test_the_request_pages_checks_refuse_with_the_field_named(consult_doctor, make_patient, token_for):
    doctor, patient, other = consult_doctor(), make_patient(), make_patient()
    app = Client(HTTP_ACCEPT_LANGUAGE="en")
    headers = bearer(token_for(patient))
    quote = app.get(f"/api/v1/consult-quote?doctor={doctor.doctor_profile.slug}", **headers).json()
    base = next(offer for offer in quote["offers"] if offer["kind"] == "base")

    def send(**fields):
        return app.post(
            "/api/v1/consults", request_body(quote, base, **fields), content_type="application/json", **headers
        )

    not_accepted = send(accept_terms=False)
    assert not_accepted.status_code == 400
    assert not_accepted.json()["errors"] == [
        {"field": "accept", "message": "Accept the cost and the response deadline to send the consult."}
    ]
    someone_elses = welbox_document(other, name="altrui.pdf")
    assert send(document_ids=[someone_elses.pk]).json()["errors"][0]["field"] == "documents"
    assert send(question="   ").json()["errors"][0]["field"] == "question"
    assert send(patient_total="50").json()["errors"][0]["field"] == "patient_total"
    assert send(kind="video").json()["errors"][0]["field"] == "kind"
    assert send(doctor="nessuno").status_code == 404
    # Only a patient asks, and only a patient is quoted.
    doctor_headers = bearer(token_for(doctor))
    assert app.get(f"/api/v1/consult-quote?doctor={doctor.doctor_profile.slug}", **doctor_headers).status_code == 403
    assert Consult.objects.count() == 0
