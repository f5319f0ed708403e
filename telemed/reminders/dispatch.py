"""The engine that delivers reminders. Any number of dispatcher processes, on any number of
hosts, share the work (`manage.py reminders_dispatch`; `serve` starts one).

Two steps, each a short transaction over a batch of rows claimed with
``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL, so that dispatchers never wait for each
other nor take the same rows (on SQLite the IMMEDIATE transactions take turns instead):

1. record — due reminders (``next_fire_at <= now``) become one ``Delivery`` row per
   (reminder, occurrence), and ``next_fire_at`` moves on to the next occurrence. The unique
   key of the delivery makes each occurrence happen once even if two dispatchers raced or one
   died between its insert and its commit (then nothing of it was committed).
2. send — pending deliveries get their in-app notification (and the e-mail it implies), in
   the same transaction that marks them sent: a crash before the commit undoes both, and the
   next dispatcher sends it again, once.

Recording is cheap and batched, so a burst of reminders all due at 08:00 is recorded within
a second or two; sending follows at the pace of notify().

One active, the others standing by: a running dispatcher works only while it holds the
dispatchers' advisory lock on PostgreSQL (telemed/workers/leadership.py); the others beat their
heartbeat and try the lock every ``max_sleep`` seconds, so one takes over within a second or so of
the active one's death. The lock is about who works; exactly once still rests on the claims and
the unique key above, so a moment with two active ones (a lost lock connection) is harmless, and
``--once`` runs (a manual catch-up) work beside whoever is active. On SQLite there is no lock:
one dispatcher runs, the one ``serve`` starts.
"""

import datetime
import logging
import os
import sys
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connection, transaction
from django.db.models import Min
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from telemed.care.selectors import care_link_is_active
from telemed.lib.task_batches import enqueue_many
from telemed.notifications.services import Tell, notify_many
from telemed.reminders import tasks
from telemed.reminders.models import AgendaSettings, Delivery, DeliveryStatus, Reminder, StopReason
from telemed.reminders.schedule import Series, to_local
from telemed.reminders.services import NOTIFICATION_KIND, agenda_url
from telemed.workers.leadership import LeaderLock
from telemed.workers.models import Role
from telemed.workers.services import heartbeat_beat, heartbeat_end

logger = logging.getLogger(__name__)

# The advisory lock the running dispatchers take turns to hold.
LOCK_NAME = "telemed.reminders.dispatcher"
RECORD_BATCH = 500
# Each batch pays a commit and one hop to the channel layer: 250 sent ~1,000 a second on 2 busy
# cores where 50 sent ~600, and a transaction of 250 still commits in a fraction of a second.
SEND_BATCH = 250
# A test of crash safety asks a dispatcher to stop here ("record:30" or "send:30"), inside the
# transaction, so that it can be killed there.
PAUSE_ENV = "TELEMED_REMINDERS_TEST_PAUSE"


def late_after() -> datetime.timedelta:
    """Delivered later than this after its time, a reminder says it comes late."""
    return settings.REMINDERS_LATE_AFTER


def max_lateness() -> datetime.timedelta:
    """Older than this (the platform was down), a reminder is not sent any more: it is recorded as missed."""
    return settings.REMINDERS_MAX_LATENESS


def _pause_if_asked(step: str) -> None:
    wanted = os.environ.get(PAUSE_ENV, "")
    if wanted.startswith(f"{step}:"):
        sys.stdout.write(f"paused at {step}\n")
        sys.stdout.flush()
        time.sleep(float(wanted.split(":", 1)[1]))


def _claim(queryset, batch: int):
    # skip_locked is ignored where the database has no row locks (SQLite): there the IMMEDIATE
    # transaction already holds the only write lock.
    return list(queryset.select_for_update(skip_locked=True, of=("self",))[:batch])


