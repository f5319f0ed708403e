"""Fixtures for signing: the platform CA, a doctor with an enrolled signing device, a controllable
clock for the codes, and the real CSC and TSA test servers."""

import io
import time

import pytest

from telemed.signatures import services, totp
from telemed.signatures.tests.servers import CscTestServer, TsaTestServer


class Clock:
    """The time the signing codes are checked at (django-otp reads ``time()``), moved by the test."""

    def __init__(self):
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr("django_otp.oath.time", clock)
    return clock


@pytest.fixture
def signing_ca(db):
    return services.certificate_authority_create(name="telemed Test CA")


def code_for(device, at: float) -> str:
    return totp.code_at(device, at)


@pytest.fixture
def signing_doctor(make_doctor, signing_ca, clock):
    """A doctor whose signing device is enrolled (the enrolment used the current code)."""

    def make(**overrides):
        doctor = make_doctor(**overrides)
        device = services.signing_device_enrol_start(actor=doctor)
        services.signing_device_confirm(actor=doctor, code=code_for(device, clock.now))
        device.refresh_from_db()
        doctor.signing_device = device
        return doctor

    return make


@pytest.fixture
def next_code(clock):
    """A fresh code for the doctor's device: moves the clock one step on, then reads the code."""

    def code(doctor) -> str:
        clock.advance(totp.STEP_SECONDS)
        return code_for(doctor.signing_device, clock.now)

    return code


def sample_pdf(text: str = "Referto di prova") -> io.BytesIO:
    import weasyprint

    html = f"<html><body><h1>{text}</h1><p>Paziente: Maria Bianchi</p></body></html>"
    return io.BytesIO(weasyprint.HTML(string=html).write_pdf(pdf_variant="pdf/a-3b"))


@pytest.fixture
def csc_server():
    with CscTestServer() as server:
        yield server


@pytest.fixture
def tsa_server():
    with TsaTestServer() as server:
        yield server


@pytest.fixture(autouse=True)
def english_pages(english_client):
    """The page texts these tests read are the English msgids."""
