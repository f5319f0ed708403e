"""What each FHIR resource type is on this platform: which rows a person may see (the pages' own
selectors), how one row reads as the resource and its search parameters. What reading one over
the endpoint records in the patient's access log is the endpoint's (``telemed.api.fhir``).

Ids are the platform's own: a Patient or a Practitioner is the person's account, a
DocumentReference and its Binary are one Welbox or Medbox document, a Consent is a care link, an
Appointment a video visit, an ImagingStudy a DICOM study, an Organization a health structure, a
PractitionerRole and a Schedule a doctor's place in the directory and agenda (the doctor's account
id), a Slot a free slot (``<doctor>-<UTC start>``) and a Communication a message of a consult
thread (``consult-<id>``) or of a conversation (``message-<id>``)."""

import base64
import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet, Value
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from telemed.accounts.models import Sex, Structure
from telemed.accounts.selectors import public_doctors
from telemed.boxes import selectors as boxes
from telemed.boxes.models import BoxKind, Category, Document
from telemed.boxes.services import document_patient
from telemed.care.models import CareLink, LinkStatus
from telemed.care.selectors import link_get_for_user, linked_patients, links_of
from telemed.consults import selectors as consults
from telemed.consults.models import Consult, ConsultMessage
from telemed.dicom import selectors as dicom
from telemed.dicom.models import Study
from telemed.dicom.services import study_patient
from telemed.messaging.models import ConversationKind, Message, Participant
from telemed.messaging.selectors import conversations_for
from telemed.visits import slots as visit_slots
from telemed.visits.models import Agenda, Booking, BookingStatus
from telemed.visits.selectors import booking_get_for_user, bookings_of, visits_bookable
from telemed.visits.services import visit_length

CODICE_FISCALE = "http://hl7.it/sid/codiceFiscale"
PARTITA_IVA = "http://hl7.it/sid/partitaIva"
DICOM_UID = "urn:dicom:uid"
DICOM_MODALITY = "http://dicom.nema.org/resources/ontology/DCM"
# The platform's own codes (no standard code system names a Welbox category).
DOCUMENT_CATEGORY = "urn:telemed:fhir:document-category"

User = get_user_model()


class BadValue(ValueError):
    """A search parameter's value that cannot be read (a 400 naming it)."""


class MissingParameter(ValueError):
    """A search that cannot be made without a parameter it was not given (a 400 saying which)."""


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # the FHIR search parameter type, for the CapabilityStatement
    documentation: str
    # (rows, the values of one occurrence, OR-ed) → rows
    apply: Callable[[QuerySet, list[str]], QuerySet]


@dataclass(frozen=True)
class Kind:
    name: str
    readable: Callable  # person → the rows they may see
    # (the server's FHIR base URL, row) → the resource
    resource: Callable[[str, object], dict]
    order: tuple[str, ...]
    params: tuple[Param, ...] = ()
    # person, id → the row, or Http404: the pages' own selector where there is one
    get: Callable | None = None
    search: bool = True
    # A type whose rows are not one table's (free slots, two kinds of message): person, id → the
    # row or None, and person, the query → (the rows in order, the parameters applied).
    computed_one: Callable | None = None
    computed_search: Callable | None = None

    def one(self, user, object_id: str):
        if self.computed_one is not None:
            return self.computed_one(user, object_id)
        if not object_id.isascii() or not object_id.isdigit() or len(object_id) > 18:
            return None
        if self.get is not None:
            try:
                return self.get(user, int(object_id))
            except Http404:
                return None
        return self.readable(user).filter(pk=int(object_id)).first()


# --- reading parameter values ------------------------------------------------------------------


def _reference_id(value: str, *types: str) -> int:
    """``123``, ``Patient/123`` or an absolute URL ending in it → 123; the type, when given, one
    of ``types``."""
    *_before, type_name, object_id = ["", *value.strip().rsplit("/", 2)]
    if not re.fullmatch(r"[1-9][0-9]{0,17}", object_id) or (type_name and type_name not in types):
        raise BadValue(value)
    return int(object_id)


