"""The erasure of an account (GDPR art. 17), with the exceptions the law makes.

The rules:
- A patient or a doctor asks from the deletion page, after their password (and a doctor, or
  anyone with an authenticator, a current code or a recovery code: ``accounts.second_factor``).
  One request is under way per account; asking again returns it (and mails the link again).
- A link valid ``CONFIRM_MAX_AGE`` is e-mailed (through the outbox, once per task run). Opening it
  and pressing the button confirms: the account is erased ``settings.ERASURE_GRACE_DAYS`` days
  later. Until then the owner can log in, sees the date on every page and can cancel.
- A doctor who confirms leaves the directory at once (``accounts.selectors.public_doctors``), and
  every linked patient is told in the platform and by e-mail, with the date.
- At the due time a task erases the account (``erasure_run``; the retention sweep also runs any
  erasure past due whose task was lost): the Welbox's or Medbox's documents and studies (rows
  and files, the space freed), the texts of the messages the person wrote, the health agenda
  (reminders), notifications, care links, visits not yet started (cancelled, the other side told),
  the consults still waiting for an answer (cancelled, unbilled, the doctor told, so that no
  answer is filed afterwards into a box that is gone) and unanswered Info requests,
  data exports, consents, sessions and authenticators;
  then the account is anonymised (``accounts.erasure``): it can no longer log in.
- What must be kept is kept, and restricted to whoever keeps it: invoices, credit notes,
  proformas, payments and the ledger (10 years, art. 2220 c.c.), with the parties' data as they
  were invoiced; the records a doctor holds as controller (their Medbox, the reports they signed,
  consults and visits with the studies a consult was asked with); the access log for its
  retention period. The deletion page (rights/erasure.html) says it in the page's words.
- Every step (asked, confirmed, cancelled, carried out) is an entry of the access log, with the
  request as its target; the request's row stays, with what was erased and kept (counts only).
- Run again (its worker died), the erasure changes nothing: it acts on a scheduled request only,
  in one transaction that marks it carried out; files go when that transaction commits.
"""

import datetime
import functools

from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from telemed.accounts import erasure as account_erasure
from telemed.accounts.models import User
from telemed.accounts.second_factor import reauthenticate
from telemed.audit.models import AuditAction
from telemed.audit.services import audit_record
from telemed.billing import selectors as billing
from telemed.boxes import selectors as boxes
from telemed.boxes import services as box_services
from telemed.boxes import uploads as box_uploads
from telemed.care import selectors as care
from telemed.care import services as care_services
from telemed.consults import services as consults
from telemed.dicom import services as dicom_services
from telemed.directory import services as directory
from telemed.lib import formatting
from telemed.messaging import services as messaging
from telemed.notifications.services import Tell, notifications_erase_of, notify_many
from telemed.reminders import services as reminders
from telemed.rights import tasks
from telemed.rights.models import OPEN_ERASURE_STATES, DataExport, ErasureRequest, ErasureState
from telemed.visits import services as visits

CONFIRM_SALT = "telemed.rights.erasure-confirm"
CONFIRM_MAX_AGE = datetime.timedelta(days=2)
NOTIFY_DOCTOR_LEAVING = "rights_doctor_leaving"


def grace_period() -> datetime.timedelta:
    return datetime.timedelta(days=settings.ERASURE_GRACE_DAYS)


def _audit(actor: User | None, action: AuditAction, erasure: ErasureRequest, request: HttpRequest | None = None):
    user = erasure.user
    audit_record(actor=actor, action=action, target=erasure, patient=user if user.is_patient else None, request=request)


def confirm_token(erasure: ErasureRequest) -> str:
    return signing.dumps({"e": str(erasure.pk)}, salt=CONFIRM_SALT)


def confirm_url(erasure: ErasureRequest) -> str:
    return settings.BASE_URL + reverse("rights:erasure_confirm", args=[confirm_token(erasure)])


