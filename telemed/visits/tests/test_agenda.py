"""The agenda's rules, free slots computed from them, booking, cancellation and the booking race."""

import datetime
import threading
from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django_tasks_db.models import DBTaskResult

from telemed.visits import availability, services, slots
from telemed.visits.models import Booking, BookingStatus
from telemed.visits.tests.conftest import rome, total_for

pytestmark = pytest.mark.django_db


def test_free_slots_follow_rules_exceptions_notice_and_bookings(visit_doctor, visit_patient):
    agenda = availability.agenda_of(visit_doctor)
    free = slots.free_slots(agenda)
    assert free and all(s.end - s.start == datetime.timedelta(minutes=30) for s in free)
    assert all(8 <= s.start.astimezone(slots.ROME).hour < 20 for s in free)
    # Minimum notice: nothing within 2 hours; horizon: nothing beyond 30 days.
    from django.utils import timezone

    now = timezone.now()
    assert min(s.start for s in free) >= now + datetime.timedelta(hours=2)
    assert max(s.start for s in free) <= now + datetime.timedelta(days=30)
    # An absence removes its days; a booking removes its slot.
    day = rome(3, 9).date()
    availability.agenda_exception_add(actor=visit_doctor, first_day=day, last_day=day, reason="Congresso")
    assert not [s for s in slots.free_slots(agenda) if s.start.astimezone(slots.ROME).date() == day]
    start = rome(4, 10)
    services.booking_create(
        actor=visit_patient, doctor=visit_doctor, start=start, accepted_total=total_for(visit_doctor)
    )
    assert start not in {s.start for s in slots.free_slots(agenda)}
    assert start + datetime.timedelta(minutes=30) in {s.start for s in slots.free_slots(agenda)}


def test_rules_are_rome_wall_clock_across_daylight_saving(visit_doctor):
    agenda = availability.agenda_of(visit_doctor)
    agenda.horizon_days = 365
    agenda.save()
    # 28 March 2027 and 31 October 2027 are DST switch days (the first is Easter: opened): 08:00 stays 08:00 in Rome.
    for year_day in (datetime.date(2027, 3, 28), datetime.date(2027, 10, 31)):
        found = list(slots._candidate_slots(agenda, year_day, year_day, list(agenda.rules.all()), [], {year_day}))
        assert found[0].start.astimezone(slots.ROME).time() == datetime.time(8)
        assert found[-1].end.astimezone(slots.ROME).time() == datetime.time(20)


def test_overlapping_rules_and_bad_agenda_values_are_refused(visit_doctor):
    with pytest.raises(ValidationError, match="overlaps"):
        availability.availability_rule_add(
            actor=visit_doctor, weekday=0, start=datetime.time(19), end=datetime.time(21)
        )
    with pytest.raises(ValidationError):
        availability.availability_rule_add(
            actor=visit_doctor, weekday=0, start=datetime.time(21), end=datetime.time(20)
        )
    with pytest.raises(ValidationError):
        availability.agenda_update(
            actor=visit_doctor,
            slot_minutes=20,
            horizon_days=30,
            min_notice_hours=2,
            cancel_notice_hours=1,
            reschedule_notice_hours=1,
        )
    assert availability.agenda_of(visit_doctor).rules.count() == 7


def test_booking_refuses_past_outside_availability_changed_price_and_non_patients(
    visit_doctor, visit_patient, make_doctor
):
    total = total_for(visit_doctor)
    for start, message in [
        (rome(-1, 10), "past"),
        (rome(2, 21), "not free"),
        (rome(2, 10, 10), "not free"),  # not on the slot grid
        (rome(60, 10), "not free"),  # beyond the horizon
    ]:
        with pytest.raises(ValidationError, match=message):
            services.booking_create(actor=visit_patient, doctor=visit_doctor, start=start, accepted_total=total)
    with pytest.raises(ValidationError, match="price changed"):
        services.booking_create(
            actor=visit_patient, doctor=visit_doctor, start=rome(2, 10), accepted_total=total - Decimal("1")
        )
    with pytest.raises(PermissionDenied):
        services.booking_create(actor=make_doctor(), doctor=visit_doctor, start=rome(2, 10), accepted_total=total)
    assert not Booking.objects.exists()