def _ids(values: list[str], *types: str) -> list[int]:
    return [_reference_id(value, *types) for value in values]


def _id_param() -> Param:
    return Param("_id", "token", "The resource's id.", lambda rows, values: rows.filter(pk__in=_ids(values)))


def _reference_param(name: str, description: str, field: str, resource_type: str) -> Param:
    """A reference search parameter (``patient=Patient/7`` or ``patient=7``) on ``field``."""
    return Param(
        name,
        "reference",
        description,
        lambda rows, values: rows.filter(**{f"{field}__in": _ids(values, resource_type)}),
    )


def _status_param(codes: dict, documentation: str) -> Param:
    """``status`` in FHIR's codes, read back into the platform's statuses that map to them."""

    def apply(rows: QuerySet, values: list[str]) -> QuerySet:
        return rows.filter(status__in=[status for status, code in codes.items() if code in values])

    return Param("status", "token", documentation, apply)


def _token_codes(values: list[str], system: str) -> list[str]:
    """``code`` or ``system|code`` (only this system) → codes."""
    codes = []
    for value in values:
        given_system, bar, code = value.rpartition("|")
        if bar and given_system and given_system != system:
            continue
        codes.append(code if bar else value)
    return codes


def _url(base: str, type_name: str, object_id) -> str:
    return f"{base}/{type_name}/{object_id}"


def _instant(value) -> str:
    return value.isoformat(timespec="seconds")


def _person_reference(user) -> dict:
    kind = "Practitioner" if user.is_doctor else "Patient"
    return {"reference": f"{kind}/{user.pk}", "display": user.display_name}


# --- Patient -----------------------------------------------------------------------------------

GENDER = {Sex.FEMALE: "female", Sex.MALE: "male"}


def patients_readable(user) -> QuerySet:
    """A patient reads themself; a doctor the patients linked to them (the care link the patient
    consented to), as on the doctor's patients page."""
    if user.is_patient:
        rows = User.objects.filter(pk=user.pk)
    elif user.is_doctor:
        rows = linked_patients(user)
    else:
        return User.objects.none()
    return rows.filter(patient_profile__isnull=False).select_related("patient_profile")


def patient_resource(base: str, user) -> dict:
    profile = user.patient_profile
    return {
        "resourceType": "Patient",
        "id": str(user.pk),
        "identifier": [{"use": "official", "system": CODICE_FISCALE, "value": profile.codice_fiscale}],
        "active": user.is_active,
        "name": [{"use": "official", "family": user.last_name, "given": [user.first_name]}],
        "gender": GENDER.get(profile.sex, "unknown"),
        "birthDate": profile.birth_date.isoformat(),
    }


def _patient_identifier(rows: QuerySet, values: list[str]) -> QuerySet:
    codes = [code.upper() for code in _token_codes(values, CODICE_FISCALE)]
    return rows.filter(patient_profile__codice_fiscale__in=codes)


def _name_contains(prefix: str = "") -> Callable[[QuerySet, list[str]], QuerySet]:
    def apply(rows: QuerySet, values: list[str]) -> QuerySet:
        matched = Q()
        for value in values:
            for word in value.split():
                matched |= Q(**{f"{prefix}first_name__icontains": word}) | Q(**{f"{prefix}last_name__icontains": word})
        return rows.filter(matched) if matched else rows

    return apply


PATIENT = Kind(
    name="Patient",
    readable=patients_readable,
    resource=patient_resource,
    order=("last_name", "first_name", "pk"),
    params=(
        _id_param(),
        Param("identifier", "token", "The codice fiscale (http://hl7.it/sid/codiceFiscale).", _patient_identifier),
        Param("name", "string", "A word of the given or family name.", _name_contains()),
    ),
)


# --- Practitioner, PractitionerRole, Organization: the public directory -------------------------


