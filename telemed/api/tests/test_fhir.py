"""FHIR R4 at /fhir/R4/: the CapabilityStatement, read and search of each resource type as the
patient and their linked doctor see them, every resource valid against the R4 models of
``fhir.resources``, refusals as OperationOutcome, and the reads in the patient's access log."""

import base64
import datetime
import urllib.parse
import uuid
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from fhir.resources.R4B import get_fhir_model_class

from conftest import PASSWORD
from telemed.accounts import consents
from telemed.accounts.models import ConsentKind, Structure
from telemed.api.tests.conftest import REDIRECT_URI, bearer
from telemed.api.tests.test_mobile_app import authorize_url, path_of, pkce_pair
from telemed.audit.models import AuditEntry
from telemed.billing.tariffs import tariff_set
from telemed.boxes import hiding
from telemed.boxes import services as boxes
from telemed.care import services as care
from telemed.consults import services as consults
from telemed.consults.tests.conftest import offer_consults, pdf_bytes, welbox_document, welbox_study
from telemed.dicom import services as dicom
from telemed.dicom.models import Series
from telemed.fhir.bundle import patient_bundle
from telemed.fhir.resources import KINDS
from telemed.lib.italy import is_public_holiday
from telemed.messaging import services as messaging
from telemed.visits import availability as visit_availability
from telemed.visits.models import Booking
from telemed.visits.tests.conftest import rome

pytestmark = pytest.mark.django_db

FHIR = "/fhir/R4"