def test_booking_sends_ics_and_schedules_two_reminders(
    visit_doctor, visit_patient, run_tasks, django_capture_on_commit_callbacks
):
    start = rome(3, 11)
    with django_capture_on_commit_callbacks(execute=True):
        booking = services.booking_create(
            actor=visit_patient, doctor=visit_doctor, start=start, accepted_total=total_for(visit_doctor)
        )
    assert booking.breakdown["patient_total"] and booking.end - booking.start == datetime.timedelta(minutes=30)
    reminders = DBTaskResult.objects.filter(task_path__endswith="send_visit_reminder").order_by("run_after")
    assert [r.run_after for r in reminders] == [start - datetime.timedelta(days=1), start - datetime.timedelta(hours=1)]
    run_tasks()  # the reminders are not due yet: only the confirmation runs
    assert sorted(m.to[0] for m in mail.outbox if m.attachments) == sorted([visit_patient.email, visit_doctor.email])
    name, content, mime = next(m for m in mail.outbox if m.attachments).attachments[0]
    content = content.decode() if isinstance(content, bytes) else content
    assert name == "visit.ics" and mime == "text/calendar" and "BEGIN:VEVENT" in content
    assert start.astimezone(datetime.UTC).strftime("%Y%m%dT%H%M%SZ") in content


def test_cancellation_follows_the_doctors_notice(visit_doctor, visit_patient):
    soon = services.booking_create(
        actor=visit_patient,
        doctor=visit_doctor,
        start=slots.free_slots(availability.agenda_of(visit_doctor))[0].start,
        accepted_total=total_for(visit_doctor),
    )
    later = services.booking_create(
        actor=visit_patient, doctor=visit_doctor, start=rome(5, 9), accepted_total=total_for(visit_doctor)
    )
    with pytest.raises(ValidationError, match="up to 24 hours"):
        services.booking_cancel(actor=visit_patient, booking=soon)
    services.booking_cancel(actor=visit_doctor, booking=soon)  # the doctor may always cancel
    services.booking_cancel(actor=visit_patient, booking=later)
    with pytest.raises(ValidationError):
        services.booking_cancel(actor=visit_patient, booking=later)
    assert set(Booking.objects.values_list("status", flat=True)) == {BookingStatus.CANCELLED}
    # A cancelled slot is free again.
    services.booking_create(
        actor=visit_patient, doctor=visit_doctor, start=rome(5, 9), accepted_total=total_for(visit_doctor)
    )


def test_reschedule_moves_to_a_free_slot(visit_doctor, visit_patient, make_patient):
    booking = services.booking_create(
        actor=visit_patient, doctor=visit_doctor, start=rome(5, 9), accepted_total=total_for(visit_doctor)
    )
    services.booking_create(
        actor=make_patient(), doctor=visit_doctor, start=rome(5, 10), accepted_total=total_for(visit_doctor)
    )
    with pytest.raises(ValidationError, match="not free"):
        services.booking_reschedule(actor=visit_patient, booking=booking, start=rome(5, 10))
    services.booking_reschedule(actor=visit_patient, booking=booking, start=rome(6, 10))
    booking.refresh_from_db()
    assert booking.start == rome(6, 10)


@pytest.mark.django_db(transaction=True)
def test_two_patients_racing_for_one_slot_exactly_one_wins(visit_doctor, make_patient):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises every write: the race needs PostgreSQL's concurrent transactions")
    patients = [make_patient() for _ in range(4)]
    start, total = rome(3, 15), total_for(visit_doctor)
    barrier = threading.Barrier(len(patients))
    outcomes: list = []

    def attempt(patient):
        from django.db import close_old_connections

        try:
            barrier.wait()
            services.booking_create(actor=patient, doctor=visit_doctor, start=start, accepted_total=total)
            outcomes.append("booked")
        except ValidationError as error:
            outcomes.append(" ".join(error.messages))
        finally:
            close_old_connections()

    threads = [threading.Thread(target=attempt, args=(p,)) for p in patients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("booked") == 1
    assert Booking.objects.filter(doctor=visit_doctor, start=start).count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_database_constraint_alone_refuses_a_second_active_booking(visit_doctor, visit_patient, make_patient):
    from django.db import IntegrityError, transaction

    booking = services.booking_create(
        actor=visit_patient, doctor=visit_doctor, start=rome(3, 16), accepted_total=total_for(visit_doctor)
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Booking.objects.create(
            doctor=visit_doctor, patient=make_patient(), start=booking.start, end=booking.end, duration_minutes=30,
            accepted_at=booking.accepted_at,
        )  # fmt: skip