def practitioners_readable(user) -> QuerySet:
    """Every doctor of the directory: it is public."""
    return (
        User.objects.filter(doctor_profile__in=public_doctors())
        .select_related("doctor_profile__structure")
        .prefetch_related("doctor_profile__specialties")
    )


def practitioner_resource(base: str, user) -> dict:
    profile = user.doctor_profile
    return {
        "resourceType": "Practitioner",
        "id": str(user.pk),
        "active": True,
        "name": [
            {
                "use": "official",
                "family": user.last_name,
                "given": [user.first_name],
                "prefix": [profile.get_title_display()],
            }
        ],
        "address": [
            {
                "use": "work",
                "city": profile.practice_city,
                "postalCode": profile.practice_postcode,
                "state": profile.practice_province,
                "country": "IT",
            }
        ],
        "qualification": [{"code": {"text": specialty.name}} for specialty in profile.specialties.all()],
    }


PRACTITIONER = Kind(
    name="Practitioner",
    readable=practitioners_readable,
    resource=practitioner_resource,
    order=("last_name", "first_name", "pk"),
    params=(_id_param(), Param("name", "string", "A word of the given or family name.", _name_contains())),
)


def practitioner_role_resource(base: str, user) -> dict:
    profile = user.doctor_profile
    role = {
        "resourceType": "PractitionerRole",
        "id": str(user.pk),
        "active": True,
        "practitioner": _person_reference(user),
        "specialty": [{"text": specialty.name} for specialty in profile.specialties.all()],
    }
    if profile.structure_id:
        role["organization"] = {"reference": f"Organization/{profile.structure_id}", "display": profile.structure.name}
    return role


PRACTITIONER_ROLE = Kind(
    name="PractitionerRole",
    readable=practitioners_readable,
    resource=practitioner_role_resource,
    order=("last_name", "first_name", "pk"),
    params=(
        _id_param(),
        _reference_param("practitioner", "The doctor (Practitioner).", "pk", "Practitioner"),
        _reference_param(
            "organization", "The health structure (Organization).", "doctor_profile__structure_id", "Organization"
        ),
    ),
)


def organization_resource(base: str, structure: Structure) -> dict:
    return {
        "resourceType": "Organization",
        "id": str(structure.pk),
        "identifier": [{"system": PARTITA_IVA, "value": structure.partita_iva}],
        "active": True,
        "name": structure.name,
        "address": [
            {"line": [structure.address], "city": structure.city, "state": structure.province, "country": "IT"}
        ],
    }


ORGANIZATION = Kind(
    name="Organization",
    readable=lambda user: Structure.objects.all(),
    resource=organization_resource,
    order=("name", "pk"),
    params=(
        _id_param(),
        Param(
            "name",
            "string",
            "A part of the structure's name.",
            lambda rows, values: rows.filter(
                Q.create([("name__icontains", value) for value in values], connector=Q.OR)
            ),
        ),
    ),
)


# --- DocumentReference and Binary: the Welbox and Medbox documents ------------------------------


def documents_readable(user) -> QuerySet:
    """The person's own box, and (a doctor) what patients share with them: the box pages' lists."""
    own = boxes.document_list_for_user(user)
    shared = boxes.documents_shared_with(user)
    return Document.objects.filter(Q(pk__in=own.values("pk")) | Q(pk__in=shared.values("pk"))).select_related(
        "box__owner", "folder__patient", "uploaded_by"
    )


def _document_patient_filter(rows: QuerySet, values: list[str]) -> QuerySet:
    ids = _ids(values, "Patient")
    return rows.filter(
        Q(box__kind=BoxKind.WELBOX, box__owner_id__in=ids) | Q(box__kind=BoxKind.MEDBOX, folder__patient_id__in=ids)
    )


def _category_label(code: str) -> str:
    return str(Category(code).label) if code in Category.values else code


