"""Fixtures of the API tests: a registered mobile app (a public OAuth client), tokens for people,
and a consult between a patient and a doctor with a document, a message and a notification."""

import datetime
import secrets
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model, set_token_value

from conftest import log_in
from telemed.billing.models import StoragePlan
from telemed.billing.payments import storage_purchase_start
from telemed.care import services as care
from telemed.consults import info_requests as consult_info_requests
from telemed.consults import services as consults
from telemed.consults.tests.conftest import (  # noqa: F401 - fixtures shared with the consults tests
    consult_doctor,
    consult_files,
    make_secretary,
    welbox_document,
)
from telemed.dicom import services as dicom
from telemed.dicom.importing import cd_import_run
from telemed.dicom.models import Instance, Study
from telemed.dicom.tests.conftest import CdImporter, dicom_bytes
from telemed.messaging import services as messaging
from telemed.reminders import services as reminders
from telemed.reminders.recurrence import Recurrence
from telemed.visits import services as visit_services
from telemed.visits.models import Booking
from telemed.visits.tests.conftest import offer_visits

REDIRECT_URI = "it.telemed.app://oauth/callback"
ALL_SCOPES = " ".join(settings.API_SCOPES)
# What both Schemathesis runs are told about the operations whose rules span fields (see the file).
SCHEMATHESIS_CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.fixture
def mobile_app(db):
    """The phone app as staff register it: a public client (no secret), code flow with PKCE."""
    Application = get_application_model()
    return Application.objects.create(
        name="telemed per telefono",
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=REDIRECT_URI,
        skip_authorization=False,
        algorithm="",
    )


@pytest.fixture
def token_for(mobile_app):
    """An access token of ``user`` for the app, as the token endpoint would issue it."""

    def issue(user, scope: str = ALL_SCOPES) -> str:
        value = secrets.token_urlsafe(30)
        token = get_access_token_model()(
            user=user, application=mobile_app, scope=scope, expires=timezone.now() + datetime.timedelta(hours=1)
        )
        set_token_value(token, value)  # stored as the server stores it: its checksum only
        token.save()
        return value

    return issue


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.fixture
def consult_world(consult_doctor, make_patient):  # noqa: F811 - the imported fixture
    """A patient's consult with a doctor: a document sent with the request and a message of the
    patient's; the doctor has notifications about both. An Info request of the patient's waits in
    the doctor's inbox (the doctor has no secretary). The two are linked for care, and the doctor
    set the patient a daily reminder."""
    doctor, patient = consult_doctor(), make_patient()
    document = welbox_document(patient, name="esame.pdf")
    consult, _created = consults.consult_request(
        actor=patient,
        doctor=doctor.doctor_profile,
        draft=consults.ConsultDraft(
            kind="base",
            question="Ho dolore al petto da due giorni.",
            document_ids=(document.pk,),
            accepted_terms=True,
            idempotency_key=uuid.uuid4(),
        ),
    )
    consults.consult_message_send(actor=patient, consult=consult, text="Aggiungo che ho anche febbre.")
    info = consult_info_requests.info_request_send(
        actor=patient, doctor=doctor.doctor_profile, text="Serve l'impegnativa del medico di base?",
        idempotency_key=uuid.uuid4(),
    )  # fmt: skip
    # Linked for care: the doctor set the patient a therapy reminder.
    link = care.care_request(actor=patient, doctor=doctor)
    care.care_accept(actor=doctor, link=link)
    reminder = reminders.reminder_create(
        actor=doctor, patient=patient, text=reminders.ReminderText(kind="therapy", title="Cardioaspirina 100 mg"),
        recurrence=Recurrence(start=timezone.localdate(), times=(datetime.time(8, 0),), frequency="daily"),
    )  # fmt: skip
    # A video visit starting in five minutes (its room open; created directly, as the agenda's
    # notice would refuse it), and the patient's proposal of another date, waiting for the doctor.
    offer_visits(doctor)
    start = timezone.now() + datetime.timedelta(minutes=5)
    visit = Booking.objects.create(
        doctor=doctor, patient=patient, start=start, end=start + datetime.timedelta(minutes=30), duration_minutes=30,
        breakdown=visit_services.visit_quote(doctor=doctor).to_dict(), accepted_at=timezone.now(),
    )  # fmt: skip
    proposal = visit_services.proposal_create(
        actor=patient, doctor=doctor, start=start + datetime.timedelta(days=3), message="Posso il sabato?",
        accepted_total=visit_services.visit_quote(doctor=doctor).patient_total,
    )  # fmt: skip
    # The doctor wrote to the patient with a document of the Medbox, and lets the patient reply.
    report = welbox_document(doctor, name="referto-ecg.pdf")
    conversation = messaging.conversation_start_with_patient(
        actor=doctor, patient=patient, text="Le allego il referto dell'ECG.", subject="ECG",
        allow_replies=True, document_ids=[report.pk],
    )  # fmt: skip
    # A CT study imported into the patient's Welbox from a CD (the import page's protocol, then
    # the import task's own function: a worker here would close the connection Schemathesis'
    # in-process requests share), shared with the doctor.
    importer = CdImporter(log_in(Client(), patient))
    urls = importer.start().json()
    importer.send_file(urls["files_url"], "CD/A", dicom_bytes("CT_small.dcm"))
    importer.finish(urls["finish_url"])
    cd_import_run(import_id=urls["id"])
    study = Study.objects.get(box__owner=patient)
    dicom.study_share(actor=patient, study=study, doctor=doctor)
    # The patient buys more space for the Welbox: a payment request by bank transfer.
    plan = StoragePlan.objects.create(name="Plus", for_box="welbox", extra_gigabytes=5, price=Decimal("9.90"))
    payment = storage_purchase_start(actor=patient, plan=plan)
    return {
        "doctor": doctor, "patient": patient, "consult": consult, "document": document, "info": info,
        "reminder": reminder, "visit": visit, "proposal": proposal, "conversation": conversation,
        "study": study, "payment": payment,
    }  # fmt: skip


def object_ids(world: dict) -> dict:
    """The ids of the world's objects by the name of the OpenAPI document's path parameter: the
    access test and Schemathesis send them, so that every object URL is tried with real data."""
    return {
        "consult_id": world["consult"].pk,
        "attachment_id": world["consult"].attachments.get().pk,
        "document_id": world["document"].pk,
        "info_id": world["info"].pk,
        "reminder_id": world["reminder"].pk,
        "visit_id": world["visit"].pk,
        "proposal_id": world["proposal"].pk,
        "conversation_id": world["conversation"].pk,
        "message_attachment_id": world["conversation"].messages.get().attachments.get().pk,
        "study_id": world["study"].pk,
        "series_id": world["study"].series.get().pk,
        "instance_id": Instance.objects.get(series__study=world["study"]).pk,
        "frame": 0,
        "payment_id": world["payment"].pk,
    }