def _record(rows: list[tuple], recorded_at: datetime.datetime) -> None:
    """Insert the deliveries (reminder, occurrence, status, late) — an occurrence already there
    is left alone — and move each reminder to its next occurrence."""
    ids = [row[0] for row in rows]
    if connection.vendor == "postgresql":
        # One statement for the batch: Django's bulk_create and bulk_update would cost more in
        # Python than the database spends on it.
        with connection.cursor() as cursor:
            cursor.execute(
                "WITH batch AS (SELECT * FROM unnest(%s::bigint[], %s::timestamptz[], %s::text[], %s::boolean[], "
                "%s::timestamptz[]) AS b(id, occurrence, status, late, next_fire_at)), "
                "recorded AS (INSERT INTO reminders_delivery (reminder_id, occurrence, status, late, created_at) "
                "SELECT id, occurrence, status, late, %s FROM batch ON CONFLICT (reminder_id, occurrence) DO NOTHING) "
                "UPDATE reminders_reminder AS r SET next_fire_at = batch.next_fire_at FROM batch WHERE r.id = batch.id",
                [ids, [row[1] for row in rows], [row[2] for row in rows], [row[3] for row in rows],
                 [row[4] for row in rows], recorded_at],
            )  # fmt: skip
        return
    Delivery.objects.bulk_create(
        [Delivery(reminder_id=pk, occurrence=occurrence, status=status, late=late, created_at=recorded_at)
         for pk, occurrence, status, late, _ in rows],
        ignore_conflicts=True,
    )  # fmt: skip
    Reminder.objects.bulk_update(
        [Reminder(pk=pk, next_fire_at=following) for pk, _, _, _, following in rows], ["next_fire_at"]
    )


def record_due(*, now: datetime.datetime | None = None, batch: int = RECORD_BATCH) -> int:
    """Record the next due occurrence of up to ``batch`` reminders; returns how many."""
    now = now or timezone.now()
    with transaction.atomic():
        due = _claim(
            Reminder.objects.filter(next_fire_at__lte=now)
            .order_by("next_fire_at")
            .values_list("id", "rrule", "times", "start_date", "starts_at", "ends_before", "next_fire_at"),
            batch,
        )
        if not due:
            return 0
        too_old = now - max_lateness()
        rows = []
        for pk, rrule, times, start_date, starts_at, ends_before, occurrence in due:
            series = Series(
                rrule=rrule, times=tuple(map(datetime.time.fromisoformat, times)), start_date=start_date,
                starts_at=starts_at, ends_before=ends_before,
            )  # fmt: skip
            missed = occurrence < too_old
            status = DeliveryStatus.MISSED if missed else DeliveryStatus.PENDING
            rows.append(
                (pk, occurrence, str(status), missed, series.after(occurrence, anchor=to_local(occurrence).date()))
            )
        _record(rows, timezone.now())
        _pause_if_asked("record")
    return len(due)


def _mark(deliveries: list[Delivery]) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE reminders_delivery AS d SET status = b.status, late = b.late, sent_at = b.sent_at "
                "FROM unnest(%s::bigint[], %s::text[], %s::boolean[], %s::timestamptz[]) AS b(id, status, late, sent_at) "
                "WHERE d.id = b.id",
                [[d.pk for d in deliveries], [str(d.status) for d in deliveries], [d.late for d in deliveries],
                 [d.sent_at for d in deliveries]],
            )  # fmt: skip
        return
    Delivery.objects.bulk_update(deliveries, ["status", "late", "sent_at"])


def _notification_title(reminder: Reminder, late: bool) -> str:
    # The title can reach an e-mail: it never says what the reminder is about.
    if late:
        return _("A reminder from your agenda, sent late")
    if reminder.doctor_id is not None:
        return _("A reminder from your doctor")
    return _("A reminder from your agenda")


def send_pending(*, now: datetime.datetime | None = None, batch: int = SEND_BATCH) -> int:
    """Notify up to ``batch`` recorded occurrences; returns how many were handled."""
    now = now or timezone.now()
    with transaction.atomic():
        # The claim reads the deliveries' own index only; joining their reminders and people in
        # the same statement made PostgreSQL join and sort every pending row of a burst before
        # the LIMIT (190 ms a batch with 10,000 pending, where this takes a millisecond).
        claimed = _claim(
            Delivery.objects.filter(status=DeliveryStatus.PENDING, occurrence__lte=now)
            .order_by("occurrence")
            .values_list("pk", flat=True),
            batch,
        )
        if not claimed:
            return 0
        pending = list(
            Delivery.objects.filter(pk__in=claimed)
            .order_by("occurrence")
            .select_related("reminder__patient", "reminder__doctor")
        )
        patients = {d.reminder.patient_id for d in pending}
        wants_details = set(
            AgendaSettings.objects.filter(user_id__in=patients, email_details=True).values_list("user_id", flat=True)
        )
        links: dict[tuple[int, int], bool] = {}
        tells: list[Tell] = []
        details: list[dict] = []
        too_old, late_from = now - max_lateness(), now - late_after()
        for delivery in pending:
            reminder = delivery.reminder
            delivery.late = delivery.occurrence < late_from
            if delivery.occurrence < too_old:
                delivery.status = DeliveryStatus.MISSED
                continue
            if reminder.doctor_id is not None:
                pair = (reminder.doctor_id, reminder.patient_id)
                if pair not in links:
                    links[pair] = care_link_is_active(doctor=reminder.doctor, patient=reminder.patient)
                if not links[pair]:
                    # Revoking the link stops that doctor's reminders; what was delivered stays.
                    delivery.status = DeliveryStatus.SKIPPED
                    Reminder.objects.filter(pk=reminder.pk, stopped_at__isnull=True).update(
                        stopped_at=now, stop_reason=StopReason.LINK_ENDED, next_fire_at=None
                    )
                    continue
            if reminder.muted_at is not None:
                delivery.status = DeliveryStatus.MUTED
                continue
            patient = reminder.patient
            with translation.override(patient.language):
                tells.append(
                    Tell(
                        recipient=patient,
                        kind=NOTIFICATION_KIND,
                        title=_notification_title(reminder, delivery.late),
                        url=agenda_url(to_local(delivery.occurrence).date()),
                    )
                )
            if patient.pk in wants_details:
                details.append({"delivery_id": delivery.pk})
            delivery.status, delivery.sent_at = DeliveryStatus.SENT, timezone.now()
        notify_many(tells)  # a fixed number of queries for the whole batch
        enqueue_many(tasks.send_reminder_details, details)
        _pause_if_asked("send")
        _mark(pending)
    return len(pending)


