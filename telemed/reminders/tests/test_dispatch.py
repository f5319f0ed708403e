"""Delivery: each occurrence recorded once and notified once, late ones marked late, old ones
missed; muted reminders and those of a doctor whose link ended are not sent; exactly once with
two dispatcher processes racing and with one killed in the middle of a delivery."""

import datetime as dt
import os
import signal
import subprocess
import sys
import time

import pytest
from django.db import connection, transaction
from django.utils import timezone

from conftest import ROOT, database_url_for_subprocesses
from telemed.care import services as care
from telemed.care.selectors import links_of
from telemed.notifications.models import Notification
from telemed.reminders import dispatch, services
from telemed.reminders.models import Delivery, DeliveryStatus, Reminder, StopReason
from telemed.reminders.recurrence import Recurrence
from telemed.reminders.schedule import ROME, Series, to_local


def daily(*times: str, start: dt.date | None = None, **kwargs) -> Recurrence:
    return Recurrence(
        start=start or timezone.localdate(),
        times=tuple(dt.time.fromisoformat(t) for t in times),
        frequency="daily",
        **kwargs,
    )


def tomorrow() -> dt.date:
    return timezone.localdate() + dt.timedelta(days=1)


def create(
    actor, patient, recurrence, *, kind="therapy", title="Cardioaspirin 100 mg", notes="Dopo colazione"
) -> Reminder:
    return services.reminder_create(
        actor=actor,
        patient=patient,
        text=services.ReminderText(kind=kind, title=title, notes=notes),
        recurrence=recurrence,
    )


def reminder_notifications(user):
    return Notification.objects.filter(recipient=user, kind="reminder")


@pytest.mark.django_db
def test_a_due_occurrence_is_recorded_once_then_notified_once(patient):
    reminder = create(patient, patient, daily("08:00", "20:00", start=tomorrow()))
    first = reminder.next_fire_at
    assert to_local(first).time() == dt.time(8, 0)

    assert dispatch.record_due(now=first - dt.timedelta(seconds=1)) == 0
    assert dispatch.record_due(now=first + dt.timedelta(seconds=1)) == 1
    assert dispatch.record_due(now=first + dt.timedelta(seconds=1)) == 0  # already moved on
    reminder.refresh_from_db()
    assert to_local(reminder.next_fire_at).time() == dt.time(20, 0)
    delivery = Delivery.objects.get(reminder=reminder)
    assert (delivery.occurrence, delivery.status) == (first, DeliveryStatus.PENDING)

    assert dispatch.send_pending(now=first + dt.timedelta(seconds=2)) == 1
    assert dispatch.send_pending(now=first + dt.timedelta(seconds=2)) == 0
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT and not delivery.late and delivery.sent_at is not None
    (notification,) = reminder_notifications(patient)
    # The title can reach an e-mail: nothing clinical in it.
    assert "Cardioaspirin" not in notification.title and "colazione" not in notification.title
    assert notification.url == f"/reminders/?date={tomorrow().isoformat()}"


@pytest.mark.django_db
def test_missed_while_down_is_sent_late_unless_too_old(patient, settings):
    settings.REMINDERS_MAX_LATENESS = dt.timedelta(hours=2)
    reminder = create(patient, patient, daily("08:00", "20:00", start=tomorrow()))
    morning = reminder.next_fire_at
    # The platform is down from 07:00 to 21:30: both occurrences of the day are missed.
    back = morning + dt.timedelta(hours=13, minutes=30)
    while dispatch.record_due(now=back) or dispatch.send_pending(now=back):
        pass
    deliveries = {to_local(d.occurrence).time(): d for d in Delivery.objects.filter(reminder=reminder)}
    assert deliveries[dt.time(8, 0)].status == DeliveryStatus.MISSED  # older than two hours
    assert deliveries[dt.time(20, 0)].status == DeliveryStatus.SENT and deliveries[dt.time(20, 0)].late
    (notification,) = reminder_notifications(patient)
    assert "late" in notification.title
    reminder.refresh_from_db()
    assert reminder.next_fire_at == morning + dt.timedelta(days=1)