def _may_ask(user: User) -> bool:
    return (user.is_patient or user.is_doctor) and not user.is_staff


def erasure_ask(*, request: HttpRequest, password: str, code: str = "") -> ErasureRequest:
    """Ask for the deletion of the account in use, after re-authentication; the link is mailed."""
    user = request.user
    if not user.is_authenticated or not _may_ask(user):
        raise PermissionDenied
    reauthenticate(request, password=password, code=code)
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()  # one request at a time per account
        erasure = ErasureRequest.objects.filter(user=user, state__in=OPEN_ERASURE_STATES).first()
        if erasure is None:
            erasure = ErasureRequest.objects.create(user=user)
            _audit(user, AuditAction.ERASURE_ASKED, erasure, request)
        if erasure.state == ErasureState.ASKED:
            tasks.send_erasure_confirmation.enqueue(erasure_id=str(erasure.pk))
    return erasure


def _tell_linked_patients(erasure: ErasureRequest, due_at: datetime.datetime) -> None:
    doctor = erasure.user
    patients = list(care.linked_patients(doctor))
    tells = []
    for patient in patients:
        with override(patient.language or "it"):
            title = _("%(doctor)s is leaving telemed: their account will be deleted on %(date)s.") % {
                "doctor": doctor.display_name,
                "date": formatting.long_date(due_at),
            }
        tells.append(Tell(recipient=patient, kind=NOTIFY_DOCTOR_LEAVING, title=title, url=reverse("boxes:home")))
    notify_many(tells)
    if patients:
        tasks.send_doctor_leaving_notice.enqueue(erasure_id=str(erasure.pk))


def _refresh_directory(user: User) -> None:
    profile = getattr(user, "doctor_profile", None)
    if profile is not None:
        directory.directory_entries_refresh(doctor_ids=[profile.pk])


def erasure_confirm(*, token: str, request: HttpRequest | None = None) -> ErasureRequest:
    """The mailed link's button: the account is scheduled for erasure after the grace period."""
    try:
        data = signing.loads(token, salt=CONFIRM_SALT, max_age=CONFIRM_MAX_AGE)
    except signing.SignatureExpired as exc:
        raise ValidationError(
            _("This confirmation link has expired. Ask for the deletion again from your account.")
        ) from exc
    except (signing.BadSignature, ValueError) as exc:
        raise ValidationError(_("This confirmation link is not valid.")) from exc
    with transaction.atomic():
        erasure = (
            ErasureRequest.objects.select_for_update().select_related("user").filter(pk=str(data.get("e"))).first()
            if isinstance(data, dict)
            else None
        )
        if erasure is not None and erasure.state == ErasureState.SCHEDULED:
            return erasure  # the link opened twice
        if erasure is None or erasure.state != ErasureState.ASKED:
            raise ValidationError(_("This confirmation link is not valid any more."))
        now = timezone.now()
        due_at = now + grace_period()
        erasure.state, erasure.confirmed_at, erasure.due_at = ErasureState.SCHEDULED, now, due_at
        erasure.save(update_fields=["state", "confirmed_at", "due_at"])
        account_erasure.account_erasure_schedule(user=erasure.user, due_at=due_at)
        _audit(erasure.user, AuditAction.ERASURE_CONFIRMED, erasure, request)
        if erasure.user.is_doctor:
            _refresh_directory(erasure.user)
            _tell_linked_patients(erasure, due_at)  # enqueued first: told while the links still exist
        tasks.account_erase.using(run_after=due_at).enqueue(erasure_id=str(erasure.pk))
    return erasure


