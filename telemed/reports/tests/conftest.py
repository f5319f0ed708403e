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
def linked_pair(signing_doctor, make_patient):
    def make():
        doctor = signing_doctor()
        patient = make_patient(first_name="Maria", last_name="Bianchi")
        link(doctor, patient)
        return doctor, patient

    return make


def login(client, user):
    """Log ``user`` in; a doctor with the login's second factor already passed."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client.force_login(user)
    if user.is_doctor:
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
            user=user, name="login", confirmed=True
        )
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client


@pytest.fixture(autouse=True)
def english_pages(english_client):
    """The page texts these tests read are the English msgids."""