def document_reference_resource(base: str, document: Document) -> dict:
    resource = {
        "resourceType": "DocumentReference",
        "id": str(document.pk),
        "status": "current",
        "category": [
            {
                "coding": [
                    {
                        "system": DOCUMENT_CATEGORY,
                        "code": document.category,
                        "display": _category_label(document.category),
                    }
                ]
            }
        ],
        "date": _instant(document.created_at),
        "description": document.name,
        "content": [
            {
                "attachment": {
                    "contentType": document.mime,
                    "url": _url(base, "Binary", document.pk),
                    "size": document.size,
                    "title": document.name,
                    "creation": _instant(document.created_at),
                }
            }
        ],
    }
    patient = document_patient(document)
    if patient is not None:
        resource["subject"] = _person_reference(patient)
    if document.uploaded_by is not None:
        resource["author"] = [_person_reference(document.uploaded_by)]
    return resource


DOCUMENT_REFERENCE = Kind(
    name="DocumentReference",
    readable=documents_readable,
    get=boxes.document_get_for_user,
    resource=document_reference_resource,
    order=("-created_at", "-pk"),
    params=(
        _id_param(),
        Param("patient", "reference", "Whose document it is (Patient).", _document_patient_filter),
        Param(
            "category",
            "token",
            f"The box category ({DOCUMENT_CATEGORY}): " + ", ".join(Category.values) + ".",
            lambda rows, values: rows.filter(category__in=_token_codes(values, DOCUMENT_CATEGORY)),
        ),
    ),
)

BINARY = Kind(
    name="Binary",
    readable=documents_readable,
    get=boxes.document_get_for_user,
    resource=lambda base, document: {},  # the document's bytes: the endpoint answers it
    order=("-created_at", "-pk"),
    search=False,
)


# --- Consent: the care links --------------------------------------------------------------------

CONSENT_STATUS = {
    LinkStatus.REQUESTED: "proposed",
    LinkStatus.INVITED: "proposed",
    LinkStatus.ACTIVE: "active",
    LinkStatus.DECLINED: "rejected",
    LinkStatus.REVOKED: "inactive",
}


def consent_resource(base: str, link: CareLink) -> dict:
    resource = {
        "resourceType": "Consent",
        "id": str(link.pk),
        "status": CONSENT_STATUS[link.status],
        "scope": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}]}],
        "dateTime": _instant(link.consented_at or link.created_at),
        "policyRule": {"text": _("Care link between a patient and a doctor")},
        "provision": {
            "type": "permit",
            "actor": [
                {
                    "role": {
                        "coding": [
                            {"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PRCP"}
                        ]
                    },
                    "reference": _person_reference(link.doctor),
                }
            ],
        },
    }
    if link.patient_id:
        resource["patient"] = _person_reference(link.patient)
        resource["performer"] = [_person_reference(link.patient)]
    if link.activated_at:
        resource["provision"]["period"] = {"start": _instant(link.activated_at)}
        if link.ended_at:
            resource["provision"]["period"]["end"] = _instant(link.ended_at)
    if link.consent_text:
        # The exact wording the patient agreed to.
        resource["sourceAttachment"] = {
            "contentType": "text/plain; charset=utf-8",
            "data": base64.b64encode(link.consent_text.encode()).decode(),
        }
    return resource


CONSENT = Kind(
    name="Consent",
    readable=links_of,
    get=link_get_for_user,
    resource=consent_resource,
    order=("-created_at", "-pk"),
    params=(
        _id_param(),
        _reference_param("patient", "The patient (Patient).", "patient_id", "Patient"),
        _status_param(CONSENT_STATUS, "proposed, active, rejected or inactive."),
    ),
)


# --- Appointment: the video visits -------------------------------------------------------------

APPOINTMENT_STATUS = {
    BookingStatus.BOOKED: "booked",
    BookingStatus.IN_PROGRESS: "arrived",
    BookingStatus.ENDED: "fulfilled",
    BookingStatus.DELIVERED: "fulfilled",
    BookingStatus.CANCELLED: "cancelled",
}