@transaction.atomic
def erasure_cancel(*, actor: User, request: HttpRequest | None = None) -> ErasureRequest:
    """The owner keeps the account: the request under way is cancelled (a doctor is listed again)."""
    if not actor.is_authenticated or not _may_ask(actor):
        raise PermissionDenied
    erasure = (
        ErasureRequest.objects.select_for_update()
        .select_related("user")
        .filter(user=actor, state__in=OPEN_ERASURE_STATES)
        .first()
    )
    if erasure is None:
        raise ValidationError(_("There is no deletion to cancel."))
    erasure.state, erasure.cancelled_at = ErasureState.CANCELLED, timezone.now()
    erasure.save(update_fields=["state", "cancelled_at"])
    account_erasure.account_erasure_unschedule(user=erasure.user)
    _audit(actor, AuditAction.ERASURE_CANCELLED, erasure, request)
    if erasure.user.is_doctor:
        _refresh_directory(erasure.user)
    return erasure


def _remove_stored(names: list[str]) -> None:
    for name in names:
        if name and default_storage.exists(name):
            default_storage.delete(name)


def _erase_account_data(user: User) -> dict:
    """Erase what may be erased, app by app, and count what is kept (see the module's rules)."""
    outcome = {"documents": 0, "studies": 0, "studies_kept": 0}
    box = boxes.box_of_owner(user)
    if box is not None:
        outcome["studies"], outcome["studies_kept"] = dicom_services.studies_erase_of_box(box=box)
        box_uploads.uploads_cancel_of_box(box=box)
        outcome["documents"] = box_services.box_erase(box=box)
    outcome["messages"] = messaging.messages_erase_of_sender(user=user)
    outcome["reminders"] = reminders.reminders_erase_of_patient(patient=user)
    outcome["notifications"] = notifications_erase_of(user=user)
    outcome["care_links"] = care_services.care_links_end_of(user=user)
    outcome["visits_cancelled"] = visits.bookings_cancel_of(user=user)
    outcome["consults_withdrawn"], outcome["info_requests_deleted"] = consults.consults_withdraw_of_patient(
        patient=user
    )
    exports = DataExport.objects.filter(user=user)
    transaction.on_commit(functools.partial(_remove_stored, list(exports.values_list("file_name", flat=True))))
    exports.delete()
    if user.is_doctor:
        outcome["invoices_kept"] = billing.invoices_of_doctor(user.doctor_profile).count()
    else:
        outcome["invoices_kept"] = billing.invoices_of_patient(user).count()
    account_erasure.account_anonymise(user=user)
    return outcome


def erasure_run(*, erasure_id: str, now: datetime.datetime | None = None) -> bool:
    """Erase the account of a scheduled request once it is due; True when this run did it."""
    now = now or timezone.now()
    with transaction.atomic():
        erasure = ErasureRequest.objects.select_for_update().select_related("user").filter(pk=erasure_id).first()
        if erasure is None or erasure.state != ErasureState.SCHEDULED or erasure.due_at is None or erasure.due_at > now:
            return False  # cancelled, carried out already, or not yet due
        outcome = _erase_account_data(erasure.user)
        erasure.state, erasure.erased_at, erasure.outcome = ErasureState.ERASED, timezone.now(), outcome
        erasure.save(update_fields=["state", "erased_at", "outcome"])
        erasure.user.refresh_from_db()
        _audit(None, AuditAction.ERASED, erasure)
    return True


def erasures_run_due(*, now: datetime.datetime | None = None) -> int:
    """Erase every account whose grace period has ended (the retention sweep runs this too, for an
    erasure whose task was lost); returns how many were erased."""
    now = now or timezone.now()
    due = ErasureRequest.objects.filter(state=ErasureState.SCHEDULED, due_at__lte=now).values_list("pk", flat=True)
    return sum(erasure_run(erasure_id=str(pk), now=now) for pk in list(due))


def erasures_lapse_unconfirmed(*, now: datetime.datetime | None = None) -> int:
    """A request whose link was never opened lapses with the link (it is cancelled)."""
    cutoff = (now or timezone.now()) - CONFIRM_MAX_AGE
    return ErasureRequest.objects.filter(state=ErasureState.ASKED, asked_at__lt=cutoff).update(
        state=ErasureState.CANCELLED, cancelled_at=timezone.now()
    )