@pytest.mark.django_db
def test_a_muted_reminder_is_recorded_but_not_notified(patient):
    reminder = create(patient, patient, daily("09:00", start=tomorrow()))
    services.reminder_mute(actor=patient, reminder=reminder, muted=True)
    due = reminder.next_fire_at + dt.timedelta(seconds=1)
    dispatch.record_due(now=due)
    dispatch.send_pending(now=due)
    assert Delivery.objects.get(reminder=reminder).status == DeliveryStatus.MUTED
    assert not reminder_notifications(patient).exists()


@pytest.mark.django_db
def test_revoking_the_link_stops_the_doctors_reminders_and_keeps_what_was_delivered(linked):
    doctor, patient = linked
    reminder = create(doctor, patient, daily("08:00", start=tomorrow()), kind="follow_up", title="Controllo pressione")
    assert reminder_notifications(patient).count() == 1  # "Dr. … added a reminder"
    first = reminder.next_fire_at
    dispatch.record_due(now=first)
    dispatch.send_pending(now=first)
    assert reminder_notifications(patient).count() == 2

    care.care_revoke(actor=patient, link=links_of(patient).get())
    second = first + dt.timedelta(days=1)
    dispatch.record_due(now=second)
    dispatch.send_pending(now=second)
    statuses = dict(Delivery.objects.filter(reminder=reminder).values_list("occurrence", "status"))
    assert statuses == {first: DeliveryStatus.SENT, second: DeliveryStatus.SKIPPED}
    assert reminder_notifications(patient).count() == 2
    reminder.refresh_from_db()
    assert reminder.stop_reason == StopReason.LINK_ENDED and reminder.next_fire_at is None


@pytest.mark.django_db(transaction=True)
def test_emails_are_short_unless_the_patient_opted_into_details(patient, run_tasks, smtp_settings):
    run_tasks()  # the registration e-mail
    short = create(patient, patient, daily("08:00", start=tomorrow()), title="Cardioaspirin 100 mg")
    due = short.next_fire_at
    dispatch.record_due(now=due)
    dispatch.send_pending(now=due)
    run_tasks()
    mail = smtp_settings.wait_for("anna@example.test")
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert "Cardioaspirin" not in text + mail["Subject"]

    services.agenda_email_set(actor=patient, choice=services.EmailChoice.DETAILS)
    smtp_settings.messages.clear()
    dispatch.record_due(now=due + dt.timedelta(days=1))
    dispatch.send_pending(now=due + dt.timedelta(days=1))
    assert run_tasks() == 1  # the detailed e-mail only, not the short notice as well
    mail = smtp_settings.wait_for("anna@example.test", subject="Cardioaspirin")
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert "Dopo colazione" in text and "08:00" in text
    assert len(smtp_settings.messages) == 1


# --- many dispatchers, and crashes --------------------------------------------------------


def _make_due(reminders: list[Reminder]) -> dt.datetime:
    """Put each reminder back on a real occurrence of its rule that came a minute ago."""
    now = timezone.now()
    for reminder in reminders:
        previous = [o for o in Series.of(reminder).between(now - dt.timedelta(days=2), now)][-1]
        Reminder.objects.filter(pk=reminder.pk).update(next_fire_at=previous)
    return now


def _due_reminders(patients, count: int) -> list[Reminder]:
    """``count`` daily reminders whose last occurrence was a minute or two ago."""
    past = (timezone.localtime() - dt.timedelta(minutes=2)).replace(second=0, microsecond=0)
    reminders = []
    for n in range(count):
        patient = patients[n % len(patients)]
        reminders.append(
            create(patient, patient, daily(past.strftime("%H:%M"), start=past.date() - dt.timedelta(days=1)))
        )
    _make_due(reminders)
    return reminders


