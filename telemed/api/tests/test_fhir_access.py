"""Every FHIR object URL, replayed by people who have no business there: another patient, a
doctor the patient never linked, someone not logged in and a made-up token. Not one read (404 or
401, none of the data in the answer), nothing in the patient's access log, and their searches
for the patient find nothing; the patient and the linked doctor read the same URLs."""

import pytest
from django.http import QueryDict
from django.test import Client

from telemed.api.tests.conftest import bearer
from telemed.api.tests.test_fhir import FHIR, fhir_world  # noqa: F401 - the fixture
from telemed.audit.models import AuditEntry
from telemed.fhir.resources import KINDS

pytestmark = pytest.mark.django_db

# The directory is public to every caller with a token: only anonymous callers are refused there.
PUBLIC = {"Practitioner", "PractitionerRole", "Organization", "Schedule", "Slot"}


def object_urls(world: dict) -> dict[str, str]:
    slot = next(iter(KINDS["Slot"].computed_search(None, QueryDict(f"schedule={world['doctor'].pk}"))[0]))
    urls = {
        "Schedule": f"{FHIR}/Schedule/{world['doctor'].pk}",
        "Slot": f"{FHIR}/Slot/{slot.pk}",
        "Patient": f"{FHIR}/Patient/{world['patient'].pk}",
        "DocumentReference": f"{FHIR}/DocumentReference/{world['shared'].pk}",
        "Binary": f"{FHIR}/Binary/{world['shared'].pk}",
        "Consent": f"{FHIR}/Consent/{world['link'].pk}",
        "Appointment": f"{FHIR}/Appointment/{world['booking'].pk}",
        "ImagingStudy": f"{FHIR}/ImagingStudy/{world['study'].pk}",
        "Practitioner": f"{FHIR}/Practitioner/{world['doctor'].pk}",
        "PractitionerRole": f"{FHIR}/PractitionerRole/{world['doctor'].pk}",
        "Organization": f"{FHIR}/Organization/{world['structure'].pk}",
        "Communication": f"{FHIR}/Communication/consult-{world['message'].pk}",
        "Communication#conversation": f"{FHIR}/Communication/message-{world['conversation_message'].pk}",
    }
    # Every resource type served is here: a new one must be added to this test too.
    assert {name.partition("#")[0] for name in urls} == set(KINDS)
    return urls


def body_of(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_no_one_else_reads_anything_through_a_fhir_url(fhir_world, make_patient, make_doctor, token_for):  # noqa: F811
    patient = fhir_world["patient"]
    urls = object_urls(fhir_world)
    strangers = {
        "another patient": bearer(token_for(make_patient(), "patient/*.read user/*.read")),
        "an unlinked doctor": bearer(token_for(make_doctor(), "user/*.read")),
        "anonymous": {},
        "a made-up token": bearer("not-a-token"),
    }
    secrets = [
        patient.patient_profile.codice_fiscale, "ecg-referto", "TC torace", "%PDF", "1.2.3.4",
        fhir_world["link"].consent_text[:40], "capogiri", "pressione",
    ]  # fmt: skip
    entries_before = AuditEntry.objects.count()
    reads = []
    for who, headers in strangers.items():
        client = Client()
        for kind, url in urls.items():
            if kind.partition("#")[0] in PUBLIC and who in ("another patient", "an unlinked doctor"):
                continue
            for accept in ("application/fhir+json", "*/*"):
                response = client.get(url, HTTP_ACCEPT=accept, **headers)
                body = body_of(response)
                if response.status_code not in (401, 404) or any(s.encode() in body for s in secrets):
                    reads.append((who, url, accept, response.status_code))
        # Searching for the patient finds nothing either.
        for kind in ("Patient", "DocumentReference", "Consent", "Appointment", "ImagingStudy", "Communication"):
            param = "_id" if kind == "Patient" else "patient"
            response = client.get(f"{FHIR}/{kind}?{param}={patient.pk}", **headers)
            body = body_of(response)
            found = response.status_code == 200 and response.json()["total"] != 0
            if response.status_code not in (200, 401) or found or any(s.encode() in body for s in secrets):
                reads.append((who, kind, "search", response.status_code))
    assert reads == []
    assert AuditEntry.objects.count() == entries_before

    # The patient and the linked doctor do read them.
    for user, scope in ((patient, "patient/*.read"), (fhir_world["doctor"], "user/*.read")):
        headers = bearer(token_for(user, scope))
        for url in urls.values():
            response = Client().get(url, **headers)
            assert response.status_code == 200, (user.role, url, body_of(response)[:200])
