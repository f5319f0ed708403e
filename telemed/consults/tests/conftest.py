"""Fixtures of the consults tests: a doctor with consult tariffs, a secretary, studies in a Welbox."""

import datetime
import io
import itertools
from decimal import Decimal

import pytest

from conftest import PASSWORD, log_in
from telemed.accounts import consents
from telemed.accounts.models import Role, SecretaryAssignment, SecretaryProfile, User
from telemed.billing import tariffs
from telemed.billing.models import ServiceKind
from telemed.boxes import services as boxes
from telemed.boxes import uploads as box_uploads

_n = itertools.count(1)


@pytest.fixture(autouse=True)
def consult_files(files_in_tmp):
    """Each test stores its files under its own temporary folder."""
    return files_in_tmp


def offer_consults(doctor_user, *, base="50.00", imaging="90.00", priority="120.00", info=True, unit="working_days"):
    """The doctor's tariffs: base and imaging in 2 working days (or hours), priority in 24 hours."""
    doctor = doctor_user.doctor_profile
    if info:
        tariffs.tariff_set(actor=doctor_user, doctor=doctor, kind=ServiceKind.INFO, fee=Decimal("0"))
    for kind, fee, value, response_unit in (
        (ServiceKind.BASE, base, 2, unit),
        (ServiceKind.IMAGING, imaging, 3, unit),
        (ServiceKind.PRIORITY, priority, 24, "hours"),
    ):
        if fee is not None:
            tariffs.tariff_set(
                actor=doctor_user,
                doctor=doctor,
                kind=kind,
                fee=Decimal(fee),
                response_value=value,
                response_unit=response_unit,
            )
    return doctor


@pytest.fixture
def consult_doctor(make_doctor):
    def make(**tariffs):
        user = make_doctor(first_name="Luca", last_name=f"Verdi{next(_n)}")
        offer_consults(user, **tariffs)
        return user

    return make


@pytest.fixture
def make_secretary(db):
    def make(*doctors):
        user = User.objects.create_user(
            f"segreteria{next(_n)}@example.test", PASSWORD, first_name="Sara", last_name="Neri", role=Role.SECRETARY
        )
        consents.consents_give(user=user, kinds=consents.required_kinds(user))  # as registration gives them
        profile = SecretaryProfile.objects.create(user=user)
        for doctor in doctors:
            SecretaryAssignment.objects.create(secretary=profile, doctor=doctor.doctor_profile)
        return user

    return make


def pdf_bytes(text: str = "Esame del sangue") -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
        b"xref\n0 4\n0000000000 65535 f \n0000000009 00000 n \n0000000052 00000 n \n0000000101 00000 n \n"
        b"trailer<</Size 4/Root 1 0 R>>\nstartxref\n166\n%%EOF\n"
    )


def welbox_document(patient, name="esame.pdf", data: bytes | None = None):
    """A document stored in the patient's Welbox through the boxes upload, as the patient would."""
    data = data or pdf_bytes()
    upload = box_uploads.upload_start(actor=patient, name=name, size=len(data))
    box_uploads.upload_append(actor=patient, upload=upload, offset=0, stream=io.BytesIO(data), length=len(data))
    upload.refresh_from_db()
    return upload.document


def welbox_study(patient, description="TC torace"):
    """A study row in the patient's Welbox (the images do not matter for these tests)."""
    import pydicom.uid

    from telemed.dicom.models import DicomPatient, Study

    box = boxes.box_for(patient)
    dicom_patient, _ = DicomPatient.objects.get_or_create(box=box, patient_id="P1", name="ROSSI^MARIO")
    return Study.objects.create(
        box=box, dicom_patient=dicom_patient, study_instance_uid=pydicom.uid.generate_uid(),
        study_date=datetime.date(2026, 10, 1), description=description, modalities="CT",
    )  # fmt: skip


def login(client, user):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"  # the page texts the tests read are the English msgids
    return log_in(client, user)


from telemed.signatures.tests.conftest import (  # noqa: E402,F401 - fixtures shared with the signatures tests
    clock,
    next_code,
    signing_ca,
    signing_doctor,
)


@pytest.fixture
def frozen(monkeypatch):
    """Set the platform's clock (django.utils.timezone.now) to an aware moment."""

    def at(moment: datetime.datetime) -> datetime.datetime:
        monkeypatch.setattr("django.utils.timezone.now", lambda: moment.astimezone(datetime.UTC))
        return moment

    return at