def seconds_until_due(*, cap: float) -> float:
    """How long the loop may sleep: until the earliest next occurrence, at most ``cap``."""
    earliest = Reminder.objects.filter(next_fire_at__isnull=False).aggregate(at=Min("next_fire_at"))["at"]
    if earliest is None:
        return cap
    return min(cap, max(0.0, (earliest - timezone.now()).total_seconds()))


def run(*, should_stop: Callable[[], bool], max_sleep: float = 1.0, once: bool = False,
        record_batch: int = RECORD_BATCH, send_batch: int = SEND_BATCH) -> int:  # fmt: skip
    """Record and send until told to stop (``once``: until nothing is left to do). Returns how
    many deliveries this process handled.

    A running dispatcher beats a heartbeat (telemed/workers) at most every
    ``HEARTBEAT_INTERVAL`` seconds, so that /healthz sees one that died or hangs; it removes
    the beat when it stops cleanly. It works while it holds the dispatchers' lock, and stands
    by otherwise (see the module's docstring); ``once`` takes no lock."""
    handled = 0
    process_id = f"reminders-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    beaten_at = float("-inf")
    leader = None if once else LeaderLock(LOCK_NAME)
    active: bool | None = None  # not known yet
    checked_at = float("-inf")
    try:
        while not should_stop():
            try:
                if not once and time.monotonic() - beaten_at >= settings.HEARTBEAT_INTERVAL:
                    heartbeat_beat(process_id=process_id, role=Role.REMINDERS)
                    beaten_at = time.monotonic()
                if leader is not None and (not active or time.monotonic() - checked_at >= settings.HEARTBEAT_INTERVAL):
                    holds, checked_at = leader.acquire(), time.monotonic()
                    if holds != active:
                        logger.info(
                            "reminders: this dispatcher is active"
                            if holds
                            else "reminders: another dispatcher is active; standing by"
                        )
                    active = holds
                    if not active:
                        _sleep(min(max_sleep, settings.HEARTBEAT_INTERVAL), should_stop)
                        continue
                recorded = record_due(batch=record_batch)
                # Recording comes first: a burst is recorded whole before sending starts.
                sent = send_pending(batch=send_batch) if recorded < record_batch else 0
                handled += sent
            except (OperationalError, InterfaceError):
                # The database went away (restart, failover): start again with a new connection.
                logger.exception("reminders: database error, retrying")
                close_old_connections()
                connection.close()
                time.sleep(1)
                continue
            if recorded or sent:
                continue
            if once:
                break
            _sleep(seconds_until_due(cap=min(max_sleep, settings.HEARTBEAT_INTERVAL)), should_stop)
    finally:
        if leader is not None:
            leader.release()
        if not once:
            try:
                heartbeat_end(process_id=process_id)
            except (OperationalError, InterfaceError):
                pass  # the database is gone too: the beat goes stale, which is true enough
    return handled


def _sleep(seconds: float, should_stop: Callable[[], bool]) -> None:
    """Wait, but not past a request to stop."""
    deadline = time.monotonic() + seconds
    while not should_stop() and time.monotonic() < deadline:
        time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
