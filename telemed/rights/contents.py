"""What an account's data export holds (GDPR arts. 15 and 20), gathered through each app's own
scoped selectors, and where each item goes in the ZIP.

A patient's export:
- ``document``: every Welbox document as stored (signed reports and prescriptions delivered to
  the Welbox are among them, as the signed PDFs), under ``documents/``;
- ``study``: every radiology study of the Welbox, its DICOM files as imported, under
  ``studies/<study>/``;
- ``consult``: each consult with its question and thread (JSON), under ``consults/``;
- ``conversation``: each conversation with its messages (JSON), under ``messages/``;
- ``visit``: each booked visit (JSON), under ``visits/``;
- ``agenda``: the health agenda as one iCalendar file, ``agenda.ics``;
- ``invoice``: each invoice or credit note as its PDF, under ``invoices/``;
- ``payment``: each payment request and its state (JSON), under ``payments/``;
- ``fhir``: the same record in the HL7 FHIR R4 standard, for another system or app to read:
  the Bundle of ``telemed.fhir.bundle.patient_bundle`` (type ``collection``, application/fhir+json),
  ``fhir/patient-bundle.json``.

A doctor's export: the Medbox documents and studies, the invoices issued, the payment requests
and the payouts received (JSON, with their statements), the visits and consults they took.

Each item is listed in ``index.json`` with its type, id, date, title and path in the ZIP (a file
in a standard format also with its media type and what it is).
"""

import datetime
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models.fields.files import FieldFile
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from telemed.accounts.models import User
from telemed.billing import selectors as billing
from telemed.boxes import selectors as boxes
from telemed.consults import selectors as consults
from telemed.dicom import selectors as dicom
from telemed.fhir.bundle import patient_bundle
from telemed.messaging import selectors as messaging
from telemed.reminders import calendar_feed
from telemed.reminders import selectors as reminders
from telemed.visits import selectors as visits


@dataclass(frozen=True)
class Item:
    type: str
    id: str
    date: datetime.date | datetime.datetime | None
    title: str
    path: str
    # The bytes: a stored file, content made here (JSON, iCalendar), or (a study) the stored
    # files of a folder, each with its path.
    file: FieldFile | None = None
    content: bytes | None = None
    parts: tuple[tuple[str, FieldFile], ...] = ()
    # For a file in a standard format: its media type and a sentence saying what it is.
    media_type: str = ""
    description: str = ""

    def index_entry(self) -> dict:
        entry = {"type": self.type, "id": self.id, "date": self.date.isoformat() if self.date else None,
                 "title": self.title, "path": self.path}  # fmt: skip
        if self.media_type:
            entry |= {"media_type": self.media_type, "description": self.description}
        return entry


def safe_name(name: str) -> str:
    """A file name that is one safe path part inside the ZIP (no folders, no control characters)."""
    cleaned = re.sub(r"[\x00-\x1f/\\:*?\"<>|]+", "_", name).strip(" .")
    return cleaned[:120] or "file"


def _json(data) -> bytes:
    return json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2).encode()


def _documents(user: User) -> Iterator[Item]:
    for document in boxes.document_list_for_user(user).order_by("created_at", "pk"):
        yield Item("document", str(document.pk), document.created_at, document.name,
                   f"documents/{document.pk}-{safe_name(document.name)}", file=document.file)  # fmt: skip


def _studies(user: User) -> Iterator[Item]:
    for study in dicom.studies_owned_by(user).order_by("created_at", "pk"):
        folder = f"studies/{study.pk}/"
        parts = tuple(
            (f"{folder}{series.pk}/{instance.pk}.dcm", instance.file)
            for series in dicom.series_list_for_study(study)
            for instance in dicom.instances_of_series(series)
        )
        yield Item("study", str(study.pk), study.study_date or study.created_at, str(study), folder, parts=parts)


def _consults(user: User, consult_list) -> Iterator[Item]:
    for consult in consult_list:
        thread = [{"from": m.sender.get_full_name(), "at": m.created_at, "text": m.text}
                  for m in consults.consult_messages(consult, viewer=user)]  # fmt: skip
        data = {"doctor": consult.doctor.user.display_name, "patient": consult.patient.get_full_name(),
                "kind": consult.service_kind, "status": consult.status, "question": consult.question,
                "accepted_at": consult.accepted_at, "answered_at": consult.answered_at,
                "price": consult.patient_total, "messages": thread}  # fmt: skip
        yield Item("consult", str(consult.pk), consult.accepted_at, consult.question[:80],
                   f"consults/{consult.pk}.json", content=_json(data))  # fmt: skip


