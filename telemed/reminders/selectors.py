"""Reads of the health agenda, always scoped to who asks: a patient sees their own agenda (their
memos and their doctors'), a doctor sees the reminders they set for patients still linked to them."""

import datetime
from dataclasses import dataclass

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from telemed.care.selectors import care_link_is_active, linked_doctors, linked_patients
from telemed.reminders.models import AgendaSettings, Delivery, DeliveryStatus, Dose, Reminder, ReminderKind
from telemed.reminders.schedule import ROME, Series

# A dose can be marked as taken a little before its time (the 08:00 pill taken at 07:30).
TAKEN_EARLY_BY = datetime.timedelta(hours=2)


def reminders_in_agenda(patient) -> QuerySet[Reminder]:
    """The patient's live series, their own and their doctors'."""
    return (
        Reminder.objects.filter(patient=patient, stopped_at__isnull=True, continued_by__isnull=True)
        .select_related("doctor")
        .order_by("next_fire_at", "pk")
    )


def reminder_get_for_user(user, reminder_id: int) -> Reminder:
    """A reminder of the user's own agenda, or one a doctor set for a patient still linked to them."""
    reminder = Reminder.objects.select_related("patient", "doctor", "continued_by").filter(pk=reminder_id).first()
    if reminder is None:
        raise Http404
    if reminder.patient_id == user.pk:
        return reminder
    if reminder.doctor_id == user.pk and care_link_is_active(doctor=user, patient=reminder.patient):
        return reminder
    raise Http404


def patient_for_doctor(doctor, patient_id: int):
    """A patient the doctor may set reminders for."""
    patient = linked_patients(doctor).filter(pk=patient_id).first()
    if patient is None:
        raise Http404
    return patient


def reminders_set_by(doctor, *, patient=None) -> QuerySet[Reminder]:
    """The live reminders a doctor set, for the patients still linked to them, with what the
    doctor may know of each: how many were delivered, when last, and the doses taken."""
    reminders = Reminder.objects.filter(
        doctor=doctor, patient__in=linked_patients(doctor), stopped_at__isnull=True, continued_by__isnull=True
    )
    if patient is not None:
        reminders = reminders.filter(patient=patient)
    # Subqueries, not joins: a year of a three-times-a-day therapy is a thousand deliveries and
    # a thousand doses, which a join would multiply into a million rows.
    sent = Delivery.objects.filter(reminder=OuterRef("pk"), status=DeliveryStatus.SENT)
    doses = Dose.objects.filter(reminder=OuterRef("pk"))
    return (
        reminders.select_related("patient")
        .annotate(
            delivered=Coalesce(Subquery(sent.values("reminder").annotate(n=Count("pk")).values("n")), 0),
            last_delivered_at=Subquery(sent.order_by("-sent_at").values("sent_at")[:1]),
            taken=Coalesce(Subquery(doses.values("reminder").annotate(n=Count("pk")).values("n")), 0),
        )
        .order_by("patient__last_name", "patient__first_name", "next_fire_at")
    )


def deliveries_of(reminder: Reminder, *, limit: int = 50) -> list[dict]:
    """The latest occurrences that came due, with whether the patient marked them as taken.
    The caller already holds the reminder through reminder_get_for_user."""
    deliveries = list(Delivery.objects.filter(reminder=reminder).order_by("-occurrence")[:limit])
    taken = set(
        Dose.objects.filter(reminder=reminder, occurrence__in=[d.occurrence for d in deliveries]).values_list(
            "occurrence", flat=True
        )
    )
    return [{"delivery": d, "taken": d.occurrence in taken} for d in deliveries]


@dataclass(frozen=True)
class Occurrence:
    reminder: Reminder
    at: datetime.datetime  # UTC
    status: str | None  # the delivery's, once due
    late: bool
    taken: bool
    can_take: bool
    can_edit_from: bool

    @property
    def local(self) -> datetime.datetime:
        return self.at.astimezone(ROME)

    @property
    def epoch(self) -> int:
        """How an occurrence travels in a URL or a form."""
        return int(self.at.timestamp())


def agenda_occurrences(patient, start: datetime.datetime, end: datetime.datetime) -> list[Occurrence]:
    """Every occurrence in the patient's agenda between two instants, in order, with its status.

    A doctor's reminder shows nothing to come once the care link has ended: it will not be sent."""
    reminders = list(
        Reminder.objects.filter(patient=patient, starts_at__lt=end)
        .filter(Q(ends_before__isnull=True) | Q(ends_before__gt=start))
        .select_related("doctor")
    )
    now = timezone.now()
    linked = set(linked_doctors(patient).values_list("pk", flat=True))
    found: list[tuple[Reminder, datetime.datetime]] = []
    for reminder in reminders:
        until = end
        if reminder.doctor_id is not None and reminder.doctor_id not in linked:
            until = min(end, now)
        found.extend((reminder, at) for at in Series.of(reminder).between(start, until))
    ids = [r.pk for r in reminders]
    deliveries = {
        (d.reminder_id, d.occurrence): d
        for d in Delivery.objects.filter(reminder_id__in=ids, occurrence__gte=start, occurrence__lt=end).only(
            "reminder_id", "occurrence", "status", "late"
        )
    }
    taken = set(
        Dose.objects.filter(reminder_id__in=ids, occurrence__gte=start, occurrence__lt=end).values_list(
            "reminder_id", "occurrence"
        )
    )
    occurrences = []
    for reminder, at in sorted(found, key=lambda pair: (pair[1], pair[0].title)):
        delivery = deliveries.get((reminder.pk, at))
        occurrences.append(
            Occurrence(
                reminder=reminder,
                at=at,
                status=delivery.status if delivery else None,
                late=bool(delivery and delivery.late),
                taken=(reminder.pk, at) in taken,
                can_take=reminder.kind == ReminderKind.THERAPY and at <= now + TAKEN_EARLY_BY,
                can_edit_from=reminder.doctor_id is None and reminder.is_active and at > now,
            )
        )
    return occurrences


def agenda_settings_of(user) -> AgendaSettings:
    return AgendaSettings.objects.filter(user=user).first() or AgendaSettings(user=user)


def patient_by_feed_token(token: str):
    """The patient whose calendar feed this secret address opens; 404 for a wrong or revoked one."""
    if not token or len(token) > 64:
        raise Http404
    settings = AgendaSettings.objects.select_related("user").filter(feed_token=token, user__is_active=True).first()
    if settings is None:
        raise Http404
    return settings.user, settings


def reminders_for_feed(patient) -> QuerySet[Reminder]:
    """Every series of the patient's agenda that the calendar should show: stopped ones keep their past."""
    return Reminder.objects.filter(patient=patient).select_related("doctor").order_by("pk")
