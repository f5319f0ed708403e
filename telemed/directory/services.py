"""Every write of the directory: its search entries and the sweep that keeps them fresh.

Nothing here acts for a user: the entries are a derived copy of public data, written
by the task worker, the ``directory_reindex`` command and the demo loader.

How entries stay fresh (accounts and billing are lower apps and never call the
directory): a chain of ``tasks.directory_sweep`` runs every ``SWEEP_INTERVAL``
seconds on the task worker. Each sweep refreshes

* the doctors changed since the previous sweep, found by their timestamps
  (profile saved, account created, tariff set, certification uploaded or
  reviewed), looking ``SWEEP_OVERLAP`` further back so that a transaction that
  committed late is not missed;
* the doctors whose entry disagrees with a plain live column (name, structure,
  city, province, slug, second-opinion flag), or who have no entry yet; the
  entries of deactivated accounts are removed;
* every entry when a fee rule that changes what patients pay came into force;
* the ``ROLLING_BATCH`` entries refreshed longest ago, which bounds whatever
  staleness is left (a change of specialties or languages made without saving the
  profile): every entry is rebuilt at least once every
  ``ceil(doctors / ROLLING_BATCH) × SWEEP_INTERVAL`` seconds.

Staleness bound: with the worker running, a new doctor, a profile saved, a tariff,
a verification, a renamed doctor or structure, or a new platform fee shows in search
results within ``SWEEP_INTERVAL`` (60 s) plus the worker's polling interval (1 s) plus
the sweep's own duration. A deactivated doctor disappears from the result pages at
once (each page's rows are checked against the live accounts) and from the counts
within one sweep. The profile page never uses the entry. The chain starts with the
demo loader, ``directory_reindex``, or the first search page served while no sweep is
scheduled (checked once a minute per process); a chain broken by a crash or a stopped
worker is restarted the same way.
"""

import datetime
import secrets
import time

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks.exceptions import TaskException

from telemed.accounts.models import DoctorProfile
from telemed.directory import indexing, tasks
from telemed.directory.models import DirectoryEntry, DirectorySweep, DirectoryWord

SWEEP_INTERVAL = datetime.timedelta(seconds=getattr(settings, "DIRECTORY_SWEEP_SECONDS", 60))
SWEEP_OVERLAP = datetime.timedelta(minutes=5)
ROLLING_BATCH = 1000
BATCH_SIZE = 500
# A scheduled sweep this late means the chain is broken (the worker was down, a task crashed).
SWEEP_LATE = 5 * SWEEP_INTERVAL

UPDATE_FIELDS = [
    field.name
    for field in DirectoryEntry._meta.concrete_fields
    if not field.primary_key and field.name not in {"search_vector", "facets"}
]


def _batches(ids, size: int = BATCH_SIZE, ordered: bool = False):
    ids = list(ids) if ordered else sorted(ids)
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


@transaction.atomic
def directory_entries_refresh(*, doctor_ids, rules=None) -> int:
    """Rebuild the entries of these doctors from the live data (one transaction); returns how many exist after.

    A doctor who is no longer public (deleted, account deactivated) loses their entry.
    """
    doctor_ids = list(doctor_ids)
    entries = indexing.build_entries(doctor_ids, rules)
    DirectoryEntry.objects.filter(doctor_id__in=doctor_ids).exclude(
        doctor_id__in=[entry.doctor_id for entry in entries]
    ).delete()
    if entries:
        DirectoryEntry.objects.bulk_create(
            entries, update_conflicts=True, unique_fields=["doctor"], update_fields=UPDATE_FIELDS
        )
        names, others = indexing.vocabulary(entries)
        DirectoryWord.objects.bulk_create(
            [DirectoryWord(word=word, in_names=True) for word in sorted(names)],
            update_conflicts=True,
            unique_fields=["word"],
            update_fields=["in_names"],
        )
        DirectoryWord.objects.bulk_create([DirectoryWord(word=word) for word in sorted(others)], ignore_conflicts=True)
    return len(entries)


def directory_entry_refresh(*, doctor: DoctorProfile) -> DirectoryEntry | None:
    """Rebuild one doctor's entry now; None when the doctor is not public."""
    directory_entries_refresh(doctor_ids=[doctor.pk])
    return DirectoryEntry.objects.filter(doctor=doctor).first()


