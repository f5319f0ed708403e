"""A CD import's state, shared by its two halves: receiving the files (receiving.py) and
reading them into studies (importing.py).

A CD import has one state machine (``import_transition``): receiving → queued → running →
done, or failed / cancelled. While receiving, each file of the CD (or one ZIP of it) arrives
into the import's staging (a folder under the var dir, or a prefix of the bucket with object
storage: staging.py), its size reserved against the box's quota before
its first byte is written, so staging can never take more than the box has free. Then a task
reads the CD: it unpacks a ZIP after checking it, reads the DICOMDIR or scans the files, and
stores every instance it can, in batches: the file goes into storage, its rows are written and
its reserved bytes become used bytes in one transaction. What was not stored is listed with its
reason (``ImportReport``), and whatever is still reserved is given back at the end
(``give_back``) — the quota counts exactly what was stored.
"""

from collections import Counter

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from telemed.accounts.models import User
from telemed.boxes import services as box_services
from telemed.dicom import staging
from telemed.dicom.models import (
    CdImport,
    ImportSkip,
    ImportState,
    SkipReason,
)

# The report lists this many files one by one; the totals per reason count them all.
MAX_SKIP_ROWS = 1000

QuotaExceeded = box_services.QuotaExceeded


class ImportConflict(ValidationError):
    """The chunk does not fit the import's state (wrong offset, finished, busy): the client resumes from ``received``."""

    def __init__(self, message: str, *, code: str, received: int = 0):
        super().__init__(message, code=code)
        self.received = received


# --- the import's state machine -------------------------------------------------------------------

_MOVES = {
    ImportState.RECEIVING: {ImportState.QUEUED, ImportState.CANCELLED, ImportState.FAILED},
    ImportState.QUEUED: {ImportState.RUNNING, ImportState.FAILED},
    ImportState.RUNNING: {ImportState.DONE, ImportState.FAILED},
}


def import_transition(cd_import: CdImport, to: ImportState, **fields) -> bool:
    """The import's one transition: only a legal move from the state it is in now, and only once."""
    sources = [state for state, targets in _MOVES.items() if to in targets]
    if not sources:
        raise ValueError(f"no move leads to {to}")
    if to in {ImportState.DONE, ImportState.FAILED, ImportState.CANCELLED}:
        fields.setdefault("finished_at", timezone.now())
    changed = CdImport.objects.filter(pk=cd_import.pk, state__in=sources).update(
        state=to, last_activity_at=timezone.now(), **fields
    )
    if changed:
        cd_import.state = to
        for name, value in fields.items():
            setattr(cd_import, name, value)
    return bool(changed)


def check_owner(actor: User, cd_import: CdImport) -> None:
    if cd_import.owner_id != actor.pk:
        raise PermissionDenied


class ImportReport:
    """The report's lines: counted all, listed up to MAX_SKIP_ROWS."""

    def __init__(self, cd_import: CdImport):
        self.cd_import = cd_import
        self.counts: Counter = Counter()
        self.rows: list[ImportSkip] = []
        self.listed = cd_import.skips.count()

    def add(self, path: str, reason: SkipReason | str) -> None:
        reason = SkipReason(reason)
        self.counts[reason.value] += 1
        if self.listed + len(self.rows) < MAX_SKIP_ROWS:
            self.rows.append(ImportSkip(cd_import=self.cd_import, path=str(path)[:255], reason=reason))

    def flush(self) -> None:
        """Write what was gathered (inside the caller's transaction)."""
        if self.rows:
            ImportSkip.objects.bulk_create(self.rows)
            self.listed += len(self.rows)
            self.rows = []
        if self.counts:
            cd_import = CdImport.objects.select_for_update().get(pk=self.cd_import.pk)
            merged = Counter(cd_import.skipped_by_reason) + self.counts
            CdImport.objects.filter(pk=cd_import.pk).update(
                skipped_by_reason=dict(merged), skipped_count=F("skipped_count") + sum(self.counts.values())
            )
            self.cd_import.skipped_by_reason = dict(merged)
            self.counts = Counter()


def refuse_file(cd_import: CdImport, path: str, reason: SkipReason, message: str, code: str) -> ValidationError:
    with transaction.atomic():
        skips = ImportReport(cd_import)
        skips.add(path, reason)
        skips.flush()
    return ValidationError(message, code=code)


def give_back(cd_import: CdImport) -> None:
    """Release what the import still holds reserved, and remove its staged files."""
    with transaction.atomic():
        held = CdImport.objects.select_for_update().get(pk=cd_import.pk).reserved_bytes
        box_services.box_space_release(box=cd_import.box, size=held)
        CdImport.objects.filter(pk=cd_import.pk).update(reserved_bytes=0)
        cd_import.reserved_bytes = 0
    staging.area().remove(cd_import.pk)