def appointment_resource(base: str, booking: Booking) -> dict:
    return {
        "resourceType": "Appointment",
        "id": str(booking.pk),
        "status": APPOINTMENT_STATUS[booking.status],
        "serviceType": [{"text": _("Video visit")}],
        "start": _instant(booking.start),
        "end": _instant(booking.end),
        "minutesDuration": booking.duration_minutes,
        "created": _instant(booking.created_at),
        "participant": [
            {"actor": _person_reference(booking.patient), "required": "required", "status": "accepted"},
            {"actor": _person_reference(booking.doctor), "required": "required", "status": "accepted"},
        ],
    }


APPOINTMENT = Kind(
    name="Appointment",
    readable=bookings_of,
    get=booking_get_for_user,
    resource=appointment_resource,
    order=("-start", "-pk"),
    params=(
        _id_param(),
        _reference_param("patient", "The patient (Patient).", "patient_id", "Patient"),
        _reference_param("practitioner", "The doctor (Practitioner).", "doctor_id", "Practitioner"),
        _status_param(APPOINTMENT_STATUS, "booked, arrived, fulfilled or cancelled."),
    ),
)


# --- ImagingStudy: the DICOM studies ------------------------------------------------------------


def _modality(code: str) -> dict:
    return {"system": DICOM_MODALITY, "code": code or "OT"}


def imaging_study_resource(base: str, study: Study) -> dict:
    patient = study_patient(study)
    # Sorted here, so that a search's prefetch serves every study of the page in one query.
    series = sorted(study.series.all(), key=lambda item: (item.number is None, item.number or 0, item.pk))
    resource = {
        "resourceType": "ImagingStudy",
        "id": str(study.pk),
        "identifier": [{"system": DICOM_UID, "value": f"urn:oid:{study.study_instance_uid}"}],
        "status": "available",
        "modality": [_modality(code) for code in study.modalities.split("\\") if code.strip()],
        # The patient the study belongs to; a Medbox study outside a patient's folder names the
        # person on the CD, as the study page does.
        "subject": _person_reference(patient) if patient is not None else {"display": study.dicom_patient.name or "?"},
        "numberOfSeries": study.series_count,
        "numberOfInstances": study.instance_count,
        "series": [
            {
                "uid": item.series_instance_uid,
                "modality": _modality(item.modality),
                "numberOfInstances": item.instance_count,
                **({"number": item.number} if item.number is not None and item.number >= 0 else {}),
                **({"description": item.description} if item.description else {}),
            }
            for item in series
        ],
    }
    if study.study_date:
        resource["started"] = study.study_date.isoformat()
    if study.description:
        resource["description"] = study.description
    return resource


def _study_patient_filter(rows: QuerySet, values: list[str]) -> QuerySet:
    ids = _ids(values, "Patient")
    return rows.filter(
        Q(box__kind=BoxKind.WELBOX, box__owner_id__in=ids) | Q(box__kind=BoxKind.MEDBOX, folder__patient_id__in=ids)
    )


IMAGING_STUDY = Kind(
    name="ImagingStudy",
    readable=lambda user: dicom.study_list_for_user(user).prefetch_related("series"),
    get=dicom.study_get_for_user,
    resource=imaging_study_resource,
    order=("-created_at", "-pk"),
    params=(_id_param(), Param("patient", "reference", "Whose study it is (Patient).", _study_patient_filter)),
)


# --- Schedule and Slot: a doctor's agenda and its free slots -----------------------------------


def _bookable_doctor(user_id: int):
    """A doctor of the directory a patient can book now, as the booking page offers them."""
    doctor = practitioners_readable(None).filter(pk=user_id).first()
    return doctor if doctor is not None and visits_bookable(doctor) else None


def schedule_one(user, object_id: str):
    if not object_id.isascii() or not object_id.isdigit() or len(object_id) > 18:
        return None
    doctor = _bookable_doctor(int(object_id))
    if doctor is None:
        return None
    return Agenda.objects.filter(doctor=doctor).select_related("doctor").first()