def _dispatcher(*args: str, env: dict | None = None) -> subprocess.Popen:
    environment = {
        **os.environ,
        "DATABASE_URL": database_url_for_subprocesses(),
        "DATABASE_POOL": "false",
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "reminders_dispatch", *args],
        cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _wait_for_line(process: subprocess.Popen, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        if text in line:
            return
    raise AssertionError(f"{text!r} never came: {''.join(seen)}")


def _wait_until_unlocked(reminders: list[Reminder]) -> None:
    """A killed client's transaction is rolled back once its server notices the closed socket."""
    deadline = time.monotonic() + 30
    while True:
        try:
            with transaction.atomic():
                list(Reminder.objects.select_for_update(nowait=True).filter(pk__in=[r.pk for r in reminders]))
                list(Delivery.objects.select_for_update(nowait=True).filter(reminder__in=reminders))
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def three_patients(make_patient):
    return [make_patient(email=f"p{n}@example.test", language="en") for n in range(3)]


@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_racing_deliver_each_occurrence_exactly_once(three_patients):
    reminders = _due_reminders(three_patients, 120)
    racers = [_dispatcher("--once", "--record-batch", "7", "--send-batch", "3") for _ in range(2)]
    outputs = [racer.communicate(timeout=180)[0] for racer in racers]
    assert [racer.returncode for racer in racers] == [0, 0], outputs
    deliveries = Delivery.objects.filter(reminder__in=reminders)
    assert deliveries.count() == 120
    assert set(deliveries.values_list("status", flat=True)) == {DeliveryStatus.SENT}
    assert sum(reminder_notifications(p).count() for p in three_patients) == 120
    handled = [int(output.strip().splitlines()[-1].split()[0]) for output in outputs]
    assert sum(handled) == 120, outputs
    # Every reminder moved on to its next occurrence, tomorrow.
    assert all(r.next_fire_at > timezone.now() for r in Reminder.objects.filter(pk__in=[r.pk for r in reminders]))


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("step", ["record", "send"])
def test_a_dispatcher_killed_mid_delivery_leaves_it_to_the_next_one_exactly_once(patient, step):
    """SIGKILL inside the transaction: after the delivery's insert (record) or after the
    notification (send), before the commit. Nothing half-done survives; the next dispatcher
    delivers it, once."""
    reminders = _due_reminders([patient], 3)
    victim = _dispatcher("--record-batch", "10", env={dispatch.PAUSE_ENV: f"{step}:120"})
    try:
        _wait_for_line(victim, f"paused at {step}")
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
    finally:
        if victim.poll() is None:
            victim.kill()
    _wait_until_unlocked(reminders)
    if step == "record":
        assert not Delivery.objects.filter(reminder__in=reminders).exists()
    else:
        assert set(Delivery.objects.filter(reminder__in=reminders).values_list("status", flat=True)) == {
            DeliveryStatus.PENDING
        }
    assert not reminder_notifications(patient).exists()

    survivor = _dispatcher("--once")
    output = survivor.communicate(timeout=120)[0]
    assert survivor.returncode == 0, output
    assert Delivery.objects.filter(reminder__in=reminders, status=DeliveryStatus.SENT).count() == 3
    assert reminder_notifications(patient).count() == 3
    assert connection.vendor in {"postgresql", "sqlite"}


@pytest.mark.django_db
def test_the_loop_sleeps_until_the_next_occurrence_at_most_a_second(patient):
    assert dispatch.seconds_until_due(cap=1.0) == 1.0
    create(patient, patient, daily("08:00", start=tomorrow()))
    assert dispatch.seconds_until_due(cap=1.0) == 1.0
    Reminder.objects.update(next_fire_at=timezone.now() + dt.timedelta(milliseconds=300))
    assert 0 < dispatch.seconds_until_due(cap=1.0) <= 0.3
    Reminder.objects.update(next_fire_at=timezone.now() - dt.timedelta(seconds=5))
    assert dispatch.seconds_until_due(cap=1.0) == 0
    assert ROME.key == "Europe/Rome"
