"""Oscuramento: a patient hides one record of their Welbox from every doctor, and shows it again.

The rules (the Garante's guidelines on the dossier sanitario give the patient the right to
blank out a single record):

- Only the patient whose Welbox holds the record may hide it or show it again; a doctor's
  Medbox record cannot be hidden (it is the doctor's own record, kept as controller).
- A hidden record is neither listed to nor read by any doctor, whatever reaches it (a share of
  the record, of its folder, a consult it went with). The selectors leave it out; nothing else
  changes: its shares stay as they are, so showing it again gives back exactly the access the
  patient had granted, and the doctors are not told (telling them would tell what was hidden).
- Hiding what is hidden, or showing what is shown, changes nothing and records nothing.
- Each change is an entry of the access log the patient reads ("hidden from doctors",
  "shown to doctors again").

The records are Welbox documents (boxes) and radiology studies (dicom, which calls these
functions with its study): any model with a ``box`` and a ``hidden_from_doctors_at``.
"""

from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.http import HttpRequest
from django.utils import timezone

from telemed.accounts.models import User
from telemed.audit.models import AuditAction
from telemed.audit.services import audit_record
from telemed.boxes.models import BoxKind


def _check_owner(actor: User, record: models.Model) -> None:
    box = record.box
    if not actor.is_patient or box.owner_id != actor.pk or box.kind != BoxKind.WELBOX:
        raise PermissionDenied


def _set_hidden(*, actor: User, record: models.Model, hidden: bool, request: HttpRequest | None) -> bool:
    _check_owner(actor, record)
    at = timezone.now() if hidden else None
    # One conditional UPDATE: of two clicks at once, one changes the row and records it.
    changed = (
        type(record)
        .objects.filter(pk=record.pk, hidden_from_doctors_at__isnull=hidden)
        .update(hidden_from_doctors_at=at)
    )
    if changed:
        record.hidden_from_doctors_at = at
        action = AuditAction.HIDE if hidden else AuditAction.UNHIDE
        audit_record(actor=actor, action=action, target=record, patient=actor, request=request)
    else:
        record.refresh_from_db(fields=["hidden_from_doctors_at"])
    return bool(changed)


@transaction.atomic
def record_hide_from_doctors(*, actor: User, record: models.Model, request: HttpRequest | None = None) -> bool:
    """Hide the patient's Welbox ``record`` from every doctor; True when it was visible until now."""
    return _set_hidden(actor=actor, record=record, hidden=True, request=request)


@transaction.atomic
def record_show_to_doctors(*, actor: User, record: models.Model, request: HttpRequest | None = None) -> bool:
    """Undo the hiding: the doctors it is shared with see it again; True when it was hidden."""
    return _set_hidden(actor=actor, record=record, hidden=False, request=request)