def directory_reindex(*, since: datetime.datetime | None = None, batch_size: int = BATCH_SIZE, progress=None) -> int:
    """Rebuild every entry, or those of the doctors changed after ``since``, by batches.

    Each batch is its own transaction, so a long reindex never holds locks for
    long and a crash loses one batch at most. Returns the number of entries written.
    """
    if since is None:
        # In name order: a fresh table then keeps a surname's doctors on the same pages, and
        # reading along the order index (verified, name) reads the table nearly in sequence.
        ids = list(
            DoctorProfile.objects.order_by("user__last_name", "user__first_name", "pk").values_list("pk", flat=True)
        )
        DirectoryWord.objects.all().delete()  # the vocabulary starts afresh
    else:
        ids = sorted(indexing.doctors_changed_since(since) | indexing.doctors_drifted())
    rules = indexing.patient_fee_rules()
    written = 0
    for batch in _batches(ids, batch_size, ordered=True):
        written += directory_entries_refresh(doctor_ids=batch, rules=rules)
        if progress is not None:
            progress(written, len(ids))
    return written


# --- the periodic sweep ------------------------------------------------------------------------


def _sweep_state() -> DirectorySweep:
    DirectorySweep.objects.get_or_create(pk=1)
    return DirectorySweep.objects.select_for_update().get(pk=1)


def _schedule(state: DirectorySweep, run_at: datetime.datetime | None) -> None:
    state.token = secrets.token_hex(16)
    task = tasks.directory_sweep.using(run_after=run_at) if run_at is not None else tasks.directory_sweep
    state.task_id = str(task.enqueue(token=state.token).id)
    state.next_run_at = run_at or timezone.now()


def _pending(state: DirectorySweep) -> bool:
    """True while the scheduled sweep waits in the queue or runs (a full reindex can take minutes)."""
    if not state.task_id:
        return False
    try:
        status = tasks.directory_sweep.get_result(state.task_id).status
    except TaskException:  # the result is gone (the queue was pruned) or belongs to another task
        return False
    return status in {TaskResultStatus.READY, TaskResultStatus.RUNNING}


@transaction.atomic
def directory_sweep_schedule(*, force: bool = False) -> bool:
    """Start the sweep chain unless one is on time; True when a sweep was enqueued.

    ``force`` starts a new chain now whatever the state (the old one then ends by itself).
    """
    state = _sweep_state()
    now = timezone.now()
    on_time = state.next_run_at is not None and state.next_run_at > now - SWEEP_LATE
    if not force and (on_time or _pending(state)):
        return False
    _schedule(state, None)
    state.save(update_fields=["token", "task_id", "next_run_at"])
    return True


def directory_sweep_run(*, token: str) -> int:
    """One sweep (see the module's docstring); then the next one is scheduled. Returns entries refreshed."""
    with transaction.atomic():
        state = _sweep_state()
        if state.token != token:
            return 0  # a superseded chain: another sweep is scheduled
        since, rules_seen_at = state.swept_until, state.rules_seen_at
    started = timezone.now()
    clock = time.monotonic()
    refreshed, finished = 0, False
    try:
        rules_at = indexing.rules_changed_at()
        if since is None or (rules_at is not None and (rules_seen_at is None or rules_at > rules_seen_at)):
            refreshed = directory_reindex()
        else:
            ids = indexing.doctors_changed_since(since - SWEEP_OVERLAP) | indexing.doctors_drifted()
            ids.update(indexing.least_recently_refreshed(ROLLING_BATCH))
            rules = indexing.patient_fee_rules()
            for batch in _batches(ids):
                refreshed += directory_entries_refresh(doctor_ids=batch, rules=rules)
        finished = True
    finally:
        with transaction.atomic():
            state = _sweep_state()
            if state.token == token:
                if finished:
                    state.swept_until = started
                    state.rules_seen_at = rules_at
                    state.last_refreshed = refreshed
                    state.last_duration_ms = int((time.monotonic() - clock) * 1000)
                _schedule(state, timezone.now() + SWEEP_INTERVAL)
                state.save()
    return refreshed
