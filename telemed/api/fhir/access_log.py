"""What reading through the FHIR endpoint records in the patient's access log: the pages' own
calls (a document's opening or download, a study's viewing, a consult thread's VIEW as the REST
consult detail). A type not named here records nothing."""

from collections.abc import Callable

from django.http import HttpRequest

from telemed.audit.models import AuditAction
from telemed.audit.services import audit_record
from telemed.boxes.models import Document
from telemed.boxes.services import document_opened
from telemed.consults.models import Consult, ConsultMessage
from telemed.dicom.services import study_viewed


def _document_opened(action: AuditAction) -> Callable[[HttpRequest, Document], None]:
    def opened(request: HttpRequest, document: Document) -> None:
        document_opened(actor=request.user, document=document, action=action, request=request)

    return opened


def _thread_read(request: HttpRequest, consult: Consult) -> None:
    # As the REST API's consult detail: the thread is clinical, its reading is in the log.
    audit_record(actor=request.user, action=AuditAction.VIEW, target=consult, patient=consult.patient, request=request)


def _communication_opened(request: HttpRequest, message) -> None:
    # A consult thread's reading is logged; a conversation's is not, as on the messages page.
    if isinstance(message, ConsultMessage):
        _thread_read(request, message.consult)


def _communications_listed(request: HttpRequest, messages: list) -> None:
    threads = {message.consult_id: message.consult for message in messages if isinstance(message, ConsultMessage)}
    for consult in threads.values():
        _thread_read(request, consult)


# What reading one row records (request, row), by resource type.
OPENED: dict[str, Callable[[HttpRequest, object], None]] = {
    "DocumentReference": _document_opened(AuditAction.VIEW),
    "Binary": _document_opened(AuditAction.DOWNLOAD),
    "ImagingStudy": lambda request, study: study_viewed(actor=request.user, study=study, request=request),
    "Communication": _communication_opened,
}

# What a page of search results records (request, rows): for the types whose list shows the
# clinical content itself, as a thread's messages do.
LISTED: dict[str, Callable[[HttpRequest, list], None]] = {"Communication": _communications_listed}


def record_read(request: HttpRequest, type_name: str, row) -> None:
    if type_name in OPENED:
        OPENED[type_name](request, row)


def record_listed(request: HttpRequest, type_name: str, rows: list) -> None:
    if type_name in LISTED and rows:
        LISTED[type_name](request, rows)
