import pytest

from telemed.care import services as care


@pytest.fixture
def linked(make_patient, make_doctor):
    """A doctor and a patient linked by the patient's consent."""
    patient, doctor = make_patient(email="anna@example.test"), make_doctor(email="doc@example.test")
    care.care_accept(actor=doctor, link=care.care_request(actor=patient, doctor=doctor))
    return doctor, patient