def valid(resource: dict) -> dict:
    """The resource as the R4 models read it (a ValidationError fails the test); a Bundle's
    entries each as their own type."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    for entry in resource.get("entry", []):
        valid(entry["resource"])
    return resource


def fhir_get(client: Client, url: str, token: str | None = None, **headers):
    if token is not None:
        headers.update(bearer(token))
    response = client.get(url, **headers)
    if response.get("Content-Type", "").startswith("application/fhir+json"):
        valid(response.json())
    return response


def visit_day() -> int:
    """Days from today to the visit: two or more, on a day with slots (not a national holiday)."""
    return next(days for days in range(2, 7) if not is_public_holiday(rome(days, 0).date()))


@pytest.fixture
def fhir_world(make_patient, make_doctor):
    """A patient linked to a doctor (care link), who shared a document and a CT study with them,
    booked a video visit and asked a consult; a second document stays private."""
    structure = Structure.objects.create(
        name="Poliambulatorio Centro", slug="poliambulatorio-centro", partita_iva="01234567897",
        address="Via Roma 1", city="Milano", province="MI",
    )  # fmt: skip
    patient = make_patient(first_name="Maria", last_name="Rossi")
    doctor = make_doctor(first_name="Anna", last_name="Bianchi")
    doctor.doctor_profile.structure = structure
    doctor.doctor_profile.save()
    # Video visits of 30 minutes, 09:00 to 11:00 (Rome) every day.
    tariff_set(actor=doctor, doctor=doctor.doctor_profile, kind="video", fee=Decimal("60.00"), duration_minutes=30)
    visit_availability.agenda_update(
        actor=doctor, slot_minutes=30, horizon_days=7, min_notice_hours=2, cancel_notice_hours=24,
        reschedule_notice_hours=24,
    )  # fmt: skip
    for weekday in range(7):
        visit_availability.availability_rule_add(
            actor=doctor, weekday=weekday, start=datetime.time(9), end=datetime.time(11)
        )
    link = care.care_accept(actor=doctor, link=care.care_request(actor=patient, doctor=doctor))
    consents.consents_give(user=patient, kinds=[ConsentKind.SHARED_SPACE])
    shared = welbox_document(patient, name="ecg-referto.pdf")
    boxes.document_share(actor=patient, document=shared, doctor=doctor)
    private = welbox_document(patient, name="diario-privato.pdf")
    study = welbox_study(patient, description="TC torace")
    Series.objects.create(study=study, series_instance_uid="1.2.3.4", number=1, modality="CT", instance_count=2)
    dicom.study_share(actor=patient, study=study, doctor=doctor)
    start = rome(visit_day(), 9)
    booking = Booking.objects.create(
        doctor=doctor, patient=patient, start=start, end=start + datetime.timedelta(minutes=30),
        duration_minutes=30, breakdown={}, accepted_at=timezone.now(),
    )  # fmt: skip
    offer_consults(doctor)
    consult, _created = consults.consult_request(
        actor=patient,
        doctor=doctor.doctor_profile,
        draft=consults.ConsultDraft(
            kind="base", question="Palpitazioni notturne.", document_ids=(), accepted_terms=True,
            idempotency_key=uuid.uuid4(),
        ),
    )  # fmt: skip
    message = consults.consult_message_send(actor=patient, consult=consult, text="Ho anche capogiri al mattino.")
    conversation = messaging.conversation_start_with_patient(
        actor=doctor, patient=patient, text="Ricordi di misurare la pressione.", subject="Terapia"
    )
    return {
        "patient": patient, "doctor": doctor, "link": link, "shared": shared, "private": private,
        "study": study, "booking": booking, "structure": structure, "consult": consult, "message": message,
        "conversation_message": conversation.messages.get(),
    }  # fmt: skip


def test_the_capability_statement_lists_exactly_what_is_served(client):
    response = fhir_get(client, f"{FHIR}/metadata")
    assert response.status_code == 200 and response["Content-Type"].startswith("application/fhir+json")
    statement = response.json()
    assert statement["fhirVersion"] == "4.0.1"
    rest = statement["rest"][0]
    served = {entry["type"]: entry for entry in rest["resource"]}
    assert set(served) == set(KINDS) == {
        "Patient", "Practitioner", "PractitionerRole", "Organization", "Appointment", "DocumentReference",
        "Binary", "ImagingStudy", "Consent", "Communication", "Schedule", "Slot",
    }  # fmt: skip
    assert [i["code"] for i in served["Binary"]["interaction"]] == ["read"]
    assert [i["code"] for i in served["Patient"]["interaction"]] == ["read", "search-type"]
    assert {p["name"] for p in served["DocumentReference"]["searchParam"]} == {"_id", "patient", "category"}
    oauth = {e["url"]: e["valueUri"] for e in rest["security"]["extension"][0]["extension"]}
    assert oauth["token"].endswith("/o/token/") and oauth["authorize"].endswith("/o/authorize/")
    assert rest["security"]["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    smart = client.get(f"{FHIR}/.well-known/smart-configuration").json()
    assert smart["code_challenge_methods_supported"] == ["S256"]


def test_a_patient_reads_their_own_record(fhir_world, token_for):
    patient = fhir_world["patient"]
    token, client = token_for(patient, "patient/*.read"), Client()
    me = fhir_get(client, f"{FHIR}/Patient/{patient.pk}", token).json()
    assert me["identifier"] == [
        {
            "use": "official",
            "system": "http://hl7.it/sid/codiceFiscale",
            "value": patient.patient_profile.codice_fiscale,
        }
    ]
    assert me["name"][0]["family"] == "Rossi"
    bundle = fhir_get(client, f"{FHIR}/Patient", token).json()
    assert bundle["type"] == "searchset" and [e["resource"]["id"] for e in bundle["entry"]] == [str(patient.pk)]
    documents = fhir_get(client, f"{FHIR}/DocumentReference?patient=Patient/{patient.pk}", token).json()
    assert {e["resource"]["description"] for e in documents["entry"]} == {"ecg-referto.pdf", "diario-privato.pdf"}
    for kind, row in (("Consent", "link"), ("Appointment", "booking"), ("ImagingStudy", "study")):
        found = fhir_get(client, f"{FHIR}/{kind}", token).json()
        assert [e["resource"]["id"] for e in found["entry"]] == [str(fhir_world[row].pk)], kind
    # The consult's thread and the doctor's conversation, newest first, a page at a time.
    first = fhir_get(client, f"{FHIR}/Communication?_count=1", token).json()
    assert first["total"] == 2
    conversation = first["entry"][0]["resource"]
    assert conversation["id"] == f"message-{fhir_world['conversation_message'].pk}"
    assert (
        conversation["topic"] == {"text": "Terapia"} and conversation["subject"]["reference"] == f"Patient/{patient.pk}"
    )
    following = {link["relation"]: link["url"] for link in first["link"]}["next"]
    thread = fhir_get(client, following, token).json()["entry"][0]["resource"]
    assert thread["id"] == f"consult-{fhir_world['message'].pk}"
    both = fhir_get(client, f"{FHIR}/Communication?_id={thread['id']},{conversation['id']}", token).json()
    assert both["total"] == 2
    assert fhir_get(client, f"{FHIR}/Communication?_id=42", token).status_code == 400


def test_a_linked_doctor_reads_what_the_patient_shared_and_nothing_else(fhir_world, token_for):
    patient, doctor = fhir_world["patient"], fhir_world["doctor"]
    token, client = token_for(doctor, "user/*.read"), Client()
    found = fhir_get(client, f"{FHIR}/Patient?identifier=http://hl7.it/sid/codiceFiscale|"
                     f"{patient.patient_profile.codice_fiscale}", token).json()  # fmt: skip
    assert [e["resource"]["id"] for e in found["entry"]] == [str(patient.pk)]
    documents = fhir_get(client, f"{FHIR}/DocumentReference?patient={patient.pk}", token).json()
    assert [e["resource"]["description"] for e in documents["entry"]] == ["ecg-referto.pdf"]
    assert fhir_get(client, f"{FHIR}/DocumentReference/{fhir_world['private'].pk}", token).status_code == 404
    assert fhir_get(client, f"{FHIR}/Binary/{fhir_world['private'].pk}", token).status_code == 404
    consent = fhir_get(client, f"{FHIR}/Consent/{fhir_world['link'].pk}", token).json()
    assert consent["status"] == "active" and consent["patient"]["reference"] == f"Patient/{patient.pk}"
    assert base64.b64decode(consent["sourceAttachment"]["data"]).decode() == fhir_world["link"].consent_text
    visit = fhir_get(client, f"{FHIR}/Appointment?practitioner=Practitioner/{doctor.pk}&status=booked", token).json()
    assert visit["total"] == 1 and visit["entry"][0]["resource"]["status"] == "booked"
    study = fhir_get(client, f"{FHIR}/ImagingStudy/{fhir_world['study'].pk}", token).json()
    assert study["series"][0]["uid"] == "1.2.3.4" and study["subject"]["reference"] == f"Patient/{patient.pk}"
    messages = fhir_get(client, f"{FHIR}/Communication?patient={patient.pk}", token).json()["entry"]
    message = messages[1]["resource"]
    assert message["payload"] == [{"contentString": "Ho anche capogiri al mattino."}]
    assert message["sender"]["reference"] == f"Patient/{patient.pk}"
    assert message["recipient"][0]["reference"] == f"Practitioner/{doctor.pk}"


def test_every_read_of_clinical_data_is_in_the_patients_access_log(fhir_world, token_for):
    patient, doctor, shared = fhir_world["patient"], fhir_world["doctor"], fhir_world["shared"]
    token, client = token_for(doctor, "user/*.read"), Client()
    before = AuditEntry.objects.count()
    fhir_get(client, f"{FHIR}/DocumentReference?patient={patient.pk}", token)  # a list, as on the pages
    assert AuditEntry.objects.count() == before
    fhir_get(client, f"{FHIR}/DocumentReference/{shared.pk}", token)
    raw = fhir_get(client, f"{FHIR}/Binary/{shared.pk}", token)
    assert raw.status_code == 200 and b"".join(raw.streaming_content) == pdf_bytes()
    wrapped = fhir_get(client, f"{FHIR}/Binary/{shared.pk}", token, HTTP_ACCEPT="application/fhir+json").json()
    assert base64.b64decode(wrapped["data"]) == pdf_bytes() and wrapped["contentType"] == "application/pdf"
    fhir_get(client, f"{FHIR}/ImagingStudy/{fhir_world['study'].pk}", token)
    fhir_get(client, f"{FHIR}/Communication/consult-{fhir_world['message'].pk}", token)
    # A conversation is not logged when read, as on the messages page.
    fhir_get(client, f"{FHIR}/Communication/message-{fhir_world['conversation_message'].pk}", token)
    # A thread's messages are the clinical content itself: a search that returns them is a reading.
    fhir_get(client, f"{FHIR}/Communication?patient={patient.pk}", token)
    logged = AuditEntry.objects.order_by("pk")[before:]
    assert [(e.action, e.target_type, e.actor_id, e.patient_id) for e in logged] == [
        ("view", "boxes.document", doctor.pk, patient.pk),
        ("download", "boxes.document", doctor.pk, patient.pk),
        ("download", "boxes.document", doctor.pk, patient.pk),
        ("view", "dicom.study", doctor.pk, patient.pk),
        ("view", "consults.consult", doctor.pk, patient.pk),
        ("view", "consults.consult", doctor.pk, patient.pk),
    ]


def test_the_directory_as_practitioners_roles_and_organizations(fhir_world, token_for):
    doctor, structure = fhir_world["doctor"], fhir_world["structure"]
    token, client = token_for(fhir_world["patient"], "patient/*.read"), Client()
    found = fhir_get(client, f"{FHIR}/Practitioner?name=bianchi", token).json()
    assert [e["resource"]["id"] for e in found["entry"]] == [str(doctor.pk)]
    assert found["entry"][0]["resource"]["qualification"][0]["code"]["text"]
    role = fhir_get(client, f"{FHIR}/PractitionerRole?organization=Organization/{structure.pk}", token).json()
    assert role["entry"][0]["resource"]["practitioner"]["reference"] == f"Practitioner/{doctor.pk}"
    organization = fhir_get(client, f"{FHIR}/Organization/{structure.pk}", token).json()
    assert organization["name"] == "Poliambulatorio Centro"


def test_a_doctors_free_slots(fhir_world, token_for):
    doctor = fhir_world["doctor"]
    token, client = token_for(fhir_world["patient"], "patient/*.read"), Client()
    schedule = fhir_get(client, f"{FHIR}/Schedule/{doctor.pk}", token).json()
    assert schedule["actor"][0]["reference"] == f"Practitioner/{doctor.pk}"
    days = visit_day()
    day = rome(days, 0).date().isoformat()
    found = fhir_get(client, f"{FHIR}/Slot?schedule=Schedule/{doctor.pk}&start={day}", token).json()
    starts = [entry["resource"]["start"] for entry in found["entry"]]
    # 09:00 is the booked visit's: 09:30, 10:00 and 10:30 are free that day.
    assert starts == [rome(days, *at).astimezone(datetime.UTC).isoformat() for at in ((9, 30), (10, 0), (10, 30))]
    slot = found["entry"][1]["resource"]
    assert fhir_get(client, f"{FHIR}/Slot/{slot['id']}", token).json() == slot
    booked = f"{doctor.pk}-{rome(days, 9).astimezone(datetime.UTC):%Y%m%d%H%M}"
    assert fhir_get(client, f"{FHIR}/Slot/{booked}", token).status_code == 404
    assert fhir_get(client, f"{FHIR}/Slot/{doctor.pk}-209913311200", token).status_code == 404
    assert fhir_get(client, f"{FHIR}/Slot", token).status_code == 400
    assert fhir_get(client, f"{FHIR}/Slot?schedule={doctor.pk}&start=dopodomani", token).status_code == 400
    assert fhir_get(client, f"{FHIR}/Schedule/{fhir_world['patient'].pk}", token).status_code == 404


def test_search_pages_with_links(fhir_world, token_for):
    patient = fhir_world["patient"]
    welbox_document(patient, name="terzo.pdf")
    token, client = token_for(patient, "patient/*.read"), Client()
    first = fhir_get(client, f"{FHIR}/DocumentReference?_count=2&unknown=1", token).json()
    links = {link["relation"]: link["url"] for link in first["link"]}
    assert first["total"] == 3 and len(first["entry"]) == 2 and "previous" not in links
    assert "unknown" not in links["self"]  # ignored, and the self link says so
    second = fhir_get(client, links["next"], token).json()
    assert len(second["entry"]) == 1 and "next" not in {link["relation"] for link in second["link"]}
    seen = {e["resource"]["id"] for e in first["entry"] + second["entry"]}
    assert len(seen) == 3


def test_refusals_are_operation_outcomes(fhir_world, token_for):
    patient, doctor = fhir_world["patient"], fhir_world["doctor"]
    client = Client(HTTP_ACCEPT_LANGUAGE="it")
    anonymous = fhir_get(client, f"{FHIR}/Patient/{patient.pk}")
    assert anonymous.status_code == 401 and anonymous.json()["issue"][0]["code"] == "login"
    assert anonymous["WWW-Authenticate"].startswith("Bearer")
    for user, scope in ((patient, "consults:read"), (doctor, "patient/*.read")):
        refused = fhir_get(client, f"{FHIR}/Patient/{patient.pk}", token_for(user, scope))
        assert refused.status_code == 403 and refused.json()["issue"][0]["code"] == "forbidden"
        assert 'error="insufficient_scope"' in refused["WWW-Authenticate"]
    token = token_for(patient, "patient/*.read")
    assert fhir_get(client, f"{FHIR}/Observation", token).json()["issue"][0]["code"] == "not-supported"
    assert fhir_get(client, f"{FHIR}/Binary", token).status_code == 404
    for url in (f"{FHIR}/Patient/abc", f"{FHIR}/Patient/99999999", f"{FHIR}/Patient/١٢"):
        missing = fhir_get(client, url, token)
        assert missing.status_code == 404 and missing.json()["issue"][0]["diagnostics"] == "Non trovato."
    bad = fhir_get(client, f"{FHIR}/DocumentReference?patient=Patient/x", token)
    assert bad.status_code == 400 and "patient" in bad.json()["issue"][0]["diagnostics"]
    assert client.post(f"{FHIR}/Patient", {}, **bearer(token)).status_code == 405


def test_a_patients_record_as_one_bundle(fhir_world, make_patient):
    patient, doctor = fhir_world["patient"], fhir_world["doctor"]
    welbox_document(make_patient(), name="di-un-altro.pdf")
    before = AuditEntry.objects.count()
    bundle = valid(patient_bundle(patient))
    assert bundle["type"] == "collection" and AuditEntry.objects.count() == before
    found = {(e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"]}
    assert found == {
        ("Patient", str(patient.pk)),
        ("Consent", str(fhir_world["link"].pk)),
        ("Appointment", str(fhir_world["booking"].pk)),
        ("DocumentReference", str(fhir_world["shared"].pk)),
        ("DocumentReference", str(fhir_world["private"].pk)),
        ("ImagingStudy", str(fhir_world["study"].pk)),
        ("Communication", f"consult-{fhir_world['message'].pk}"),
        ("Communication", f"message-{fhir_world['conversation_message'].pk}"),
        ("Practitioner", str(doctor.pk)),
    }
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert entry["fullUrl"] == f"{settings.BASE_URL}/fhir/R4/{resource['resourceType']}/{resource['id']}"
    assert patient_bundle(doctor)["entry"] == []


def test_an_app_gets_a_smart_scope_through_the_platforms_own_login(fhir_world, mobile_app):
    patient = fhir_world["patient"]
    verifier, challenge = pkce_pair()
    start = authorize_url(mobile_app, challenge, "patient/*.read", "s1")
    browser = Client(HTTP_ACCEPT_LANGUAGE="en")
    to_login = browser.get(start)
    browser.post(path_of(to_login["Location"]), {"username": patient.email, "password": PASSWORD})
    page = browser.get(start)
    assert (
        page.status_code == 200 and "Read your own health record in the FHIR standard format" in page.content.decode()
    )
    form = page.context["form"]
    fields = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    back = urllib.parse.urlsplit(browser.post(start, {**fields, "allow": "Authorize"})["Location"])
    code = dict(urllib.parse.parse_qsl(back.query))["code"]
    issued = Client().post(
        reverse("oauth2_provider:token"),
        {
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
            "client_id": mobile_app.client_id, "code_verifier": verifier,
        },
    ).json()  # fmt: skip
    assert issued["scope"] == "patient/*.read"
    me = fhir_get(Client(), f"{FHIR}/Patient/{patient.pk}", issued["access_token"])
    assert me.status_code == 200 and me.json()["id"] == str(patient.pk)


def test_what_the_patient_hides_or_stops_sharing_leaves_the_doctors_reach(fhir_world, token_for):
    patient, doctor, shared, study = (
        fhir_world["patient"],
        fhir_world["doctor"],
        fhir_world["shared"],
        fhir_world["study"],
    )
    token, client = token_for(doctor, "user/*.read"), Client()
    for url in (f"{FHIR}/DocumentReference/{shared.pk}", f"{FHIR}/ImagingStudy/{study.pk}"):
        assert fhir_get(client, url, token).status_code == 200
    hiding.record_hide_from_doctors(actor=patient, record=shared)  # oscuramento
    hiding.record_hide_from_doctors(actor=patient, record=study)
    for url in (
        f"{FHIR}/DocumentReference/{shared.pk}",
        f"{FHIR}/Binary/{shared.pk}",
        f"{FHIR}/ImagingStudy/{study.pk}",
    ):
        assert fhir_get(client, url, token).status_code == 404
    assert fhir_get(client, f"{FHIR}/DocumentReference?patient={patient.pk}", token).json()["total"] == 0
    care.care_revoke(actor=patient, link=fhir_world["link"])
    assert fhir_get(client, f"{FHIR}/Patient/{patient.pk}", token).status_code == 404
    assert fhir_get(client, f"{FHIR}/Consent/{fhir_world['link'].pk}", token).json()["status"] == "inactive"
    assert fhir_get(client, f"{FHIR}/Appointment?practitioner=Patient/{patient.pk}", token).status_code == 400
