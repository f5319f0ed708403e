import pytest

from telemed.care import services as care
from telemed.signatures.tests.conftest import (  # noqa: F401 - fixtures shared with the signatures tests
    clock,
    csc_server,
    next_code,
    signing_ca,
    signing_doctor,
)


def link(doctor, patient) -> None:
    """The patient asks, the doctor accepts: an active care link, made by care's own services."""
    request = care.care_request(actor=patient, doctor=doctor)
    care.care_accept(actor=doctor, link=request)


@pytest.fixture
def linked_pair(signing_doctor, make_patient):  # noqa: F811 - the fixture imported above
    def make():
        doctor = signing_doctor()
        patient = make_patient(first_name="Maria", last_name="Bianchi")
        link(doctor, patient)
        return doctor, patient

    return make


@pytest.fixture(autouse=True)
def english_pages(english_client):
    """The page texts these tests read are the English msgids."""