def schedule_resource(base: str, agenda: Agenda) -> dict:
    return {
        "resourceType": "Schedule",
        "id": str(agenda.doctor_id),
        "active": True,
        "serviceType": [{"text": _("Video visit")}],
        "actor": [_person_reference(agenda.doctor)],
        "planningHorizon": {
            "start": _instant(visit_slots.bookable_window(agenda, timezone.now())[0]),
            "end": _instant(visit_slots.bookable_window(agenda, timezone.now())[1]),
        },
    }


SCHEDULE = Kind(
    name="Schedule",
    readable=lambda user: Agenda.objects.none(),
    computed_one=schedule_one,
    resource=schedule_resource,
    order=(),
    search=False,
)


@dataclass(frozen=True)
class FreeSlot:
    doctor_id: int
    start: datetime.datetime
    end: datetime.datetime

    @property
    def pk(self) -> str:
        return f"{self.doctor_id}-{self.start.astimezone(datetime.UTC):%Y%m%d%H%M}"


def _free_slots(doctor) -> list[FreeSlot]:
    agenda = Agenda.objects.filter(doctor=doctor).first()
    if agenda is None:
        return []
    return [
        FreeSlot(doctor.pk, slot.start, slot.end)
        for slot in visit_slots.free_slots(agenda, minutes=visit_length(doctor))
    ]


def slot_one(user, object_id: str):
    """``<doctor>-<UTC start as YYYYMMDDHHMM>``: the slot, while it is free."""
    match = re.fullmatch(r"([1-9][0-9]{0,17})-([0-9]{12})", object_id)
    if match is None:
        return None
    try:
        start = datetime.datetime.strptime(match.group(2), "%Y%m%d%H%M").replace(tzinfo=datetime.UTC)
    except ValueError:
        return None
    doctor = _bookable_doctor(int(match.group(1)))
    if doctor is None:
        return None
    agenda = Agenda.objects.filter(doctor=doctor).first()
    minutes = visit_length(doctor)
    if agenda is None or not visit_slots.is_free_slot(agenda, start, minutes=minutes):
        return None
    return FreeSlot(doctor.pk, start, start + datetime.timedelta(minutes=minutes))


def _start_bound(value: str) -> Callable[[datetime.date], bool]:
    """``ge2026-12-01`` (or gt, le, lt, eq, none): a test of a slot's day (Rome)."""
    match = re.fullmatch(r"(ge|gt|le|lt|eq)?([0-9]{4}-[0-9]{2}-[0-9]{2})", value.strip())
    if match is None:
        raise BadValue(value)
    try:
        day = datetime.date.fromisoformat(match.group(2))
    except ValueError:
        raise BadValue(value) from None
    tests = {
        "ge": lambda d: d >= day, "gt": lambda d: d > day, "le": lambda d: d <= day, "lt": lambda d: d < day,
        "eq": lambda d: d == day, None: lambda d: d == day,
    }  # fmt: skip
    return tests[match.group(1)]


def slot_search(user, query) -> tuple[list[FreeSlot], list[tuple[str, str]]]:
    """The free slots of the schedules named (``schedule`` is required: a doctor's agenda), as
    the booking page lists them, optionally within ``start`` days."""
    schedules = [value for value in query.getlist("schedule") if value.strip()]
    if not schedules:
        raise MissingParameter(_("Slots are searched by schedule: name the doctor's Schedule."))
    try:
        doctor_ids = {number for value in schedules for number in _ids(value.split(","), "Schedule")}
    except BadValue as error:
        raise BadValue(str(error), "schedule") from None
    try:
        bounds = [_start_bound(value) for value in query.getlist("start") if value.strip()]
    except BadValue as error:
        raise BadValue(str(error), "start") from None
    found = []
    for doctor_id in sorted(doctor_ids)[:10]:
        doctor = _bookable_doctor(doctor_id)
        if doctor is None:
            continue
        for slot in _free_slots(doctor):
            day = slot.start.astimezone(visit_slots.ROME).date()
            if all(test(day) for test in bounds):
                found.append(slot)
    found.sort(key=lambda slot: (slot.start, slot.doctor_id))
    applied = [("schedule", value) for value in schedules]
    applied += [("start", value) for value in query.getlist("start") if value.strip()]
    return found, applied


