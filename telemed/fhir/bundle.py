"""A patient's own record as one FHIR Bundle (``collection``): what the FHIR endpoint gives the
patient, all at once, for the data export (GDPR art. 20, portability).

The rows are the ones the patient reads (each type's ``readable`` for the patient themself), so
nothing here decides access; the doctors the record names are added as Practitioners while they
are in the directory. Building it records no reading: the export records itself."""

import re

from django.conf import settings
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from telemed.fhir.resources import (
    APPOINTMENT,
    COMMUNICATION,
    CONSENT,
    DOCUMENT_REFERENCE,
    IMAGING_STUDY,
    PATIENT,
    PRACTITIONER,
    Kind,
)

DOCTOR = re.compile(r"Practitioner/[0-9]+")
# In the order a reader meets them: the person, their links, visits, documents, studies, threads.
RECORD: tuple[Kind, ...] = (PATIENT, CONSENT, APPOINTMENT, DOCUMENT_REFERENCE, IMAGING_STUDY, COMMUNICATION)


def _references(value) -> set[str]:
    """Every ``reference`` inside ``value`` (resources, their elements, lists of them)."""
    if isinstance(value, dict):
        found = {value["reference"]} if isinstance(value.get("reference"), str) else set()
        for item in value.values():
            found |= _references(item)
        return found
    if isinstance(value, list):
        return set().union(*(_references(item) for item in value)) if value else set()
    return set()


def _rows(kind: Kind, patient) -> list:
    if kind.computed_search is not None:
        rows, _applied = kind.computed_search(patient, QueryDict())
        return list(rows[0 : len(rows)])
    return list(kind.readable(patient).order_by(*kind.order).distinct())


def fhir_base() -> str:
    return settings.BASE_URL + reverse("fhir:metadata").removesuffix("/metadata")


def patient_bundle(patient) -> dict:
    """The patient's record as a Bundle of type ``collection`` (nothing for another role)."""
    base = fhir_base()
    resources: list[dict] = []
    if patient.is_patient:
        for kind in RECORD:
            resources += [kind.resource(base, row) for row in _rows(kind, patient)]
    named = [int(reference.split("/")[1]) for reference in _references(resources) if DOCTOR.fullmatch(reference)]
    doctors = PRACTITIONER.readable(patient).filter(pk__in=named).order_by(*PRACTITIONER.order)
    resources += [PRACTITIONER.resource(base, doctor) for doctor in doctors]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": timezone.now().isoformat(timespec="seconds"),
        "entry": [
            {"fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}", "resource": resource}
            for resource in resources
        ],
    }