def _conversations(user: User) -> Iterator[Item]:
    for conversation in messaging.conversations_for(user):
        texts = [{"from": m.sender.get_full_name(), "at": m.created_at, "text": m.text,
                  "attachments": [a.name for a in m.attachments.all()]}
                 for m in messaging.messages_page(conversation, viewer=user, limit=100_000)]  # fmt: skip
        yield Item("conversation", str(conversation.pk), conversation.created_at, conversation.subject or "—",
                   f"messages/{conversation.pk}.json", content=_json({"subject": conversation.subject, "messages": texts}))  # fmt: skip


def _visits(user: User) -> Iterator[Item]:
    for booking in visits.bookings_of(user).order_by("start", "pk"):
        data = {"doctor": booking.doctor.display_name, "patient": booking.patient.get_full_name(),
                "start": booking.start, "end": booking.end, "status": booking.status}  # fmt: skip
        yield Item("visit", str(booking.pk), booking.start, booking.doctor.display_name,
                   f"visits/{booking.pk}.json", content=_json(data))  # fmt: skip


def _agenda(user: User) -> Iterator[Item]:
    series = list(reminders.reminders_in_agenda(user))
    if series:
        yield Item("agenda", str(user.pk), None, "agenda", "agenda.ics",
                   content=calendar_feed.feed(series, details=True, now=timezone.now()))  # fmt: skip


FHIR_BUNDLE_PATH = "fhir/patient-bundle.json"


def _fhir_record(user: User) -> Iterator[Item]:
    # In the patient's language: the Bundle's few texts (a visit's service, a consult's topic) and the index's.
    with override(user.language or "it"):
        bundle = patient_bundle(user)
        title = _("Your health record in the HL7 FHIR R4 format")
        description = _(
            "Your details, care links, visits, documents, radiology studies and messages, with the doctors they "
            "name, as one HL7 FHIR R4 Bundle (type collection, JSON): the international standard for exchanging "
            "health data, which health record systems and apps can read."
        )
    yield Item("fhir", str(user.pk), timezone.now(), title, FHIR_BUNDLE_PATH, content=_json(bundle),
               media_type="application/fhir+json", description=description)  # fmt: skip


def _invoices(invoice_list) -> Iterator[Item]:
    for invoice in invoice_list:
        if invoice.pdf:
            yield Item("invoice", str(invoice.pk), invoice.issued_at, f"{invoice.year}/{invoice.number}",
                       f"invoices/{invoice.year}-{invoice.number}-{invoice.pk}.pdf", file=invoice.pdf)  # fmt: skip


def _payments(request_list) -> Iterator[Item]:
    for request in request_list:
        data = {"reference": request.reference, "description": request.description, "status": request.status,
                "created_at": request.created_at, "paid_at": request.paid_at}  # fmt: skip
        yield Item("payment", str(request.pk), request.created_at, request.reference,
                   f"payments/{request.pk}.json", content=_json(data))  # fmt: skip


def _payouts(doctor_profile) -> Iterator[Item]:
    for line in billing.payout_lines_of_doctor(doctor_profile):
        statement = [
            {"operation": e.operation, "amount": e.amount, "at": e.created_at} for e in billing.payout_statement(line)
        ]
        data = {
            "name": line.name,
            "iban": line.iban,
            "execution_date": line.batch.execution_date,
            "statement": statement,
        }
        yield Item(
            "payout",
            str(line.pk),
            line.batch.created_at,
            line.end_to_end_id,
            f"payouts/{line.pk}.json",
            content=_json(data),
        )


def items_of(user: User) -> Iterator[Item]:
    """Every item of the account's export, in the order written."""
    yield from _documents(user)
    yield from _studies(user)
    if user.is_patient:
        yield from _consults(user, consults.consult_list_for_user(user))
        yield from _conversations(user)
        yield from _visits(user)
        yield from _agenda(user)
        yield from _invoices(billing.invoices_of_patient(user))
        yield from _payments(billing.payment_requests_of_payer(user))
        yield from _fhir_record(user)
    elif user.is_doctor:
        profile = user.doctor_profile
        yield from _consults(user, consults.consult_queue_for_doctor(user, include_closed=True))
        yield from _conversations(user)
        yield from _visits(user)
        yield from _invoices(billing.invoices_of_doctor(profile))
        yield from _payments(billing.payment_requests_of_doctor(profile))
        yield from _payouts(profile)