def slot_resource(base: str, slot: FreeSlot) -> dict:
    return {
        "resourceType": "Slot",
        "id": slot.pk,
        "serviceType": [{"text": _("Video visit")}],
        "schedule": {"reference": f"Schedule/{slot.doctor_id}"},
        "status": "free",
        "start": _instant(slot.start),
        "end": _instant(slot.end),
    }


def _described(name: str, type_name: str, text: str) -> Param:
    """A parameter of a computed type: described here, applied by its search."""
    return Param(name, type_name, text, lambda rows, values: rows)


SLOT = Kind(
    name="Slot",
    readable=lambda user: Agenda.objects.none(),
    computed_one=slot_one,
    computed_search=slot_search,
    resource=slot_resource,
    order=(),
    params=(
        _described("schedule", "reference", "Required: the doctor's agenda (Schedule, the doctor's id)."),
        _described("start", "date", "The day (Europe/Rome), with ge, gt, le, lt or eq."),
    ),
)


# --- Communication: the messages of consult threads and of conversations ------------------------
#
# Two tables, one resource type: ids say which (``consult-<id>``, ``message-<id>``), and a search
# pages through both at once, newest first.


def consults_readable(user) -> QuerySet[Consult]:
    """A patient's own consults and a doctor's, answered or not: the consult pages' selectors."""
    own = consults.consult_list_for_user(user)
    worked = consults.consult_queue_for_doctor(user, include_closed=True)
    return Consult.objects.filter(Q(pk__in=own.values("pk")) | Q(pk__in=worked.values("pk")))


def thread_messages_readable(user) -> QuerySet[ConsultMessage]:
    return ConsultMessage.objects.filter(consult__in=consults_readable(user)).select_related(
        "consult__patient", "consult__doctor__user", "sender"
    )


def conversation_messages_readable(user) -> QuerySet[Message]:
    """The messages of the person's conversations: the messages page's selector."""
    return (
        Message.objects.filter(conversation__in=conversations_for(user).values("pk"))
        .select_related("conversation", "sender")
        .prefetch_related("conversation__participants__user")
    )


def _thread_message_resource(base: str, message: ConsultMessage) -> dict:
    consult = message.consult
    doctor, patient = consult.doctor.user, consult.patient
    recipient = patient if message.sender_id == doctor.pk else doctor
    resource = {
        "resourceType": "Communication",
        "id": f"consult-{message.pk}",
        "status": "completed",
        "category": [{"text": _("Consult")}],
        "subject": _person_reference(patient),
        "topic": {"text": _("Consult %(number)s") % {"number": consult.pk}},
        "sent": _instant(message.created_at),
        "sender": _person_reference(message.sender),
        "recipient": [_person_reference(recipient)],
    }
    if message.text:
        resource["payload"] = [{"contentString": message.text}]
    return resource


def _conversation_message_resource(base: str, message: Message) -> dict:
    conversation = message.conversation
    people = [participant.user for participant in conversation.participants.all()]
    resource = {
        "resourceType": "Communication",
        "id": f"message-{message.pk}",
        "status": "completed",
        "category": [{"text": str(ConversationKind(conversation.kind).label)}],
        "sent": _instant(message.created_at),
        "sender": _person_reference(message.sender),
        "recipient": [_person_reference(person) for person in people if person.pk != message.sender_id],
        "payload": [{"contentString": message.text}],
    }
    patients = [person for person in people if person.is_patient]
    if conversation.kind == ConversationKind.DOCTOR_PATIENT and patients:
        resource["subject"] = _person_reference(patients[0])
    if conversation.subject:
        resource["topic"] = {"text": conversation.subject}
    return resource


def communication_resource(base: str, message) -> dict:
    if isinstance(message, ConsultMessage):
        return _thread_message_resource(base, message)
    return _conversation_message_resource(base, message)


COMMUNICATION_ID = re.compile(r"(consult|message)-([1-9][0-9]{0,17})")


def communication_one(user, object_id: str):
    match = COMMUNICATION_ID.fullmatch(object_id)
    if match is None:
        return None
    rows = thread_messages_readable(user) if match.group(1) == "consult" else conversation_messages_readable(user)
    return rows.filter(pk=int(match.group(2))).first()


class MessagesOfBoth:
    """Consult-thread and conversation messages as one sequence, newest first, for a Paginator:
    counted and sliced in the database (a UNION of ids), each page's rows then read in full."""

    def __init__(self, threads: QuerySet[ConsultMessage], conversations: QuerySet[Message]) -> None:
        self.threads, self.conversations = threads, conversations
        self.union = (
            threads.order_by()
            .values_list(Value("consult"), "pk", "created_at")
            .union(conversations.order_by().values_list(Value("message"), "pk", "created_at"))
            .order_by("-created_at", "-pk")
        )

    def count(self) -> int:
        return self.union.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index: slice) -> list:
        keys = list(self.union[index])
        threads = self.threads.in_bulk([pk for kind, pk, _sent in keys if kind == "consult"])
        conversations = self.conversations.in_bulk([pk for kind, pk, _sent in keys if kind == "message"])
        return [(threads if kind == "consult" else conversations)[pk] for kind, pk, _sent in keys]


def _communication_ids(values: list[str]) -> tuple[list[int], list[int]]:
    matches = [COMMUNICATION_ID.fullmatch(value.strip()) for value in values]
    if not all(matches):
        raise BadValue(next(value for value, match in zip(values, matches, strict=True) if match is None))
    threads = [int(match.group(2)) for match in matches if match and match.group(1) == "consult"]
    return threads, [int(match.group(2)) for match in matches if match and match.group(1) == "message"]


def communication_search(user, query) -> tuple[MessagesOfBoth, list[tuple[str, str]]]:
    """Both kinds of message the person reads, by ``_id`` and ``patient`` (a consult's patient,
    or the patient of a doctor–patient conversation)."""
    threads, conversations = thread_messages_readable(user), conversation_messages_readable(user)
    applied = []
    for value in query.getlist("_id"):
        values = [part for part in value.split(",") if part.strip()]
        if values:
            try:
                thread_ids, message_ids = _communication_ids(values)
            except BadValue as error:
                raise BadValue(str(error), "_id") from None
            threads, conversations = threads.filter(pk__in=thread_ids), conversations.filter(pk__in=message_ids)
            applied.append(("_id", value))
    for value in query.getlist("patient"):
        values = [part for part in value.split(",") if part.strip()]
        if values:
            try:
                ids = _ids(values, "Patient")
            except BadValue as error:
                raise BadValue(str(error), "patient") from None
            threads = threads.filter(consult__patient_id__in=ids)
            conversations = conversations.filter(
                conversation__kind=ConversationKind.DOCTOR_PATIENT,
                conversation__in=Participant.objects.filter(user_id__in=ids, user__role="patient").values(
                    "conversation_id"
                ),
            )
            applied.append(("patient", value))
    return MessagesOfBoth(threads, conversations), applied


COMMUNICATION = Kind(
    name="Communication",
    readable=lambda user: ConsultMessage.objects.none(),
    computed_one=communication_one,
    computed_search=communication_search,
    resource=communication_resource,
    order=(),
    params=(
        _described("_id", "token", "The message's id: consult-<id> (a consult's thread) or message-<id>."),
        _described("patient", "reference", "The patient of the consult or of the conversation (Patient)."),
    ),
)


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        PATIENT,
        PRACTITIONER,
        PRACTITIONER_ROLE,
        ORGANIZATION,
        APPOINTMENT,
        SCHEDULE,
        SLOT,
        DOCUMENT_REFERENCE,
        BINARY,
        IMAGING_STUDY,
        CONSENT,
        COMMUNICATION,
    )
}
